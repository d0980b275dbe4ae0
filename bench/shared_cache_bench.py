"""The shared cache tier (issue 34): runner B's build against a local warm and a cold build.

A real SeaweedFS (tests/s3server.py) on 127.0.0.1; the package index is the machine's. Per
requirement set (S1, S2 of build_bench.py), in one run:

- cold:      empty local cache, no store (resolve, download, install, compress)
- warm:      the same local cache again
- fill:      runner A: empty local cache, an empty store prefix, uploads after the build
- runner B:  empty local cache, the store A filled (the index is still configured)

Each row is the median of --rounds ``ignite-pack build`` processes (wall time, so the client's
import and the upload are in it); ratios of medians in one run. The artifacts are compared:
runner B must give A's bytes. Nothing here asserts a timing.

    .venv/bin/python bench/shared_cache_bench.py [--sets S1,S2] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.build_bench import SETS  # noqa: E402
from tests.s3server import BUCKET, SECRET_KEY, SeaweedS3  # noqa: E402

HANDLER = "def handler(payload, ctx):\n    return 'ok'\n"


def _build(src: Path, out: Path, cache: Path, env: dict[str, str], *extra: str) -> tuple[float, dict[str, object]]:
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "packager", "build", str(src), "-o", str(out), "--cache-dir", str(cache),
                        "--json", *extra], env=env, capture_output=True, text=True, timeout=1800, check=False)
    dt = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit(f"build failed: {r.stdout}\n{r.stderr}")
    assert SECRET_KEY not in r.stdout + r.stderr
    return dt, json.loads(r.stdout)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", default="S1,S2")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="ignite-s3bench-") as tmp, SeaweedS3(Path(tmp) / "seaweed") as s3:
        work = Path(tmp)
        env = {**os.environ, "PYTHONPATH": str(ROOT), **s3.env()}
        for name in args.sets.split(","):
            src = work / name / "src"
            src.mkdir(parents=True)
            (src / "handler.py").write_text(HANDLER)
            (src / "requirements.txt").write_text("\n".join(SETS[name]["reqs"]) + "\n")  # type: ignore[call-overload]
            rows: dict[str, list[float]] = {"cold": [], "warm": [], "fill": [], "runner B": []}
            digests: set[str] = set()
            uploaded = 0
            for i in range(args.rounds):
                cache = work / name / f"cold-{i}"
                dt, doc = _build(src, work / name / "x.tar.gz", cache, env)
                rows["cold"].append(dt)
                digests.add(str(doc["sha256"]))
                dt, doc = _build(src, work / name / "x.tar.gz", cache, env)
                rows["warm"].append(dt)
                url = f"s3://{BUCKET}/bench-{name}-{i}"
                dt, doc = _build(src, work / name / "a.tar.gz", work / name / f"a-{i}", env, "--cache-url", url)
                rows["fill"].append(dt)
                uploaded = int(doc["shared_cache"]["uploaded_bytes"])  # type: ignore[index]
                dt, doc = _build(src, work / name / "b.tar.gz", work / name / f"b-{i}", env, "--cache-url", url)
                rows["runner B"].append(dt)
                assert doc["shared_cache"]["hits"] and not doc["shared_cache"]["warning"]  # type: ignore[index]
                assert (work / name / "a.tar.gz").read_bytes() == (work / name / "b.tar.gz").read_bytes()
                digests.add(str(doc["sha256"]))
            med = {k: statistics.median(v) for k, v in rows.items()}
            print(f"{name} ({SETS[name]['desc']}), median of {args.rounds}; store holds {uploaded / 1e6:.1f} MB")
            for k, v in med.items():
                print(f"  {k:<9} {v * 1000:8.0f} ms   ({', '.join(f'{x * 1000:.0f}' for x in rows[k])})")
            print(f"  runner B / warm: {med['runner B'] / med['warm']:.2f}x   "
                  f"runner B / cold: {med['runner B'] / med['cold']:.2f}x   fill / cold: {med['fill'] / med['cold']:.2f}x"
                  f"   same artifact: {len(digests) == 1}")


if __name__ == "__main__":
    main()
