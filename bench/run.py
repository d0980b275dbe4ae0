#!/usr/bin/env python3
"""ignite-packager benchmarks, side by side with the tools users would pick instead.

    .venv/bin/python bench/run.py --quick     # make bench-quick (< 5 min once peers are installed)
    .venv/bin/python bench/run.py --full      # make bench
    .venv/bin/python bench/run.py --report-only   # re-render RESULTS.md from results/latest.json

Options: --only build,serve (or --only cold: the cold-start part of serve, no wrk)
         --sets none,S1,S2,S3,L,N5,N20,N100 (default: all)   --no-install
Writes bench/results/latest.json and bench/RESULTS.md. No assertions: this measures.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import build_bench  # noqa: E402
import peers  # noqa: E402
import report  # noqa: E402
import serve_bench  # noqa: E402
from common import BENCH, RESULTS, WORK, git_rev, log, machine_info, scrub, write_json  # noqa: E402

MODES = {
    "quick": {"build_cold": 1, "build_warm": 2, "uv_warm": 1, "pip_cold": 1, "pip_warm": 1, "floor_rounds": 5,
              "lock_sets": ["S1", "S2"], "pip_resolver_sets": ["S1", "S3"],
              "cold_runs": 10, "cold_runs_nopyc": 5,
              "wrk_seconds": 2, "wrk_rounds": 1, "wrk_warmup": 1, "wrk_conns": [1, 32],
              "wrk_high_conns": [256, 1024], "wrk_high_subjects": ["launcher", "granian"],
              "pip_sets": ["none", "S1", "S2", "S3"], "paired_sets": ["S1"], "paired_rounds": 3},
    "full": {"build_cold": 3, "build_warm": 3, "pip_cold": 2, "pip_warm": 2, "floor_rounds": 21,
             # L too: issue 36 asks for the same pins with uv and pip on the large closure
             "lock_sets": ["S1", "S2", "S3"], "pip_resolver_sets": ["S1", "S3", "L"],
             "cold_runs": 20, "cold_runs_nopyc": 10,
             # 3 rounds: the median drops one disturbed round (a 10 s run on a shared VM can lose
             # a third of its req/s); 3 × 8 s keeps the run as long as 2 × 10 s did
             "wrk_seconds": 8, "wrk_rounds": 3, "wrk_warmup": 2, "wrk_conns": [1, 32],
             # issue 36: what a platform sending that many requests at once gets (launcher vs granian)
             "wrk_high_conns": [256, 1024], "wrk_high_subjects": ["launcher", "granian"],
             # pip (+ tar) only where it finishes in minutes; uv + tar runs for every set
             "pip_sets": ["none", "S1", "S2", "S3"],
             # issue 36's cold targets near 1.0x: ignite and uv + tar alternating, round by round
             "paired_sets": ["S1", "S3"], "paired_rounds": 9},
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true")
    g.add_argument("--full", action="store_true")
    g.add_argument("--report-only", action="store_true")
    ap.add_argument("--only", default="build,serve")
    ap.add_argument("--sets", default=",".join(build_bench.SETS))
    ap.add_argument("--no-install", action="store_true", help="do not create/update peer venvs or install wrk")
    ap.add_argument("--out", default=str(RESULTS / "latest.json"))
    a = ap.parse_args(argv)

    if a.report_only:
        data = scrub(json.loads(Path(a.out).read_text()))
        data["headline"] = report.headline(data)
        write_json(Path(a.out), data)
        md = BENCH / "RESULTS.md" if Path(a.out).resolve() == (RESULTS / "latest.json").resolve() else Path(a.out).with_suffix(".md")
        md.write_text(report.render(data))
        log(f"{md} re-rendered")
        return 0

    mode = "full" if a.full else "quick"
    cfg = dict(MODES[mode])
    only = set(a.only.split(","))
    sets = [s for s in a.sets.split(",") if s]
    WORK.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    from common import find_python312

    py312 = find_python312()
    log(f"mode={mode} target python={py312}")
    data = {
        "schema": 1,
        "mode": mode,
        "config": cfg,
        "date_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "git_rev": git_rev(),
        "machine": machine_info(),
        "target_python": py312,
    }
    if not a.no_install:
        t = time.time()
        data["setup"] = peers.ensure_all(py312)
        data["setup"]["seconds"] = round(time.time() - t, 1)
    data["product"] = build_bench.snapshot_product()
    log(f"product under test: {data['product']}")
    data["versions"] = peers.versions(py312)
    ist = build_bench.ignite_status()
    data["versions"]["ignite-pack"] = ist.get("version") if ist["available"] else f"not available: {ist['reason']}"

    if "build" in only:
        t = time.time()
        data["build"] = build_bench.run(cfg, py312, sets)
        data["build"]["seconds"] = round(time.time() - t, 1)
    if "serve" in only or "cold" in only:
        t = time.time()
        fresh = {k for k, v in (data.get("build") or {}).get("sets", {}).items() if v.get("artifact_for_serve")}
        data["serve"] = serve_bench.run(cfg, py312, fresh, with_throughput="serve" in only)
        data["serve"]["seconds"] = round(time.time() - t, 1)
    data = scrub(data)
    data["headline"] = report.headline(data)
    data["total_seconds"] = round(time.time() - t0, 1)
    write_json(Path(a.out), data)
    md = BENCH / "RESULTS.md" if Path(a.out).resolve() == (RESULTS / "latest.json").resolve() else Path(a.out).with_suffix(".md")
    md.write_text(report.render(data))
    log(f"done in {data['total_seconds']}s -> {a.out}, {md}")
    for k, v in data["headline"].items():
        log(f"  {k}: {v.get('text')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
