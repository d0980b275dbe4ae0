"""Fetch from a private index (issue 15): the in-process downloader with basic auth vs a public index.

A real pypiserver serves the same wheels twice on 127.0.0.1: once open, once
behind htpasswd basic auth. The fetch stage downloads every pin into an empty
cache; rows:

- public:        open index, the in-process parallel downloader
- auth-userinfo: credentials in --index-url, the same downloader sending basic auth itself
- auth-netrc:    credentials from a netrc file ($NETRC)
- auth-pip:      the path builds took before issue 15 on an authenticated index (every
                 file handed to ``pip download``), for comparison

Ratios of medians in one run; nothing here asserts a timing. The secret is
checked to appear nowhere in what this prints or writes.

    .venv/bin/python bench/private_index_bench.py [--wheels 40] [--kib 256] [--rounds 3]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from packaging.utils import canonicalize_name  # noqa: E402

from packager.cache import Cache  # noqa: E402
from packager.deps.fetch import fetch  # noqa: E402
from packager.deps.piprun import IndexConfig  # noqa: E402
from packager.deps.profile import load_profile  # noqa: E402
from packager.deps.resolve import Pin  # noqa: E402
from tests.private_index import USER, PrivateIndex  # noqa: E402
from tests.wheelhouse import make_wheel  # noqa: E402

SECRET = "bench-" + hashlib.sha256(os.urandom(16)).hexdigest()[:20]


def _wheels(directory: Path, count: int, kib: int) -> list[Path]:
    out = []
    for i in range(count):
        noise = os.urandom(kib * 1024)  # wheels hold compressed data: random bytes are a fair stand-in
        out.append(make_wheel(directory, f"pkg{i:03d}", "1.0", files={f"pkg{i:03d}/data.bin": noise,
                                                                       f"pkg{i:03d}/__init__.py": ""}))
    return out


def _pins(wheels: list[Path], base: str, with_url: bool) -> list[Pin]:
    return [Pin(canonicalize_name(w.name.split("-")[0]), "1.0",
                ("sha256:" + hashlib.sha256(w.read_bytes()).hexdigest(),), True,
                f"{base}/packages/{w.name}" if with_url else "") for w in wheels]


def _time_fetch(pins: list[Pin], index: IndexConfig, env: dict[str, str]) -> float:
    profile = load_profile()
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        with tempfile.TemporaryDirectory(prefix="ignite-bench-fetch-") as tmp:
            cache = Cache(Path(tmp) / "cache").ensure()

            def no_sdist(spec: str, hashes: Any = ()) -> Path:
                raise RuntimeError(f"unexpected sdist build for {spec}")

            t0 = time.perf_counter()
            got = fetch(pins, profile, index=index, cache=cache, build_sdist=no_sdist)  # type: ignore[arg-type]
            elapsed = time.perf_counter() - t0
            assert len(got) == len(pins)
            leaked = [p for p in Path(tmp).rglob("*") if SECRET in p.name
                      or (p.is_file() and SECRET.encode() in p.read_bytes())]
            assert not leaked, "the secret reached the cache"
            return elapsed
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--wheels", type=int, default=40)
    ap.add_argument("--kib", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "private-index.json")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="ignite-bench-index-") as tmp:
        work = Path(tmp)
        wheels = _wheels(work / "packages", a.wheels, a.kib)
        netrc = work / "netrc"
        netrc.write_text(f"machine 127.0.0.1 login {USER} password {SECRET}\n")
        netrc.chmod(0o600)
        base_env = {"PIP_CONFIG_FILE": os.devnull, "PIP_CACHE_DIR": str(work / "pip-cache"), "NETRC": str(work / "none")}
        (work / "auth").mkdir()
        (work / "open").mkdir()
        private = PrivateIndex(work / "packages", work / "auth", SECRET)
        public = PrivateIndex(work / "packages", work / "open", SECRET, open_access=True)
        rows: dict[str, list[float]] = {"public": [], "auth-userinfo": [], "auth-netrc": [], "auth-pip": []}
        with private, public:
            pub_base = f"http://127.0.0.1:{public.port}"
            priv_base = f"http://127.0.0.1:{private.port}"
            cases = {
                "public": (_pins(wheels, pub_base, True), IndexConfig(index_url=public.url()), {}),
                "auth-userinfo": (_pins(wheels, priv_base, True), IndexConfig(index_url=private.url(SECRET)), {}),
                "auth-netrc": (_pins(wheels, priv_base, True), IndexConfig(index_url=private.url()),
                               {"NETRC": str(netrc)}),
                "auth-pip": (_pins(wheels, priv_base, False), IndexConfig(index_url=private.url(SECRET)), {}),
            }
            for r in range(a.rounds):
                for name, (pins, index, env) in cases.items():
                    rows[name].append(_time_fetch(pins, index, {**base_env, **env}))
                print(f"round {r + 1}/{a.rounds}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in rows.items()),
                      file=sys.stderr)
    med = {k: statistics.median(v) for k, v in rows.items()}
    mib = a.wheels * a.kib / 1024
    result = {
        "wheels": a.wheels, "kib_each": a.kib, "rounds": a.rounds, "median_s": med,
        "ratios": {"auth-userinfo/public": med["auth-userinfo"] / med["public"],
                   "auth-netrc/public": med["auth-netrc"] / med["public"],
                   "auth-pip/auth-userinfo": med["auth-pip"] / med["auth-userinfo"]},
    }
    text = json.dumps(result, indent=2, sort_keys=True)
    assert SECRET not in text
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(text + "\n")
    lines = [f"Fetch of {a.wheels} wheels x {a.kib} KiB ({mib:.1f} MiB) from pypiserver on 127.0.0.1, "
             f"empty cache, median of {a.rounds}:", "", "| path | median s | vs public |", "|---|---|---|"]
    lines += [f"| {k} | {v:.2f} | {v / med['public']:.2f}x |" for k, v in med.items()]
    md = "\n".join(lines) + "\n"
    a.out.with_suffix(".md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
