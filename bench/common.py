"""Shared helpers for the bench: paths, subprocess timing, statistics, environment.

Stdlib only: this module is imported by ``bench/run.py`` under the project's
``.venv`` python (3.9+), never by the servers being measured.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WORK = BENCH / ".work"          # gitignored: venvs, caches, build outputs
VENVS = WORK / "venvs"
RESULTS = BENCH / "results"
APPS = BENCH / "apps"

PY_TARGET = "3.12"


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def find_python312() -> str:
    """CPython 3.12 through the packager's own discovery (the PATH shim may be broken)."""
    sys.path.insert(0, str(ROOT))
    try:
        from packager.runtime import find_python  # type: ignore

        return str(find_python(PY_TARGET))
    except Exception as exc:  # packager missing or refactored: same logic, inline
        log(f"packager.runtime.find_python unavailable ({exc!r}); probing by hand")
        import glob

        cands = [os.environ.get("IGNITE_PYTHON", "")]
        cands += sorted(glob.glob(str(Path.home() / ".pyenv/versions/3.12*/bin/python3.12")), reverse=True)
        cands += ["/usr/local/bin/python3.12", "/usr/bin/python3.12", shutil.which("python3.12") or ""]
        for c in cands:
            if not c:
                continue
            try:
                out = subprocess.run([c, "-c", "import sys;print(sys.version_info[:2]==(3,12))"],
                                     capture_output=True, text=True, timeout=20)
            except OSError:
                continue
            if out.returncode == 0 and out.stdout.strip() == "True":
                return c
        raise SystemExit("no working CPython 3.12 found")
    finally:
        try:
            sys.path.remove(str(ROOT))
        except ValueError:
            pass


def clean_env(**extra: str) -> Dict[str, str]:
    """Environment for every measured tool: the machine's pip config and local
    find-links/extra indexes are switched off, so pip, uv and ignite-pack all
    resolve against the same public index only. Extra keys override."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PIP_", "UV_", "VIRTUAL_ENV", "PYTHONPATH", "IGNITE_", "PYTHONDONTWRITEBYTECODE"))}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_INPUT"] = "1"
    env["PIP_DEFAULT_TIMEOUT"] = "180"
    env["UV_NO_CONFIG"] = "1"
    env["UV_NO_PROGRESS"] = "1"
    if os.environ.get("PIP_CERT"):
        env["PIP_CERT"] = os.environ["PIP_CERT"]
        env.setdefault("SSL_CERT_FILE", os.environ["PIP_CERT"])
    env.update(extra)
    return env


class RunResult:
    def __init__(self, argv: Sequence[str], rc: int, seconds: float, stdout: str, stderr: str):
        self.argv = list(argv)
        self.rc = rc
        self.seconds = seconds
        self.stdout = stdout
        self.stderr = stderr

    @property
    def ok(self) -> bool:
        return self.rc == 0

    def tail(self, n: int = 6) -> str:
        lines = (self.stderr.strip() or self.stdout.strip()).splitlines()
        return " | ".join(lines[-n:])[-600:]


def timed(argv: Sequence[str], *, env: Optional[Dict[str, str]] = None, cwd: Optional[Path] = None,
          timeout: float = 900) -> RunResult:
    t0 = time.perf_counter()
    try:
        p = subprocess.run(list(argv), env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
        rc, out, err = p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as e:
        rc, out, err = -9, str(e.stdout or ""), f"timeout after {timeout}s"
    except OSError as e:
        rc, out, err = -1, "", str(e)
    return RunResult(argv, rc, time.perf_counter() - t0, out, err)


def stats(xs: Iterable[Optional[float]]) -> Optional[Dict[str, Any]]:
    vals = [x for x in xs if x is not None]
    if not vals:
        return None
    return {"n": len(vals), "min": min(vals), "median": statistics.median(vals), "max": max(vals)}


def ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
    if a is None or b is None or b == 0:
        return None
    return a / b


def tree_size(path: Path) -> Dict[str, int]:
    files = 0
    size = 0
    for dirpath, _dirs, names in os.walk(path):
        for n in names:
            p = os.path.join(dirpath, n)
            try:
                st = os.lstat(p)
            except OSError:
                continue
            files += 1
            size += st.st_size
    return {"files": files, "bytes": size}


def sha256_file(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def rmtree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def machine_info() -> Dict[str, Any]:
    info: Dict[str, Any] = {
        "hostname_kind": "shared CI/dev machine (noisy)",
        "platform": platform.platform(),
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "python_harness": sys.version.split()[0],
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["mem_total_gib"] = round(int(line.split()[1]) / 1024 / 1024, 1)
                break
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                info["os"] = line.split("=", 1)[1].strip('"')
        info["loadavg_at_start"] = Path("/proc/loadavg").read_text().split()[:3]
    except OSError:
        pass
    return info


def git_rev() -> Optional[str]:
    r = timed(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    return r.stdout.strip() if r.ok else None


_URL = __import__("re").compile(r"[a-z][a-z0-9+.-]*://[^\s'\"|)]+", __import__("re").I)


def scrub(obj: Any) -> Any:
    """Replace every URL in the results with <url>: tool error messages quote the
    index's download URLs, and no index host name belongs in committed files."""
    if isinstance(obj, str):
        return _URL.sub("<url>", obj)
    if isinstance(obj, dict):
        return {k: scrub(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [scrub(v) for v in obj]
    return obj


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(scrub(data), indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)
