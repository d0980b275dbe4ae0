"""Install the peers the bench compares against, idempotently, under bench/.work/venvs.

venvs (all made with CPython 3.12, the target interpreter):
  tools    pip (latest) + uv          -> the "hand-written CI step" builders
  image    the platform's preinstalled set (numpy, pandas, requests, ...) -> stands in
           for the python:3.12 image the artifact runs on (launcher + stdlib server)
  uvicorn  uvicorn[standard] (httptools + uvloop) + starlette + the heavy handler's deps
  ff       functions-framework + the heavy handler's deps
  granian  granian (Rust HTTP core) serving a WSGI app: the fastest server a user would pick (issue 18)
and `wrk` from Debian's packages when missing.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any, Dict, List, Optional

from common import ROOT, VENVS, clean_env, log, timed

PREINSTALLED_FALLBACK = ["cloudpickle", "numpy", "pandas", "requests", "httpx", "pydantic", "boto3"]
HEAVY_DEPS = ["scikit-learn", "requests"]  # same as build set S2; the heavy handler imports sklearn

SPECS: Dict[str, List[str]] = {
    "tools": ["pip", "uv"],
    "uvicorn": ["uvicorn[standard]", "starlette"] + HEAVY_DEPS,
    "ff": ["functions-framework"] + HEAVY_DEPS,
    "granian": ["granian"],
}


def _walk(obj: Any, path: str = ""):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield f"{path}.{k}" if path else k, v
            yield from _walk(v, f"{path}.{k}" if path else k)


def preinstalled_pins() -> List[str]:
    """The image's preinstalled closure, pinned, read from the packager's profile when
    it exists (so the bench 'image' agrees with what the packager skips)."""
    prof_dir = ROOT / "packager" / "deps" / "profiles"
    # the default target (x86_64) first: sorted() alone put python3.12-arm64.toml before it
    profiles = sorted(prof_dir.glob("*3*12*.toml"), key=lambda p: (p.name != "python3.12.toml", p.name)) \
        if prof_dir.is_dir() else []
    for prof in profiles:
        try:
            try:
                import tomllib  # type: ignore
            except ImportError:
                import tomli as tomllib  # type: ignore
            data = tomllib.loads(prof.read_text())
        except Exception as exc:
            log(f"profile {prof.name} unreadable for pins: {exc!r}")
            continue
        found: List[Any] = [(k, v) for k, v in _walk(data) if "preinstall" in k.lower()]
        # prefer a name -> version table (the pinned closure), then a list of names
        for key, val in found:
            if isinstance(val, dict) and val and all(isinstance(v, str) for v in val.values()):
                pins = [f"{k}=={v}" if v[:1].isdigit() else f"{k}{v}" for k, v in val.items()]
                log(f"image pins from {prof.relative_to(ROOT)} [{key}]: {len(pins)} packages")
                return pins
        for key, val in found:
            if isinstance(val, list) and val and all(isinstance(v, str) for v in val):
                log(f"image packages from {prof.relative_to(ROOT)} [{key}] (unpinned)")
                return list(val)
    return list(PREINSTALLED_FALLBACK)


def py(venv: str) -> Path:
    return VENVS / venv / "bin" / "python"


def _ensure_venv(name: str, reqs: List[str], base_python: str, installer: Optional[Path]) -> Dict[str, Any]:
    d = VENVS / name
    marker = d / ".bench-spec.json"
    spec = {"python": base_python, "reqs": reqs}
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()
    if marker.exists():
        try:
            if json.loads(marker.read_text()).get("digest") == digest and py(name).exists():
                return {"venv": name, "status": "present"}
        except ValueError:
            pass
    log(f"creating venv {name}: {' '.join(reqs)}")
    shutil.rmtree(d, ignore_errors=True)
    r = timed([base_python, "-m", "venv", str(d)], env=clean_env())
    if not r.ok:
        return {"venv": name, "status": "failed", "error": r.tail()}
    if installer is not None and name != "tools":
        argv = [str(installer), "pip", "install", "--python", str(py(name))] + reqs
    else:
        argv = [str(py(name)), "-m", "pip", "install", "-q", "--upgrade"] + reqs
    r = timed(argv, env=clean_env(), timeout=1800)
    if not r.ok:
        return {"venv": name, "status": "failed", "error": r.tail()}
    marker.write_text(json.dumps({"digest": digest, **spec}))
    return {"venv": name, "status": "installed", "seconds": round(r.seconds, 1)}


def ensure_wrk() -> Dict[str, Any]:
    if shutil.which("wrk"):
        return {"wrk": "present"}
    log("wrk missing: apt-get update && apt-get install -y wrk")
    u = timed(["apt-get", "update", "-q"], timeout=600)
    i = timed(["apt-get", "install", "-y", "-q", "wrk"], timeout=600)
    if shutil.which("wrk"):
        return {"wrk": "installed"}
    return {"wrk": "failed", "error": (i.tail() or u.tail())}


def uv_bin() -> Path:
    return VENVS / "tools" / "bin" / "uv"


def ensure_all(base_python: str) -> Dict[str, Any]:
    VENVS.mkdir(parents=True, exist_ok=True)
    out: Dict[str, Any] = {"venvs": []}
    tools = _ensure_venv("tools", SPECS["tools"], base_python, None)
    out["venvs"].append(tools)
    installer = uv_bin() if uv_bin().exists() else None
    out["venvs"].append(_ensure_venv("image", preinstalled_pins(), base_python, installer))
    # granian serves only the hello handler (throughput): its venv needs nothing else.
    out["venvs"].append(_ensure_venv("granian", SPECS["granian"], base_python, installer))
    for name in ("uvicorn", "ff"):
        # The peers would run on the same python:3.12 image: give them its preinstalled
        # set too (sklearn imports pandas when present, ~0.2 s of its import time).
        out["venvs"].append(_ensure_venv(name, SPECS[name] + preinstalled_pins(), base_python, installer))
    out.update(ensure_wrk())
    return out


def venv_ok(name: str) -> bool:
    return py(name).exists() and (VENVS / name / ".bench-spec.json").exists()


def dist_versions(venv: str, names: List[str]) -> Dict[str, Optional[str]]:
    code = (
        "import json,sys\nfrom importlib.metadata import version\nout={}\n"
        "for n in sys.argv[1:]:\n"
        "    try: out[n]=version(n)\n"
        "    except Exception: out[n]=None\n"
        "print(json.dumps(out))"
    )
    try:
        p = subprocess.run([str(py(venv)), "-c", code, *names], capture_output=True, text=True, timeout=60)
        return json.loads(p.stdout)
    except Exception:
        return {n: None for n in names}


def versions(base_python: str) -> Dict[str, Any]:
    v: Dict[str, Any] = {}
    r = timed([base_python, "-c", "import sys;print(sys.version.split()[0])"])
    v["cpython_target"] = r.stdout.strip() if r.ok else None
    if venv_ok("tools"):
        v.update({f"tools:{k}": x for k, x in dist_versions("tools", ["pip", "uv"]).items()})
    if venv_ok("uvicorn"):
        v.update({f"uvicorn-venv:{k}": x for k, x in dist_versions(
            "uvicorn", ["uvicorn", "starlette", "httptools", "uvloop", "scikit-learn", "scipy", "numpy"]).items()})
    if venv_ok("ff"):
        v.update({f"ff-venv:{k}": x for k, x in dist_versions(
            "ff", ["functions-framework", "flask", "werkzeug", "gunicorn", "scikit-learn"]).items()})
    if venv_ok("granian"):
        v.update({f"granian-venv:{k}": x for k, x in dist_versions("granian", ["granian"]).items()})
    if venv_ok("image"):
        v.update({f"image:{k}": x for k, x in dist_versions(
            "image", ["numpy", "pandas", "requests", "httpx", "pydantic", "boto3", "cloudpickle"]).items()})
    w = timed(["wrk", "-v"])
    v["wrk"] = (w.stdout + w.stderr).splitlines()[0] if (w.stdout + w.stderr) else None
    t = timed(["tar", "--version"])
    v["tar"] = t.stdout.splitlines()[0] if t.ok else None
    g = timed(["gzip", "--version"])
    v["gzip"] = g.stdout.splitlines()[0] if g.ok else None
    return v
