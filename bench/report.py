"""Headline ratios and the RESULTS.md rendering of a results dict (see run.py)."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

NA = "—"
#: A time ratio within 3 % of 1 is reported as parity, not as a loss: on this host
#: run-to-run noise of a median is larger than that.
PARITY = 1.03


def _g(d: Any, *path: Any) -> Any:
    for p in path:
        if not isinstance(d, dict):
            return None
        d = d.get(p)
    return d


def _med(e: Any, phase: str) -> Optional[float]:
    return _g(e, phase, "median")


def _ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
    return a / b if a is not None and b else None


def _x(r: Optional[float]) -> str:
    return NA if r is None else f"{r:.2f}×"


def _s(v: Optional[float]) -> str:
    if v is None:
        return NA
    return f"{v * 1000:.0f} ms" if v < 1 else f"{v:.2f} s"


def _ms(v: Optional[float]) -> str:
    return NA if v is None else f"{v * 1000:.1f}"


def _mb(b: Optional[float]) -> str:
    if b is None:
        return NA
    return f"{b / 1e6:.2f} MB" if b < 1e9 else f"{b / 1e9:.2f} GB"


def _mmm(st: Any, f=_s) -> str:
    if not st:
        return NA
    return f"{f(st['median'])} ({f(st['min'])}–{f(st['max'])}, n={st['n']})"


def _cell(v: Any, n: int) -> str:
    return " ".join(str(v).split()).replace("|", "/")[:n]


def _why(e: Any) -> str:
    if not isinstance(e, dict):
        return "not measured"
    return str(e.get("reason") or "not measured")


# ------------------------------------------------------------------ headline
def headline(data: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    h: Dict[str, Dict[str, Any]] = {}
    b = _g(data, "build", "sets") or {}
    for s in ("S2", "S1", "S3"):
        t = _g(b, s, "tools") or {}
        ig = t.get("ignite")
        if s == "S3" and not t:
            continue
        for peer, phase in (("uv", "warm"), ("pip", "warm"), ("uv+tar", "warm"), ("pip+tar", "warm"),
                            ("uv+tar", "cold")):
            if s == "S3" and peer in ("uv", "pip"):
                continue
            key = f"build {s} {phase}: ignite / {peer}"
            if not (ig and ig.get("available")):
                h[key] = {"value": None, "text": f"not available: {_why(ig)}"}
                continue
            pe = t.get(peer)
            r = _ratio(_med(ig, phase), _med(pe, phase))
            h[key] = {"value": r, "text": f"{_x(r)}  (ignite {_s(_med(ig, phase))} vs {peer} {_s(_med(pe, phase))})"
                      if r is not None else f"not available: {_why(pe)}"}
    for s in ("S1", "S3"):  # issue 36: cold, ignite and uv + tar alternating round by round
        pc = _g(b, s, "paired_cold") or {}
        a, p = _g(pc, "ignite", "median"), _g(pc, "uv+tar", "median")
        r = _ratio(a, p)
        if r is not None:
            h[f"build {s} cold, alternating rounds: ignite / uv+tar"] = {
                "value": r, "text": f"{_x(r)}  (ignite {_s(a)} vs uv+tar {_s(p)}, medians of {pc.get('rounds')} "
                                    "rounds, one of each per round)"}
    for s in ("L",):  # issue 36: the large closure, cold vs uv + tar and warm vs bare uv
        t = _g(b, s, "tools") or {}
        ig = t.get("ignite")
        if not t or not (ig and ig.get("available")):
            continue
        for peer, phase in (("uv+tar", "cold"), ("uv", "warm"), ("uv+tar", "warm")):
            pe = t.get(peer)
            r = _ratio(_med(ig, phase), _med(pe, phase))
            if r is not None:
                h[f"build {s} {phase}: ignite / {peer}"] = {
                    "value": r, "text": f"{_x(r)}  (ignite {_s(_med(ig, phase))} vs {peer} {_s(_med(pe, phase))}; "
                                        f"{ig.get('vendored_count', '?')} vendored)"}
    none = _g(b, "none") or {}
    ig = _g(none, "tools", "ignite")
    start = _g(none, "interpreter_start", "cold", "median")
    if ig and ig.get("available") and start:
        over = (_med(ig, "cold") - start) * 1000 if _med(ig, "cold") is not None else None
        if over is not None:
            h["build none cold: ignite over the interpreter's start"] = {
                "value": over, "text": f"+{over:.1f} ms ({_s(_med(ig, 'cold'))} vs `python -c pass` {_s(start)}, "
                                       "same interpreter and environment, alternating)"}
        if _med(ig, "warm") is not None:
            over = (_med(ig, "warm") - start) * 1000
            h["build none warm: ignite over the interpreter's start"] = {
                "value": over, "text": f"+{over:.1f} ms ({_s(_med(ig, 'warm'))} vs {_s(start)})"}
    same = []
    for s, e in b.items():  # issue 36: the same pins with uv (the default) and with --resolver pip
        t = e.get("tools") or {}
        a, p = _g(t, "ignite", "pins"), _g(t, "ignite-pip", "pins")
        if a is not None and p is not None:
            same.append((s, a == p))
    if same:
        h["pins: uv (default) == pip (--resolver pip)"] = {
            "value": float(all(ok for _s, ok in same)),
            "text": ", ".join(f"{s} {'identical' if ok else '**DIFFER**'}" for s, ok in same)}
    for s in ("S1", "S3"):  # issue 18: the pip resolver path (no uv), beside the default
        t = _g(b, s, "tools") or {}
        ip = t.get("ignite-pip")
        if ip and ip.get("available"):
            pe = t.get("uv+tar")
            r = _ratio(_med(ip, "cold"), _med(pe, "cold"))
            if r is not None:
                h[f"build {s} cold: ignite --resolver pip / uv+tar"] = {
                    "value": r, "text": f"{_x(r)}  (ignite --resolver pip {_s(_med(ip, 'cold'))} vs uv+tar "
                                        f"{_s(_med(pe, 'cold'))})"}
    cs = _g(data, "serve", "cold_start") or {}
    rows = cs.get("rows") or {}
    floor = _g(rows, "floor_image", "stats", "median") or _g(rows, "floor_python", "stats", "median")
    for hname in ("hello", "heavy"):
        L = _g(rows, f"launcher_{hname}", "stats", "median")
        if L is None:
            h[f"cold start {hname}: launcher"] = {"value": None, "text": "not available: " + str(
                _g(cs, "unavailable", f"launcher_{hname}") or "not measured")}
            continue
        fails = sum(int(r.get("failed_cold_starts") or 0) for k, r in rows.items() if k.startswith("launcher_"))
        runs = sum(int(r.get("runs") or 0) for k, r in rows.items() if k.startswith("launcher_") and "poll" not in k)
        if hname == "hello":
            h["cold start: launcher failed cold starts (5xx or no answer to the one POST)"] = {
                "value": float(fails), "text": f"{fails} of {runs} single-shot cold starts"}
        if hname == "hello" and floor:
            h["cold start hello: launcher over python floor"] = {
                "value": (L - floor) * 1000, "text": f"+{(L - floor) * 1000:.1f} ms ({_s(L)} vs floor {_s(floor)}; {L / floor:.2f}×)"}
        B = _g(rows, "baseline_launcher_hello", "stats", "median")
        if hname == "hello":
            r = _ratio(L, B)
            h["cold start hello: launcher / the launcher before issues 29+31"] = {
                "value": r, "text": f"{_x(r)}  ({_s(L)} vs {_s(B)}, {(L - B) * 1000:+.1f} ms; "
                f"{_g(rows, 'baseline_launcher_hello', 'label')})" if r is not None and B is not None else
                "not available: " + str(_g(cs, "unavailable", "baseline_launcher_hello") or "not measured")}
        for peer in ("uvicorn", "ff"):
            P = _g(rows, f"{peer}_{hname}", "stats", "median")
            r = _ratio(L, P)
            h[f"cold start {hname}: launcher / {peer}"] = {"value": r, "text": f"{_x(r)}  ({_s(L)} vs {_s(P)})"
                                                           if r is not None else "peer not measured"}
    nopyc = _g(rows, "launcher_heavy_nopyc", "stats", "median")
    comp = _g(rows, "launcher_heavy_compiled", "stats", "median")
    if nopyc is not None or comp is not None:
        r = _ratio(comp, nopyc)
        h["cold start heavy, read-only container: --compile / no pyc"] = {
            "value": r, "text": f"{_x(r)}  ({_s(comp)} vs {_s(nopyc)})" if r is not None else
            "not available: " + str(_g(cs, "unavailable", "launcher_heavy_compiled") or "not measured")}
    tp = _g(data, "serve", "throughput") or {}
    trows = tp.get("rows") or {}
    for c in (_g(tp, "config", "connections") or [1, 32]):
        L = _g(trows, "launcher", f"c{c}", "rps", "median")
        for peer in ("uvicorn", "uvicorn_inline", "granian"):
            P = _g(trows, peer, f"c{c}", "rps", "median")
            key = f"req/s c{c}: launcher / {peer}"
            if L is None:
                h[key] = {"value": None, "text": "not available: " + str(
                    _g(tp, "unavailable", "launcher") or "not measured")}
            else:
                r = _ratio(L, P)
                h[key] = {"value": r, "text": f"{_x(r)}  ({L:,.0f} vs {P:,.0f} req/s)" if r is not None else "peer not measured"}
        Lc = _g(trows, "launcher", f"c{c}", "cpu_us_per_req", "median")
        Gc = _g(trows, "granian", f"c{c}", "cpu_us_per_req", "median")
        r = _ratio(Lc, Gc)
        if r is not None:
            h[f"server CPU per request c{c}: launcher / granian"] = {
                "value": r, "text": f"{_x(r)}  ({Lc:.1f} vs {Gc:.1f} µs/req)"}
        LL = _g(trows, "launcher_log", f"c{c}", "rps", "median")
        G = _g(trows, "granian", f"c{c}", "rps", "median")
        r = _ratio(LL, G)
        if r is not None:
            h[f"req/s c{c}: launcher with the default request log / granian"] = {
                "value": r, "text": f"{_x(r)}  ({LL:,.0f} vs {G:,.0f} req/s)"}
    for c in (_g(tp, "config", "high_connections") or []):  # issue 36: 256 and 1,024 at once
        L = _g(trows, "launcher", f"c{c}") or {}
        G = _g(trows, "granian", f"c{c}") or {}
        for what, label in (("good_rps", "2xx req/s"), ("rps", "req/s (all answers)")):
            a, g = _g(L, what, "median"), _g(G, what, "median")
            r = _ratio(a, g)
            h[f"{label} c{c}: launcher / granian"] = {
                "value": r, "text": f"{_x(r)}  ({a:,.0f} vs {g:,.0f}; non-2xx {L.get('errors_non2xx', 0)} vs "
                                    f"{G.get('errors_non2xx', 0)})" if r is not None else "not measured"}
        a, g = _g(L, "p99_ms", "median"), _g(G, "p99_ms", "median")
        r = _ratio(a, g)
        h[f"p99 latency c{c}: launcher / granian"] = {
            "value": r, "text": f"{_x(r)}  ({a:.1f} vs {g:.1f} ms)" if r is not None else "not measured"}
    return h


# ------------------------------------------------------------------ render
def render(data: Dict[str, Any]) -> str:
    o: List[str] = []
    w = o.append
    w("# ignite-packager benchmarks\n")
    w(f"Run: **{data.get('date_utc')}**, mode `{data.get('mode')}`, commit `{data.get('git_rev')}`, "
      f"total {data.get('total_seconds')} s. Generated by `bench/run.py`; raw numbers in "
      "[`results/latest.json`](results/latest.json). Every ratio below was computed from runs made "
      "side by side in this one run.\n")
    pr = data.get("product") or {}
    if pr.get("snapshot"):
        w(f"Product under test: `packager/` + `launcher/` of commit `{str(pr.get('git_rev'))[:10]}`, exported once "
          "at the start of the run (others commit to the same tree while the bench runs).\n")
    elif pr:
        w(f"Product under test: the working tree's `ignite-pack` (snapshot failed: {pr.get('reason')}).\n")
    w("## Headline\n")
    w("Ratios are ignite ÷ peer of medians: **below 1× is better for ignite for times, above 1× is better for req/s.**\n")
    for k, v in (data.get("headline") or {}).items():
        w(f"- **{k}**: {v.get('text')}")
    w("")
    _targets(w, data)
    w(ISSUE36)
    losses = where_we_lose(data)
    w("## Where ignite loses\n")
    if losses:
        for l in losses:
            w(f"- {l}")
    else:
        w("- Nowhere among the measured rows (or ignite rows were not available; see below).")
    w(f"\n(Time ratios within {PARITY:.2f}× count as parity, not as a loss.)")
    w("")
    _how_to_read(w)
    _build(w, data)
    _scale(w, data)
    _size(w, data)
    _repro(w, data)
    _cold(w, data)
    _tput(w, data)
    _tput_high(w, data)
    _env(w, data)
    return "\n".join(o) + "\n"


#: Likely causes, from profiling the packager at the time these rows were written
#: (see the stage timings of `ignite-pack build` without --json). Re-check when they move.
CAUSES = {
    "build_cold": "the fixed part of a build: Python start-up (~0.03 s) before `uv pip compile` starts "
                  "(the build's first act, packager.prestart, for a requirements.txt of plain lines; otherwise "
                  "after ~0.08 s of the pipeline's modules and the requirements parser), then uv's look at the "
                  "interpreter and its resolution (~0.23-0.25 s; uv + tar makes the same look), slowed by the "
                  "build's own imports and threads on this 2-core machine; after it, downloads (~0.02-0.04 s), "
                  "installing and compressing the wheels that landed last (~0.05-0.07 s for S1: pyyaml's 3 MB, "
                  "~0.02 s of it inflating the wheel) and the archive (~0.01 s). uv + tar resolves, downloads "
                  "and installs in one native process",
    "build_pip": "the pip resolver path: a `pip install --dry-run --report` subprocess (~0.55 s for S1 on an idle "
                 "machine, of which pip's imports and TLS set-up are ~0.3 s) where uv resolves in ~0.2 s; for an "
                 "sdist the build environment is made by pip (`python -m build`, ~1.4 s) instead of uv",
    "build_sdist": "sdist-only package: uv's first resolution finds no usable wheel of docopt (~0.2 s, "
                   "started during the handler checks); the sdist is found by uv's finder and downloaded "
                   "(~0.1 s), built in an isolated environment made by uv (~1.2 s: `python -m build "
                   "--installer uv`, setuptools downloaded into the empty cache), then uv resolves again "
                   "(~0.1 s); uv + tar builds the same sdist in one process",
    "granian": "granian parses HTTP in Rust, the launcher in Python (head parsing, routing, response encoding: "
               "~20% of server samples at c32); compare the CPU µs/req column, which is less noisy than req/s on "
               "this shared machine",
    "build_warm": "a warm build still produces the deployable archive: for S2 it copies the ~46 MB of cached "
                  "segments into it (kernel copy, unread) and fsyncs it (~20-30 ms), plus ~0.08 s of Python "
                  "start-up and imports; uv's warm --target install hard-links out of its cache and makes no "
                  "archive (uv + tar czf is the deployable equivalent)",
    "build_none": "fixed cost of the command: Python start-up, then the build pipeline's imports (~40 of the "
                  "packager's modules, OpenSSL's hashlib, tempfile + shutil with the bz2 and lzma they import, "
                  "tarfile, ast), reading and checking the source, writing the artifact; in an empty cache also "
                  "the host-zlib probe (~5 ms, another thread), the probe of IGNITE_PYTHON (an interpreter start, "
                  "begun at the build's first step) and, with SOURCE_DATE_EPOCH set as here, the launcher's "
                  "segment (~340 KB of tar deflated: the default build's is premade, but its tar holds the "
                  "mtime); against `tar czf` of one file",
    "cold_heavy": "the handler's import (scikit-learn + scipy) dominates; the launcher adds the same ~20 ms as for "
                  "hello",
}


#: Measurements behind issue 36's changes (static: taken by hand on the shared, loaded 2-core
#: machine, with load-robust measures: instruction counts, CPU time and alternating A/B runs).
ISSUE36 = """## Where the time goes (issue 36, measured by hand)

- **Build without requirements.** Instructions (valgrind callgrind, the bench's interpreter, a
  `python-hello` handler.py): 1.61 G cold / 1.56 G warm before, **0.69 G / 0.62 G** after;
  `python -c pass` in the same venv is 0.09 G. CPU time, 10 alternating runs: 252 → 136 ms
  (pass 27 ms). Before: ~45% of the instructions were the host-zlib probe (600 KB deflated by
  the host zlib *and* by the pinned one at every build), then the imports: every command's
  module (inspect/run/dev/cache, logging, subprocess helpers), `packaging` (requirement parser
  and tags, for a build with no requirements), `importlib.resources` (to find the profile),
  `importlib.metadata` + `email` + `ctypes` (the pinned zlib's version), zip/tar readers.
  Now: commands are imported by name (a LazyGroup), the profile is found next to its module and
  its built-in names need no `packaging`, the deflate check compares the host zlib's output with
  recorded digests (h30repro's deflate.py) on another core while the source is checked, and a
  few KB of segments deflate without a thread pool (`tests/test_startup_imports.py` lists what
  such a build must not import). Left: `import click` alone is ~0.10 G instructions (`inspect`,
  `typing`, `click.core`); the probe ~0.1 G; sha256 of the launcher's tar, records and artifact
  ~0.05 G; the fsync of the artifact. click's parser also builds a "did you mean" list (difflib)
  for every short option (`-o`, `-q`): ~1-2 ms, click's own.
- **uv as a default dependency.** 5 alternating rounds of cold builds (fresh caches, loaded
  machine), ignite with uv vs without (`IGNITE_UV` pointing nowhere) vs uv + tar: S1 1.84 vs
  2.42 s (**1.31×** without), S3 7.25 vs 17.1 s (**2.36×**); pins identical (S1: orjson 3.13.0,
  python-slugify 9.2.0, pyyaml 6.0.4, text-unidecode 1.3; S3: attrs 26.1.0, docopt 0.6.2). Cost:
  ~38 MB installed (the rest of the install ~29 MB). So uv is now a dependency wherever it has
  wheels; elsewhere builds resolve with pip.
- **256 and 1,024 connections.** wrk's errors against the launcher were all *non-2xx* (503:
  queue full), no socket errors: 8 workers + `IGNITE_QUEUE=128` admit 136 requests, so a
  3 s run at c256 got 14,189 503s of 48,955 answers (29%), at c1024 55,573 of 72,751 (76%),
  and those fast 503s were counted as req/s. With a queue that holds the burst: 0 errors. The
  default queue is now 1,024 (waiting bodies stay bounded by `IGNITE_BODY_BUDGET_BYTES`), and
  the table above counts 2xx answers separately. A first run of the new rows (2 s, loaded):
  launcher 28.9k / 32.0k 2xx req/s at c256 / c1024, p99 18.9 / 42.9 ms; granian 13.5k / 15.7k,
  p99 45.9 / 121 ms.
- **Artifact size.** The launcher was a fixed 184-193 KB of deflate in every artifact. Now an
  artifact carries only its convention's adapter (and the `_` helpers it imports; the other
  adapters were ~65 KB) and the launcher's bytecode is compiled without docstrings (−16 KB):
  ~120 KB for the default convention (the hello artifact 202 → 127 KB); then without column
  positions (`-X no_debug_ranges` when `make launcher-pyc` compiles it: its pycs deflate to
  59 KB instead of 80 KB; a traceback through the launcher keeps file and line): the hello
  artifact 131 → 111 KB. That is still more than S3's whole uv + tar (0.07 MB), so S3 ≤ 1.0×
  cannot be met while the artifact carries a launcher with its bytecode (the bytecode saves
  ~12 ms of every cold start; its source, 47 KB deflated, is what tracebacks show). For S1 the rest of the
  artifact (vendor, dist-info, source) is ~1.09 MB against uv + tar's 1.06 MB: deflate level 4
  against gzip's 6 (level 6 would save 32 KB of S1 and cost ~70 ms of its cold build, measured).
  Measured, not done: level 9 for the launcher segment −8 KB (+50 ms when not cached); a
  sourceless launcher −57 KB, but no source lines in its tracebacks and no start under another
  interpreter version.
- **This round's warm-path cuts** (same bytes, tests/test_manifest_bytes.py, test_cache.py,
  test_startup_imports.py): the manifest's file list was encoded by json's pure-Python encoder
  (indent): 66 ms of S2's warm build; each cached wheel was sha256-hashed to find its segment
  (S2: 45 MB, ~30 ms), now noted per stat stamp (size, mtime, ctime, inode) in the cache's
  `host/`; warm builds imported ssl/urllib.request/http.client/importlib.metadata and both
  resolver backends (~45 ms) that only a miss needs; an explicit --python (IGNITE_PYTHON) was
  probed by starting it on every build (~35 ms of a no-requirements build on 2 cores), and the
  host zlib by deflating 600 KB twice (~10 ms): both now noted once per executable / zlib file.
- **Cold builds of many wheels: one DNS lookup per host.** The scale row N20 took 5.96 s cold in
  two of three runs and 1.30 s in the third. Timing each download: 19 wheels landed within
  0.25 s, the 20th opened its connection 5.01 s after asking. Every download thread looked the
  files host up again, and here 8 parallel lookups of one name stall for the resolver's 5 s
  retry in ~40% of rounds of 8 (a lone lookup in ~2.5% of 40). The threads now share one
  lookup per host per build (urllib's opener, http.client's connection hook; proxies and
  redirects stay urllib's): N20 cold 1.1-1.3 s in 6 of 6 runs; L cold 2.87 s against uv + tar's
  6.0 s in 3 alternating rounds (the last full run had 6.78 s vs 5.80 s).
- **sdists: uv's finder instead of a pip start.** The sdist to build was found by a pip
  subprocess (`_pipshim sdist`, ~0.45-0.56 s: pip's imports and TLS set-up). `uv pip compile
  --no-deps --no-binary :all:` names the same file with its sha256 without reading metadata
  (so it builds nothing) in ~0.06 s once the first resolution cached uv's interpreter facts;
  it is downloaded in-process. Cold S3 here: 1.81 s vs uv + tar 1.83 s (3 alternating rounds).
- **The wait for uv, used.** While `uv pip compile` runs (~0.23 s cold), the main thread has
  nothing to do: the HTTP client (urllib.request, http.client, email, the idna codec: ~10 ms)
  is now imported there with the TLS context, and the wheel installer (~20 ms) on its own
  thread, instead of after uv's answer / after the first wheel landed; pip's resolver module
  and the manifest's are no longer imported before uv's subprocess starts (~8 ms). Cold S1:
  the first download starts at ~0.35 s instead of ~0.45 s after exec; the build ~0.45 s.
- **uv's look at the interpreter, made before click is imported.** In an empty uv cache, uv's
  first resolution runs the interpreter to learn about it (~0.06-0.07 s: `uv pip compile` of S1
  took ~0.22 s, ~0.16 s with that answer cached). `ignite-pack build` now starts `uv python
  find` with the resolution's interpreter, cache and environment as its first act (before
  click; only for a source with a requirements.txt / pyproject.toml, or an archive, and only
  while the uv cache does not exist), on the other core while the CLI is imported; the
  resolution waits for it and uv's trace says the query was skipped (tests/test_prestart.py).
  Cold S1, 8 alternating rounds against this round's start (baf96fa): 448 vs 492 ms median
  (uv + tar 372 ms). Measured and dropped: starting the `--python` probe there too (no change in
  15 alternating cold builds without requirements: the launcher segment and the deflate probe
  are the longer waits).
- **What is left of a cold S1** (full runs: 1.04× uv + tar on a453b15, 407 vs 393 ms; 1.23×
  on 549500e, 508 vs 414 ms, each the median of 3 cold builds; 1.25× before this session's
  changes; by hand, 12 alternating rounds on 549500e's code: 418 vs uv + tar 372 ms, 1.12×): uv's subprocess starts ~0.08 s after exec (Python start-up 0.024 s, then the
  pipeline's modules and the requirements parser; click is no longer imported, and uv's look
  at the interpreter runs meanwhile); `uv pip compile` ~0.2 s (uv alone: ~0.16 s; the build's own
  threads, the TLS context, the installer's import, the launcher segment and the deflate probe,
  share the 2 cores with it); downloads ~0.02-0.04 s; installing and deflating the wheel that
  landed last (pyyaml) ~0.06-0.08 s.
- **Warm builds: segments vouched for by stat stamp.** A warm S2 build read its cached
  segments (45 MB) and hashed them to check them, then hashed them again as the artifact: the
  first hash is now noted with each file's stat stamp (size, mtime, ctime, inode) when the
  segment is stored, as cached wheels' were (any rewrite changes ctime: hashed and checked
  again; tests/test_cache.py). 8 alternating warm S2 rounds against this round's first commit
  (f319654): 288 vs 304 ms median.
- **Warm builds: cached segments copied unread.** What was left of a warm S2 (1.04×, 1.43×,
  1.34× and 1.14× of bare uv in four full runs) was reading its 46 MB of cached segments into
  memory (~45 ms), writing them out again (~12 ms) and hashing the artifact (~27 ms). A segment
  whose sha256 is noted for its file's stamp now stays in the cache file and is copied into the
  artifact by the kernel (`copy_file_range`; a read/write loop where the kernel or filesystem
  refuses, e.g. another filesystem), its stamp checked when opened and after the copy (a file
  replaced meanwhile is read and checked against its sha256; other bytes fail the build with
  "run it again", no output left). The artifact's sha256 is remembered in host notes by its
  parts' sizes and sha256 (a pure function's memo, used when parts of 1 MB or more have known
  digests), so a warm build that writes what an earlier build wrote hashes nothing; the fsync
  stays. Same bytes (tests/test_artifact_copy.py, a full disk in test_io_faults.py). By hand, 7
  alternating warm S2 rounds: 310 → 255 ms, bare uv `--target` 295 ms; the full run on 9851b71:
  **200 vs 274 ms (0.73×)**; the run on 4b3cbc7 (this table), on a VM ~40% slower that hour
  (`python -c pass` 36 ms against 25 ms): 282 vs 293 ms (0.96×).
- **Build without requirements, without click** (full runs on a453b15 and on 549500e: +60 /
  +67.5 ms warm, +90 / +111 ms cold over `python -c pass`, whose own start took 23 / 29 ms on
  a machine that was noisier the second time; the run before these changes +74 / +98.5): `ignite-pack build SOURCE [-o OUT] [-q]
  [--json]` (no other option, no configuration file) no longer imports click
  (`packager/cli/quick.py`: the parameters click would give, compared with click's for those
  words and environments in tests/test_cli_quick.py, and the same bytes and lines; anything
  else goes through click; an import contract keeps click off that path): 482M -> 435M
  instructions (callgrind, warm), CPU 133 -> 106 ms median in 20 alternating runs. The
  launcher's segment is found by its files' stat stamps (reading ~30 files, picking the
  adapter's modules with ast and making the tar to hash it was ~7 ms the main thread waited
  for), and `platform` is no longer imported (os.uname). What is left, warm (`-X importtime`):
  the pipeline's modules, ~45 ms of imports: the manifest's and tarball's dataclasses ~9 ms,
  the options', profile's, checks', slim's and index settings' ~8 ms, the `inspect` that
  `dataclasses` imports ~4.5 ms, OpenSSL's `hashlib` 2.5 ms, `tomllib` ~3 ms, `subprocess` +
  `locale` + `threading` ~4 ms, `tarfile` 1.5 ms; then reading and checking the source and
  writing + fsyncing the artifact. A cold cache adds the launcher's segment (~340 KB of tar
  deflated, ~10 ms) and the deflate probe (~19 ms, another thread), once per cache. Meeting
  50 ms would take a pipeline without dataclasses; not done. Considered and not done: a
  launcher segment shipped precompressed for the cold case (its tar holds the build's mtime,
  so it would match only builds without SOURCE_DATE_EPOCH; CI builds and this bench set one).
- **Build without requirements, this session** (15 alternating runs against 9851b71, the code of
  the full run that measured +72.1 ms warm / +88.4 ms cold against a 25 ms start; `python -c
  pass` 23.2 ms): warm 89.2 → 77.5 ms (**+54 ms** over the interpreter's start), cold 115.8 →
  112.5 ms; an hour later, on the slower VM of this table's run, warm 125 → 109 ms against a
  33 ms start (the table: +72.4 / +116.4 ms against 36 ms; the same excess in a slower VM is
  more milliseconds: 3.0× the start warm, 3.9× before). Cut: no TOML
  parser on that path (the built-in profiles are read from JSON twins made from their TOML,
  checked by the TOML's sha256; the configuration module imports tomllib only to read a file:
  ~5 ms), no `subprocess` (+ `selectors`) once the target interpreter's probe is noted (~2 ms),
  no `--compile` module, no GF(2) operators for the CRCs of small segments (zlib's CRC of their
  zeros: ~1.5 ms), and in a cold cache the deflate probe's 300 KB made in ~3 ms instead of
  ~10 ms of pure Python that held the GIL. What is left (counted, not estimated): 29 frozen
  dataclasses are created at import, 171 `exec()` calls of the methods `dataclasses` generates,
  ~12-15 ms on Python 3.11 (3.13 makes one `exec` per class; a 3.13 host was measured no faster
  overall: warm 103 vs 103 ms, its own start 28 vs 22 ms), `inspect` imported by `dataclasses`
  ~4 ms, OpenSSL's `hashlib` ~2 ms, `tempfile` + `shutil` (which imports `bz2` and `lzma`) ~3 ms,
  `tarfile` ~1.5 ms; then reading and checking the source, the launcher's segment found by
  stat stamps (~1.5 ms of stats) and the fsync of the artifact. The 50 ms target needs a
  pipeline whose records are not generated at import; not done.
- **Cold S1, this session** (11 alternating rounds against 9851b71: 414 vs 423 ms, uv + tar 379 ms:
  no change; 1.03× in the full run, 1.09-1.12× by hand): the probe and the CRC work were off the
  critical path. Traced (execve and exit only): uv's look at the interpreter ends ~20 ms before
  `uv pip compile` starts; that start waits for the main thread's imports and the requirement
  parser (`packaging`: ~20 ms of regular expressions and `packaging.tags`), then the early
  resolution's setup (~8 ms; in an empty cache ~5 ms of stub wheels for the image's packages);
  tomllib is now imported while uv runs, not before. The rest is uv's resolution (~0.16-0.18 s),
  the downloads and the last wheel's install + deflate, as before.
- **The resolution starts as the build's first act** (after the run on 4b3cbc7). Timed with a uv
  that logs its start and end: `uv python find` started at ~35 ms and ended at ~100-120 ms, but
  `uv pip compile` started only at ~125-160 ms, when the main thread had imported the pipeline
  (~30 frozen dataclasses, ~0.6 ms each on 3.11), packaging's requirement parser (~12 ms of
  regular expressions) and written the stub wheels (~5-9 ms). Now, for the commonest build
  (`build DIR` with only -o/-q/--json/--index-url/--extra-index-url, no configuration file, a
  requirements.txt of plain `name` / `name==version` lines, the default profile, no pip setting
  uv would miss, an empty uv cache), `packager.prestart` starts the resolver's own `uv pip
  compile` (one command line, `packager.uvenv.compile_argv`; input files written from the raw
  text; uv's look at the interpreter inside it) ~35-45 ms into the run; the resolver takes its
  answer only when its own command line and input files are the same byte for byte (else it is
  stopped: tests/test_prestart.py, which also checks that the guessed requirements.in is the
  resolver's for plain files). The built-in profiles' stub wheels now ship with the packager (no
  stub is written by a cold build). Cold S1 by hand, 8 alternating rounds against ab9181d's
  parent: 443 -> 402 ms median, uv + tar 405 ms; full runs: 417 vs 409 ms on c15e9e7 (1.02×),
  372 vs 361 ms on 9eae1e5 (1.03×; N5 1.02×, 1.15× before), 351 vs 440 ms on 13b6602 (0.80×,
  this table: uv + tar's median moved 361 -> 440 ms between those two runs, ~150 ms of it its `tar czf`;
  12 alternating rounds by hand the same hour: ours 427 vs 411 ms, 1.04×), each the median of 3
  cold builds. The same artifact bytes as a build whose
  resolver ran uv itself (tests/test_prestart.py, and against the real index in
  tests/test_network_uv.py). What is left is uv's own work (its look at the interpreter and the
  resolution, the same work uv + tar does) plus, after it, the downloads and the last wheel. After uv's answer: downloads land in
  ~15-40 ms, then pyyaml (3 MB unpacked) takes ~50-70 ms to install (~12 ms inflating, ~5 ms
  hashing) and deflate (2 cores, 256 KiB chunks), the archive ~8 ms. Since 45c139c each member
  is hashed once (RECORD's check, the installed RECORD and the manifest shared one sha256 of
  four): pyyaml's install and records 20 -> 13.5 ms by hand; not yet in a full run. Measured,
  not done: inflating each member in one zlib call instead of zipfile's pieces (~3 ms of
  pyyaml: not worth a second zip reader); copying the wheels' own deflate data into the
  artifact instead of deflating it again (pyyaml: 53 ms of level-4 deflate CPU, its members'
  deflate in the wheel 846 KB against our 874 KB) would need each member's last block found
  and un-finalled (zlib's inflate with Z_BLOCK) and the artifact's bytes would then depend on
  how each wheel was compressed.
- **Build without requirements: records, no typing** (issue 36, the session after 13b6602).
  Counted with callgrind (instructions: the VM's speed moved `python -c pass` between 24 and
  34 ms within the hour, so milliseconds of one run against another mean little): a warm build
  340 M -> 289 M instructions (`python -c pass` 90 M: 250 M -> 199 M over it), a cold one 552 M
  -> ~480 M. (1) The pipeline's 27 frozen dataclasses are declared with `@record`
  (packager/records.py): `dataclass(frozen=True, eq=False, repr=False)` plus one shared
  `__eq__`, `__hash__` and `__repr__` that follow dataclasses' rules, instead of three methods
  compiled with `exec` per class: 162 -> 81 `exec` calls, 340 M -> 302 M (tests/test_records.py
  compares them with `@dataclass(frozen=True)` and keeps new frozen dataclasses on `@record`).
  (2) `typing` is imported by no module of that path (annotations only; `TYPE_CHECKING = False`
  guards): 302 M -> 289 M (tests/test_cli_quick.py checks it). (3) In an empty cache the
  launcher's segment (two 256 KiB chunks) is deflated on its own thread instead of a pool of its
  own: 12 -> 5.5 ms, same bytes. What is left warm: 99 `exec` calls (81 of the records' `__init__`,
  `__setattr__`, `__delattr__`; the rest stdlib namedtuples), 15% of the instructions; the
  `inspect` that `dataclasses` imports (~37 M with `ast`), OpenSSL's `hashlib` (~13 M),
  `tempfile` with the `shutil`, `bz2` and `lzma` it imports (~16 M), `tarfile`; then reading and
  checking the source and writing the artifact. Cold adds the deflate probe (300 KB made and
  600 KB deflated by the host zlib, another thread) and the launcher's segment (~340 KB of tar
  deflated), ~20-30 ms of wall time a cold build waits for. Measured, not done: starting both
  before the pipeline's imports (from the quick path, on a thread) made builds *slower* (21
  alternating rounds: warm 76.0 -> 82.2 ms, cold 95.0 -> 104.1 ms): their Python work holds the
  GIL the main thread's imports need, and each import's file read hands the GIL over. A
  launcher segment shipped precompressed would match only builds without SOURCE_DATE_EPOCH (its
  tar holds the build's mtime, DESIGN.md's determinism rule), and this bench sets one.
- **Build without requirements: records without dataclasses, one probe, an early interpreter
  probe** (issue 36, the session after 3b6ba3f). Callgrind, the bench's environment
  (`python-hello`, SOURCE_DATE_EPOCH and IGNITE_PYTHON set; `python -c pass` 90 M): warm 290 M
  -> 222 M, cold 479 M -> 364 M instructions; wall time, 21 alternating rounds of the two
  snapshots: warm +43.1 -> +32.6 ms, cold +68.3 -> +46.1 ms over the interpreter's start (24 ms;
  without those two variables: +45.6 -> +32.8 and +62.6 -> +41.8). (1) `@record` no longer
  builds on `dataclasses`: importing it brought `inspect`, `dis`, `tokenize` and `linecache`
  (23 M), and each class compiled three methods; now one small `__init__` per class and shared
  frozen `__setattr__`/`__delattr__`, `__eq__`, `__hash__`, `__repr__` (27 classes: 68 M ->
  16 M; tests/test_records.py compares every behaviour with `@dataclass(frozen=True)`). (2) In
  an empty cache the launcher's thread probed the host zlib a second time while the early probe
  ran (no lock): one probe per process now, and a cheaper one (two chunks as a segment is
  deflated, the xorshift tail only for levels 8 and 9): 9.2 -> ~5.5 ms. (3) The probe of
  IGNITE_PYTHON starts at the build's first step (packager/pyprobe.py, posix_spawn) instead of
  after the imports: the build no longer waits ~10 ms for it. (4) The default build's launcher
  segment (no SOURCE_DATE_EPOCH) is premade by `make launcher-pyc` and used while every launcher
  file has the sha256 its index names (~14 ms less in an empty cache; not in this bench, which
  sets SOURCE_DATE_EPOCH). Measured, not done: OpenSSL's hashlib (~2.5 ms of import) could be
  spared by the interpreter's own sha256 for small inputs, but that one hashes 300 MB/s against
  OpenSSL's 1.7 GB/s here and such a build still hashes ~0.5 MB (the launcher's files): ~1 ms
  net, not worth a second hash path.
- **Build without requirements, the session after 1939eb1** (the bench's environment; a
  timeline of one cold build, then 30 alternating rounds: cold +44.2 -> +42.8 ms, warm +32.7 ->
  +32.4 over `python -c pass` at 24 ms). (1) The deflate probe's 300 KB were made by Python on
  the probe's thread, holding the GIL ~2.4 ms while the main thread waited at that thread's
  start (`Thread.start` 3.5 ms): they ship as a 55 KB file (checked against the generator by a
  test) and are inflated in C: 1.2 ms. (2) A segment is cut into chunks of one size, as few as
  256 KiB allows: the launcher's 338 KB went as 256 + 82 KB, the main thread deflating the
  larger while the other waited; as two halves: 4.2 -> 3.1 ms. (3) With SOURCE_DATE_EPOCH (or
  another level) the launcher's files are read back from the premade segment (one inflate)
  instead of ~30 files, the adapter's imports (ast) and the pycs' index: ~2 ms. (4) The premade
  segment is checked against the launcher's sources and launcher_pyc's index (26 files hashed,
  0.9 ms) instead of everything `make launcher-pyc` writes with it (76 files, 2.2 ms): on every
  default build, warm ones too. Measured, not done: deferring the launcher segment and the
  deflate probe until uv's resolution has answered, so they do not compete with uv for the two
  cores (cold S1, 30 alternating rounds: 406.5 / 407 / 417.5 ms, no gain); making the launcher
  segment of a build without requirements on a thread from the build's start (30 rounds: cold
  +3 ms, warm +1.7 ms: its Python work holds the GIL the main thread needs); `tempfile` left
  out of the path (own mkstemp; no change measured: `tarfile` imports the same `shutil`, `bz2`
  and `lzma`); what is left is imports (~25 packager modules, `tarfile`, OpenSSL, `json`, `ast`:
  ~15 ms), the records' 27 small `compile` calls (~3 ms, the first ~1.4 ms of which is the
  parser's first use in the process) and, in an empty cache, the launcher segment (~9 ms with
  SOURCE_DATE_EPOCH: its tar holds that mtime).
- **Artifact size: the launcher without comments and docstrings** (packager/artifact/stripping.py,
  the session after 1939eb1). The launcher's source is ~40 % comments and docstrings; artifacts
  now carry it stripped, line for line (each removed line stays empty, so a traceback's file
  and line point at the same statement as in ignite-packager's `launcher/`, and the first line
  says where the full source is), made once by `make launcher-pyc`. The stripped source must
  compile to the same code with the same line numbers as the original (checked when it is made
  and by a test); the 3.12 and 3.13 bytecode compiled from it is byte for byte the bytecode of
  before. The hello artifact: 108.5 -> 90.0 KiB; every artifact ~19 KB smaller. That is still
  more than S3's whole uv + tar (0.07 MB): the launcher's bytecode (59 KB of deflate) saves
  ~12 ms of every cold start of the function, which is worth more than the size, and
  S1's vendor/ alone at level 4 is ~1.03x uv + tar's gzip -6 tree.
"""


#: Where the time goes (issue 18), from profiles taken in the two issue-18 sessions. Static
#: text: profiles are not re-taken by the bench (py-spy and perf are not bench dependencies).
PROFILE = """## Where the time goes (profiles, issue 18)

**Launcher, per request** (hello handler; `py-spy record --threads` at c32 and `perf record -g`
at c1, server pinned to one core, wrk on the other):

- The Python-level work is small: parsing the head, `Request`/`Job`, the adapter's ctx and
  `json.dumps`, encoding the response add up to well under 10% of samples at c32.
- The time is in the kernel and in thread switches. At c1, `perf` puts 36% of the server's
  cycles in `finish_task_switch` (context switches on this VM: the I/O thread hands each
  request to a worker thread through `SimpleQueue`, `sem_post` wakes it, the GIL moves between
  the two threads), another ~9% in wake-ups (`try_to_wake_up`, `sock_def_readable`); CPython's
  eval loop is ~9%. At c32 `send` (loopback TCP delivers into the client's socket inside the
  sender's syscall) is ~11% of samples, `SimpleQueue.put` ~8%, `recv` ~6%.
- Every GIL-releasing syscall on a worker is a possible thread switch: besides `send`, the
  default request log was one `os.write` per request from the worker, and every execution id
  was one `getrandom` (`os.urandom(16)`). Issue 18 moved both off the per-request path (log
  lines batched and written by the I/O thread once per loop turn; ids from a pool of random
  digits refilled every 128 ids) and builds the response with one `%` format from a prebuilt
  status+header block: a few per cent of server CPU per request, within the noise here.
- The larger saving came from the scheduler: the `perf` profile showed the woken worker
  preempting the I/O thread only to block on the GIL it still held (`__lll_lock_wait`, GIL
  condition waits) and then switching back. Worker threads now run `SCHED_BATCH` (no wake-up
  preemption; the I/O thread keeps the normal policy): server CPU per request fell by about
  6-12% at c1 and c32 in A/B runs of the same build (old vs new launcher, alternated).
- The hand-off itself was the next step. Measured first (second issue-18 session): a
  launcher patched to run every handler on the I/O thread had, **at c32, 0 context switches
  per request instead of 0.7 but the same CPU per request** (33.7 vs 32.4 µs; granian 28-29
  µs), while **at c1 it went from ~8 switches per request to 1 and from 5.9-6.9k to 7.8-8.9k
  req/s** (granian 6.9-7.8k in the same runs). A `perf record --call-graph dwarf` with
  Python's perf trampoline (`PYTHONPERFSUPPORT=1`) at c32 attributes the launcher's samples by
  Python function: `_send` 26% (the syscall: loopback TCP delivers inside it), the hello
  handler and its JSON ~17% (the peers run the same handler code), `_parse_head` 8%, `_on_read`
  (recv) 6%, the worker loop 6%, `_process`/`finish`/`_encode_raw`/`_route`/`run`/`submit`
  ~14%, execution ids 4%: at c32 the remaining gap is the HTTP work granian does in Rust.
- So the launcher now runs a sync handler **on the I/O thread when its request is alone in
  flight**, with a standby thread that takes the loop over from a handler still running after
  5-10 ms (probes, accept, other requests on the pool, time-outs and drain go on; the blocked
  handler keeps a pool seat, so `IGNITE_CONCURRENCY` holds; after a slow handler, requests go
  to the pool for a second); jobs admitted during a loop turn are dispatched at its end. By
  hand (server and wrk pinned, alternating): c1 8.1-8.6k req/s, 1.05 switches per request (was
  5.9-6.4k, 7.9); c32 33k, 0.14 switches per request (was 27-30k, 0.72; granian 31.5-32k,
  0.36). `IGNITE_INLINE=0` turns it off.
- granian's worker does the same kind of hand-off (Rust I/O thread → Python blocking thread);
  see *CPU µs/req* for the work each server spends per request, and its RSS (two processes).
- Third session: c32 was still at parity, so the Python request path itself. Measured in
  process (the launcher's own `_on_read` → `_dispatch` → `ThreadPool.run` → `finish` with a
  fake socket, no syscalls: 17.2 µs per request, hello handler included) and with the perf
  trampoline at c32: `_parse_head` ~9% of samples (3.9 µs for wrk's 3 headers, 0.72 µs of it
  the execution id's f-string of six slices), `json.dumps` ~7% (it runs three Python functions
  and defines a closure before the C encoder starts: 2.2 µs for the hello result). Changed:
  the C encoder is built directly from json's default encoder at each call (same text, same
  cycle check and a later-patched `JSONEncoder.default` honoured: 1.5 µs; a single shared
  encoder without a cycle set was 0.9 µs, but a review showed a cycle then took seconds and
  crashed 3.12/3.13 on a 256 KiB thread stack), execution ids made 128 at a time with C-level
  slice copies (0.24 instead of 0.72 µs), the head decoded once as latin-1 text instead of two
  decodes per header. In process 17.2 → 15.2 µs; pinned c32 A/B, 3 alternating rounds of the
  final code: 33.7k → 38.6k req/s (granian 32.9k), CPU per request 28.8 → 25.6 µs (granian
  29.7).
  Tried and dropped: `recv_into` a reused buffer (no faster than `recv`), a list-comprehension
  flush of the request log (no measurable change).

**Cold build S1** (`pyyaml orjson python-slugify`, all caches empty; progress lines
time-stamped, idle machine). Before issue 18's build changes: CLI start-up and imports ~0.15 s,
checks ~0.05 s, **resolution ~0.68 s** (the `pip install --dry-run --report` subprocess), downloads
0.04 s (parallel, in-process), install into vendor/ 0.09 s, archive 0.02 s: ~1.1 s. A profile of
the pip subprocess (cProfile) showed little network (~0.1 s): pip's imports ~0.3 s, two TLS
contexts ~0.1 s, and **turning every file on orjson's JSON page into a `Link`** (~5,000 wheels,
2.3 MB) only to reject those whose tags the target cannot use. Changes, each measured alone:
the pip shim drops those wheels before pip parses them (exact: pip rejects them anyway;
resolution 0.68 → 0.55 s); the resolution starts in a thread while the handler is checked
(−0.05 s); with uv installed with ignite-pack (`ignite-packager[uv]`), `uv pip compile` resolves
(~0.22 s) and pip stays the fallback: ~0.54 s (uv + tar ~0.39 s). Second session, measured with
the subprocess starts and stage lines time-stamped (5-7 alternating runs against the first
commit of the session): uv started ~0.17 s after the process, because everything the later
stages need was imported first (fetch, install, tarball, http.client, ssl: ~0.06 s) and the
explicit `--python` was probed on the way (~0.015 s); merging 7 segments' CRCs cost ~13 ms
(the GF(2) operators were squared again on every call); installer's `validate_record()`
inflated every member once more before installing it; pyyaml (3 MB of tar, the largest) waited
for the last download and then compressed on one core. Now the resolver starts at ~0.11 s (its
thread imports only what resolving needs; the main thread imports the rest while uv runs; the
probe runs in the background), each wheel is installed as its download lands, large segments
deflate in 256 KiB chunks primed with the previous 32 KiB on all cores, the CRC operators are
kept: **~0.47-0.50 s** by hand (uv + tar 0.40-0.44 s); warm S1 ~0.15 s (was ~0.18 s).

**Cold build S3** (`docopt` sdist-only + `attrs`). Before: first resolution fails on docopt
~0.8 s, then **`pip download --no-binary :all: docopt` ~3.6 s** (pip prepares the sdist's
metadata: an isolated build environment with setuptools installed from the index), `python -m
build --wheel` in a *second* isolated environment ~1.4 s, a second resolution ~0.5 s: ~6.7 s on
an idle machine. First session: the failing resolution runs during the checks; the sdist is
fetched with pip's own finder and session (`_pipshim sdist`: same candidate, same index
settings, no metadata preparation; ~0.4 s); the wheel is built in an environment made by uv
(`python -m build --installer uv`, uv's cache under the ignite cache; ~1 s cold); uv resolves
again (~0.1 s): ~2.6-3.1 s, of which ~0.67 s was a pip resolution run only to hear that docopt
has no wheel, which uv had already said. Second session: uv's "Wheels are required for
`docopt`" goes straight to building that sdist (the same distribution twice, or any other
failure, still goes to pip): **~2.0 s** by hand (uv + tar ~1.5-1.8 s). The sdist-built wheel is
byte-identical either way (fixed SOURCE_DATE_EPOCH), and so is the artifact
(tests/test_uv_resolver.py, tests/test_network_uv.py).
"""


def _cause(k: str) -> str:
    if k.startswith("build none") or "build none" in k:
        return CAUSES["build_none"]
    if "--resolver pip" in k:
        return CAUSES["build_pip"]
    if "S3" in k and "cold" in k:
        return CAUSES["build_sdist"]
    if k.startswith("build") and "cold" in k:
        return CAUSES["build_cold"]
    if k.startswith("build"):
        return CAUSES["build_warm"]
    if k.startswith("cold start heavy"):
        return CAUSES["cold_heavy"]
    if (k.startswith("req/s") or k.startswith("server CPU")) and "granian" in k:
        return CAUSES["granian"]
    return ""


def _targets(w, data) -> None:
    h = data.get("headline") or {}

    def v(k: str) -> Optional[float]:
        return (h.get(k) or {}).get("value")

    rows = [
        ("issue 10", "S2 warm build ≤ 2× `uv pip install --target`", v("build S2 warm: ignite / uv"), lambda r: r <= 2, _x),
        ("issue 10", "S2 warm build ≥ 4× faster than uv + tar czf (ratio ≤ 0.25×)", v("build S2 warm: ignite / uv+tar"),
         lambda r: r <= 0.25, _x),
        ("issue 10", "S2 cold build ≤ 1.5× uv + tar czf", v("build S2 cold: ignite / uv+tar"), lambda r: r <= 1.5, _x),
        ("issue 10", "S1 cold build ≤ 1.5× uv + tar czf", v("build S1 cold: ignite / uv+tar"), lambda r: r <= 1.5, _x),
        ("issue 6", "launcher req/s ≥ uvicorn+starlette at c1", v("req/s c1: launcher / uvicorn"), lambda r: r >= 1, _x),
        ("issue 6", "launcher req/s ≥ uvicorn+starlette at c32", v("req/s c32: launcher / uvicorn"), lambda r: r >= 1, _x),
        ("issue 6", "(stricter) ≥ uvicorn+starlette with the handler on the loop, c1", v("req/s c1: launcher / uvicorn_inline"),
         lambda r: r >= 1, _x),
        ("issue 6", "(stricter) ≥ uvicorn+starlette with the handler on the loop, c32", v("req/s c32: launcher / uvicorn_inline"),
         lambda r: r >= 1, _x),
        ("issue 6", "hello cold start within 30 ms of the python floor", v("cold start hello: launcher over python floor"),
         lambda r: r <= 30, lambda r: f"+{r:.1f} ms"),
        ("issue 14", "hello cold start, single-shot, within 30 ms of the python floor",
         v("cold start hello: launcher over python floor"), lambda r: r <= 30, lambda r: f"+{r:.1f} ms"),
        ("issue 29/31", "hello cold start no worse than the launcher before them (same run; within 3 %)",
         v("cold start hello: launcher / the launcher before issues 29+31"), lambda r: r <= 1.03, _x),
        ("issue 14", "no failed (5xx) launcher cold start",
         v("cold start: launcher failed cold starts (5xx or no answer to the one POST)"), lambda r: r == 0,
         lambda r: f"{r:.0f} failed"),
        ("issue 9", "`--compile` cuts the heavy read-only cold start", v("cold start heavy, read-only container: --compile / no pyc"),
         lambda r: r < 1, _x),
        ("issue 18", "launcher req/s ≥ 1.0× granian WSGI at c1, request log off", v("req/s c1: launcher / granian"),
         lambda r: r >= 1, _x),
        ("issue 18", "launcher req/s ≥ 1.0× granian WSGI at c32, request log off", v("req/s c32: launcher / granian"),
         lambda r: r >= 1, _x),
        ("issue 18", "launcher req/s ≥ 0.9× granian WSGI at c1, default request log",
         v("req/s c1: launcher with the default request log / granian"), lambda r: r >= 0.9, _x),
        ("issue 18", "launcher req/s ≥ 0.9× granian WSGI at c32, default request log",
         v("req/s c32: launcher with the default request log / granian"), lambda r: r >= 0.9, _x),
        ("issue 18", "S1 cold build ≤ 1.5× uv + tar czf", v("build S1 cold: ignite / uv+tar"), lambda r: r <= 1.5, _x),
        ("issue 18", "S3 (sdist-only) cold build ≤ 2× uv + tar czf", v("build S3 cold: ignite / uv+tar"),
         lambda r: r <= 2, _x),
        ("issue 18", "S2 cold build stays ≤ 0.6× uv + tar czf", v("build S2 cold: ignite / uv+tar"),
         lambda r: r <= 0.6, _x),
        ("issue 16", "S2 `--slim` unpacked ≤ 0.85× the normal build",
         ((data.get("build") or {}).get("sets", {}).get("S2", {}).get("slim") or {}).get("unpacked_ratio"),
         lambda r: r <= 0.85, _x),
    ]
    sets = (data.get("build") or {}).get("sets") or {}
    uv_default = _g(data, "build", "ignite", "uv_installed")
    inst = "default install" + ("" if uv_default else " (**uv not installed here**)")

    def size_ratio(s: str) -> Optional[float]:
        return _g(sets, s, "size", "ratio_vs_uv")

    def cold(s: str) -> Optional[float]:
        """The alternating rounds' ratio where the run has them, else the blocks' (the headline has both)."""
        paired = v(f"build {s} cold, alternating rounds: ignite / uv+tar")
        return paired if paired is not None else v(f"build {s} cold: ignite / uv+tar")

    def cold_how(s: str) -> str:
        pc = _g(sets, s, "paired_cold")
        return f"{pc['rounds']} alternating rounds" if pc and v(f"build {s} cold, alternating rounds: ignite / uv+tar") \
            is not None else "the cold block"

    rows += [
        ("issue 36", f"cold S1 ≤ 1.0× uv + tar czf ({inst}; {cold_how('S1')})", cold("S1"), lambda r: r <= 1.0, _x),
        ("issue 36", f"cold S3 ≤ 1.2× uv + tar czf ({inst}; {cold_how('S3')})", cold("S3"), lambda r: r <= 1.2, _x),
        ("issue 36", f"cold L (≥ 40 vendored) ≤ 1.0× uv + tar czf ({inst})", v("build L cold: ignite / uv+tar"),
         lambda r: r <= 1.0, _x),
        ("issue 36", "warm S2 ≤ 1.0× bare `uv pip install --target` (warm cache)", v("build S2 warm: ignite / uv"),
         lambda r: r <= 1.0, _x),
        ("issue 36", "warm L ≤ 1.0× bare `uv pip install --target` (warm cache)", v("build L warm: ignite / uv"),
         lambda r: r <= 1.0, _x),
        ("issue 36", "build without requirements ≤ 50 ms over the interpreter's start (cold)",
         v("build none cold: ignite over the interpreter's start"), lambda r: r <= 50, lambda r: f"+{r:.1f} ms"),
        ("issue 36", "build without requirements ≤ 50 ms over the interpreter's start (warm)",
         v("build none warm: ignite over the interpreter's start"), lambda r: r <= 50, lambda r: f"+{r:.1f} ms"),
        ("issue 36", "pins identical with uv (default) and pip (`--resolver pip`) on the bench sets",
         v("pins: uv (default) == pip (--resolver pip)"), lambda r: r == 1.0,
         lambda r: (h.get("pins: uv (default) == pip (--resolver pip)") or {}).get("text", "")),
        ("issue 36", "artifact size S1 ≤ 1.0× uv + tar czf", size_ratio("S1"), lambda r: r <= 1.0, _x),
        ("issue 36", "artifact size S3 ≤ 1.0× uv + tar czf", size_ratio("S3"), lambda r: r <= 1.0, _x),
    ]
    for c in (_g(data, "serve", "throughput", "config", "high_connections") or [256, 1024]):
        rows += [
            ("issue 36", f"launcher 2xx req/s ≥ 1.0× granian at c{c}", v(f"2xx req/s c{c}: launcher / granian"),
             lambda r: r >= 1.0, _x),
            ("issue 36", f"launcher p99 latency ≤ granian's at c{c}", v(f"p99 latency c{c}: launcher / granian"),
             lambda r: r <= 1.0, _x),
        ]
    w("## Targets from the issues\n")
    w("| issue | target | this run | met |")
    w("|---|---|---|---|")
    for iss, what, val, ok, fmt in rows:
        if val is None:
            w(f"| {iss} | {what} | not measured | — |")
        else:
            w(f"| {iss} | {what} | {fmt(val)} | {'yes' if ok(val) else '**no**'} |")
    w("")


def where_we_lose(data: Dict[str, Any]) -> List[str]:
    out = [f"{l} Likely cause: {_cause(l)}." if _cause(l) else l for l in _losses(data)]
    return out


def _losses(data: Dict[str, Any]) -> List[str]:
    out: List[str] = []
    for k, v in (data.get("headline") or {}).items():
        r = v.get("value")
        if r is None:
            continue
        if k.startswith("pins:"):
            if r != 1.0:
                out.append(f"{k}: {v['text']} — uv and pip chose different versions.")
            continue
        if k.startswith("p99 latency") and r > 1:
            out.append(f"{k}: {v['text']} — the launcher's tail latency is higher.")
            continue
        if k.startswith("2xx req/s") and r < 1:
            out.append(f"{k}: {v['text']} — the launcher answers fewer requests successfully per second.")
            continue
        if k.startswith("req/s (all") or "over the interpreter's start" in k:
            if "over the interpreter's start" in k and "cold" in k and r > 50:
                out.append(f"{k}: {v['text']} — more than the 50 ms target of issue 36.")
            continue
        if k.startswith("req/s") and r < 1:
            out.append(f"{k}: {v['text']} — the launcher serves fewer requests per second.")
        elif k.startswith("server CPU") and r > PARITY:
            out.append(f"{k}: {v['text']} — the launcher spends more CPU per request.")
        elif (k.startswith("build") or k.startswith("cold start")) and "over python floor" not in k \
                and "--compile" not in k and r > PARITY:
            out.append(f"{k}: {v['text']} — ignite is slower.")
        elif "over python floor" in k and r > 30:
            out.append(f"{k}: {v['text']} — more than the 30 ms target of issue 6.")
    for s, e in (_g(data, "build", "sets") or {}).items():
        t = e.get("tools") or {}
        ig = t.get("ignite") or {}
        if not ig.get("available"):
            continue
        for phase in ("cold", "warm"):
            for peer in ("uv+tar",):
                r = _ratio(_med(ig, phase), _med(t.get(peer), phase))
                if r is not None and r > PARITY and s not in ("S1", "S2"):   # S1/S2 are in the headline
                    out.append(f"build {s} {phase}: ignite / {peer} {_x(r)} (ignite {_s(_med(ig, phase))} vs "
                               f"{_s(_med(t.get(peer), phase))}) — slower than install + tar.")
        z = e.get("size") or {}
        if e.get("requirements") and z.get("ignite_bytes"):
            for peer, key in (("pip --target + tar czf", "pip_tar_bytes"), ("uv --target + tar czf", "uv_tar_bytes")):
                if z.get(key) and z["ignite_bytes"] > z[key]:
                    out.append(f"size {s}: the artifact ({_mb(z['ignite_bytes'])}) is larger than {peer} "
                               f"({_mb(z[key])}). Likely cause: nothing preinstalled to skip in this set, and the "
                               "artifact also carries the launcher (its .py and .pyc) and the manifest (every file's "
                               "sha256)" + _fixed_share(z, key) + "; level 4 deflate (gzip's default is 6) for "
                               "the cold build's speed.")
        rp = _g(e, "repro", "ignite", "identical")
        if rp is False:
            out.append(f"build {s}: ignite artifacts were NOT byte-identical across builds.")
    return out


def _fixed_share(z: Dict[str, Any], key: str) -> str:
    fixed = z.get("ignite_fixed_bytes")
    if not fixed:
        return ""
    rest = z["ignite_bytes"] - fixed
    return (f": {fixed / 1024:.0f} KB of it compressed; without them {_mb(rest)}, "
            f"{rest / z[key]:.2f}× the peer")


def _how_to_read(w) -> None:
    w("## How to read this\n")
    w("""- **Machine**: a shared 2-core VM; absolute times move between runs by tens of percent. Compare the
  **ratios** (measured side by side, interleaved where possible), not absolute numbers across runs.
  Every timing is `median (min–max, n=runs)`.
- **Build**: wall time of one command, from a fresh copy of the source in a fresh directory.
  *cold* = every cache empty (a new cache dir for that run, so downloads hit the package index);
  *warm* = the cache the cold run filled. `ignite` is `ignite-pack build SRC -o OUT.tar.gz` and
  produces the deployable artifact. `uv` / `pip` only install into a `--target` directory — that is
  not yet something you can deploy; `uv+tar` / `pip+tar` add `tar czf` of that directory plus the
  source, which is what a hand-written CI step ships. The fair comparisons are ignite vs `*+tar`;
  ignite vs bare `uv` is the "how close to the fastest installer" figure (issue 10 goal: warm ≤ 2×).
  `pip` is run by CPython 3.12 with its own cache dir; `uv` with
  `--python-platform x86_64-manylinux_2_36 --python-version 3.12`. All tools see only the public
  index (the machine's pip config and local wheel dirs are switched off).
- **Files / bytes**: for ignite, regular files in the artifact and their unpacked size; for uv/pip,
  the installed `--target` tree. The naive trees contain the image's preinstalled packages again
  (numpy, requests, …) — ignite skips those; that is the **size** table.
- **Reproducibility**: every build of a set ran in a different directory (and cold vs warm);
  "identical" means all artifacts had the same sha256. The naive pipeline is `tar czf` of the
  pip/uv tree.
- **Cold start** (single-shot, as a platform sees it): wall time from `Popen` to the 200 of ONE
  `POST /`, sent on a connection opened as soon as the port accepts (the harness, on the other
  core, retries only a refused connection: uvicorn and functions-framework open their port after
  the import, the launcher before it and holds the request). Any other answer is a *failed cold
  start*, counted and never retried. The old figure (a new connection and POST every 0.5 ms
  until one gets 200) is kept as one secondary launcher row. Server pinned to core 0. The *floor* is `python -c pass`
  (spawn → exit). Subjects are measured round-robin, after one discarded warm-up start each.
  *hello* is the seed's `python-hello` handler; *heavy* imports `sklearn.linear_model`
  (scikit-learn + scipy vendored in the artifact; numpy from the image). Peers run in their own
  venvs with the same packages plus the image's preinstalled set (as they would on python:3.12);
  their venvs are writable, so the `.pyc` files are there after the warm-up start (as after pip's
  install-time compilation).
  The launcher runs from the unpacked artifact with the "image" venv's python (the preinstalled
  set installed), like `python -m __ignite__` on python:3.12. *read-only (no pyc written)* sets
  `PYTHONDONTWRITEBYTECODE=1` on an artifact without `.pyc`: what every cold start costs in a
  read-only container without `--compile`.
- **Throughput**: `wrk -t1 -cN --latency`, POST `{"name": "bench"}` to the hello handler, server on
  core 0, wrk on core 1, after a discarded warm-up. req/s, p50/p99 latency, and the server's RSS
  (whole process tree) after the run. Every peer wraps the handler with the same contract work
  (execution id, ctx dict, `json.dumps`, echoed header; `bench/apps/_adapter.py`).
  uvicorn+starlette appears twice: handler in starlette's threadpool (the same semantics as the
  launcher, whose sync handlers never block its I/O loop) and handler called on the event loop
  (faster for a trivial handler, stalls the server on a blocking one).
  granian (issue 18) runs `--interface wsgi --workers 1` (a supervisor process plus one worker
  process with Rust runtime threads and Python blocking threads; access log off by default) around
  the same `_adapter` work (`bench/apps/granian_wsgi.py`). *CPU µs/req* is the server tree's
  user+system CPU time during the wrk run divided by the requests answered: the work per request,
  much less sensitive to other load on the shared machine than req/s.
""")
    w(PROFILE)


def _tool_order(tools: Dict[str, Any]) -> List[str]:
    order = ["ignite", "ignite-pip", "ignite+lock", "uv", "uv+tar", "pip", "pip+tar"]
    return [t for t in order if t in tools] + [t for t in tools if t not in order]


def _build(w, data) -> None:
    b = data.get("build")
    w("## Build\n")
    if not b:
        w("Not run.\n")
        return
    ig = b.get("ignite") or {}
    if not ig.get("available"):
        w(f"**ignite-pack: not available: {ig.get('reason')}**\n")
    for s, e in (b.get("sets") or {}).items():
        w(f"### {s}: {e.get('desc')}\n")
        t = e.get("tools") or {}
        igt = t.get("ignite") or {}
        w("| tool | cold | warm | files | bytes | tar.gz | ignite ÷ tool (cold / warm) |")
        w("|---|---|---|---|---|---|---|")
        for name in _tool_order(t):
            te = t[name]
            if not te.get("available"):
                w(f"| {name} | not available: {_cell(te.get('reason'), 200)} | | | | | |")
                continue
            if name.startswith("ignite"):
                size, files, tgz = te.get("unpacked_bytes"), te.get("files"), te.get("bytes")
                rr = NA
            else:
                size, files, tgz = te.get("bytes"), te.get("files"), te.get("tar_bytes") if name.endswith("+tar") else None
                rc = _ratio(_med(igt, "cold"), _med(te, "cold")) if igt.get("available") else None
                rw = _ratio(_med(igt, "warm"), _med(te, "warm")) if igt.get("available") else None
                rr = f"{_x(rc)} / {_x(rw)}"
            w(f"| {name} | {_mmm(te.get('cold'))} | {_mmm(te.get('warm'))} | {files if files is not None else NA} "
              f"| {_mb(size)} | {_mb(tgz)} | {rr} |")
        if (t.get("ignite+lock") or {}).get("lock"):
            lk = t["ignite+lock"]["lock"]
            w(f"\n`ignite-pack lock` took {_s(lk.get('seconds'))} (made once, not counted in the builds); lock file `{lk.get('file')}`")
        w("")


def _size(w, data) -> None:
    w("## Size: artifact vs naive tar.gz\n")
    sets = _g(data, "build", "sets") or {}
    if not sets:
        w("Not run.\n")
        return
    w("| set | ignite artifact | (unpacked) | pip --target tar.gz | (tree) | uv --target tar.gz | saved vs pip | ignite ÷ pip |")
    w("|---|---|---|---|---|---|---|---|")
    for s, e in sets.items():
        z = e.get("size") or {}
        if not e.get("requirements"):
            w(f"| {s} | {_mb(z.get('ignite_bytes'))} | {_mb(z.get('ignite_unpacked_bytes'))} | {_mb(z.get('pip_tar_bytes'))} "
              f"| {_mb(z.get('pip_tree_bytes'))} | {_mb(z.get('uv_tar_bytes'))} | n/a | n/a (no requirements; the "
              "artifact also carries the launcher and manifest) |")
            continue
        w(f"| {s} | {_mb(z.get('ignite_bytes'))} | {_mb(z.get('ignite_unpacked_bytes'))} | {_mb(z.get('pip_tar_bytes'))} "
          f"| {_mb(z.get('pip_tree_bytes'))} | {_mb(z.get('uv_tar_bytes'))} | {_mb(z.get('saved_vs_pip_bytes'))} "
          f"| {_x(z.get('ratio_vs_pip'))} |")
    w("")
    slim = {s: e["slim"] for s, e in sets.items() if e.get("slim")}
    if slim:
        w("### `build --slim` (vendored test suites left out; warm cache)\n")
        w("| set | artifact | (unpacked) | without --slim | (unpacked) | unpacked ratio | left out | two slim builds identical |")
        w("|---|---|---|---|---|---|---|---|")
        for s, z in slim.items():
            d = z.get("dropped") or {}
            left = f"{d['files']} files, {_mb(d['bytes'])}" if d else "?"
            w(f"| {s} | {_mb(z.get('bytes'))} | {_mb(z.get('unpacked_bytes'))} | {_mb(z.get('full_bytes'))} "
              f"| {_mb(z.get('full_unpacked_bytes'))} | {_x(z.get('unpacked_ratio'))} | {left} "
              f"| {z.get('identical')} |")
        w("")


def _repro(w, data) -> None:
    w("## Reproducibility\n")
    sets = _g(data, "build", "sets") or {}
    if not sets:
        w("Not run.\n")
        return
    w("| set | ignite | ignite+lock | pip + tar czf | uv + tar czf |")
    w("|---|---|---|---|---|")

    def cell(r: Any) -> str:
        if not r:
            return NA
        if r.get("identical") is None:
            return f"n/a ({r.get('note')})"
        return (f"identical ({r['builds']} builds)" if r["identical"]
                else f"**differ** ({r['distinct_digests']} digests / {r['builds']} builds)")

    for s, e in sets.items():
        rp = e.get("repro") or {}
        w(f"| {s} | {cell(rp.get('ignite'))} | {cell(rp.get('ignite+lock'))} | {cell(rp.get('pip'))} | {cell(rp.get('uv'))} |")
    w("")


def _cold(w, data) -> None:
    w("## Cold start (single-shot: spawn → one POST as soon as the port accepts → its 200)\n")
    cs = _g(data, "serve", "cold_start")
    if not cs:
        w("Not run.\n")
        return
    w("| subject | median (min–max, n) | over floor | failed cold starts |")
    w("|---|---|---|---|")
    for k, r in (cs.get("rows") or {}).items():
        over = r.get("over_floor_ms")
        err = f" — errors: {r['errors'][0][:120]}" if r.get("errors") else ""
        failed = NA if k.startswith("floor") or "failed_cold_starts" not in r else f"{r['failed_cold_starts']} of {r.get('runs')}"
        w(f"| {r['label']} | {_mmm(r.get('stats'))} | {NA if over is None or k.startswith('floor') else f'+{over:.1f} ms'}{err} "
          f"| {failed} |")
    for k, why in (cs.get("unavailable") or {}).items():
        w(f"| {k} | not available: {_cell(why, 300)} | |")
    w("")
    if cs.get("ratios"):
        w("Ratios (median ÷ median): " + ", ".join(f"{k} {_x(v)}" for k, v in cs["ratios"].items()) + "\n")


def _tput(w, data) -> None:
    w("## Throughput and latency (wrk, hello handler)\n")
    tp = _g(data, "serve", "throughput")
    if not tp:
        w("Not run.\n")
        return
    cfg = tp.get("config") or {}
    conns = cfg.get("connections") or [1, 32]
    w(f"{cfg.get('duration_s')} s per run × {cfg.get('rounds')} round(s), wrk -t1, server on core "
      f"{cfg.get('server_cpu')}, wrk on core {cfg.get('client_cpu')}.\n")
    hdr = "| server | " + " | ".join(f"c{c} req/s | c{c} p50 ms | c{c} p99 ms | c{c} CPU µs/req" for c in conns) + \
        " | RSS MiB (peak) | errors |"
    w(hdr)
    w("|---|" + "---|---|---|---|" * len(conns) + "---|---|")
    for k, r in (tp.get("rows") or {}).items():
        cells = []
        errs = 0
        for c in conns:
            x = r.get(f"c{c}") or {}
            rps = _g(x, "rps", "median")
            cells += [NA if rps is None else f"{rps:,.0f}", _f1(_g(x, "p50_ms", "median")), _f1(_g(x, "p99_ms", "median")),
                      _f1(_g(x, "cpu_us_per_req", "median"))]
            errs += x.get("errors") or 0
        rss = _g(r, "rss_mib", "median")
        pk = _g(r, "peak_rss_mib", "median")
        w(f"| {r['label']} | " + " | ".join(cells) + f" | {_f1(rss)} ({_f1(pk)}) | {errs} |")
    for k, why in (tp.get("unavailable") or {}).items():
        w(f"| {k} | not available: {_cell(why, 300)} |" + " |" * (4 * len(conns) + 1))
    w("")
    if tp.get("ratios"):
        w("Ratios (launcher req/s ÷ peer req/s, medians): " + ", ".join(f"{k} {_x(v)}" for k, v in tp["ratios"].items()) + "\n")


def _f1(v: Optional[float]) -> str:
    return NA if v is None else f"{v:.1f}" if v < 100 else f"{v:,.0f}"


def _env(w, data) -> None:
    w("## Machine and versions\n")
    m = data.get("machine") or {}
    for k, v in m.items():
        w(f"- {k}: {v}")
    w(f"- target interpreter: `{data.get('target_python')}`")
    w("")
    w("| component | version |")
    w("|---|---|")
    for k, v in (data.get("versions") or {}).items():
        w(f"| {k} | {v if v is not None else 'missing'} |")
    st = data.get("setup")
    if st:
        w("")
        w(f"Peer setup this run: {st.get('seconds')} s — " + ", ".join(
            f"{v['venv']}: {v['status']}" for v in st.get("venvs", [])) + f"; wrk: {st.get('wrk')}. "
          "(The first run on a fresh machine creates the venvs and installs wrk; later runs reuse them.)")
    w("")


#: issue 36's scale table: closures of ~5, ~20, ~50 (L) and ~100 vendored distributions.
SCALE = (("~5", "N5"), ("~20", "N20"), ("~50", "L"), ("~100", "N100"))


def _scale(w, data) -> None:
    sets = _g(data, "build", "sets") or {}
    if not any(s in sets for _n, s in SCALE):
        return
    w("## Scale: build time by closure size (issue 36)\n")
    w("Cold = every cache empty; warm = the cache the cold run filled. *vendored*: distributions in the "
      "artifact (the image's preinstalled ones are skipped); *uv dists*: distributions in uv's --target tree "
      "(everything). Ratios are ignite ÷ peer of medians.\n")
    w("| closure | set | vendored | uv dists | ignite cold | uv+tar cold | ratio | ignite warm | uv warm (bare) "
      "| ratio | uv+tar warm | ratio |")
    w("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for approx, s in SCALE:
        t = _g(sets, s, "tools") or {}
        if not t:
            w(f"| {approx} | {s} | not run |" + " |" * 9)
            continue
        ig, uv, uvt = t.get("ignite") or {}, t.get("uv") or {}, t.get("uv+tar") or {}
        w(f"| {approx} | {s} | {ig.get('vendored_count', NA)} | {uv.get('dists', NA)} "
          f"| {_s(_med(ig, 'cold'))} | {_s(_med(uvt, 'cold'))} | {_x(_ratio(_med(ig, 'cold'), _med(uvt, 'cold')))} "
          f"| {_s(_med(ig, 'warm'))} | {_s(_med(uv, 'warm'))} | {_x(_ratio(_med(ig, 'warm'), _med(uv, 'warm')))} "
          f"| {_s(_med(uvt, 'warm'))} | {_x(_ratio(_med(ig, 'warm'), _med(uvt, 'warm')))} |")
    w("")


def _tput_high(w, data) -> None:
    tp = _g(data, "serve", "throughput") or {}
    cfg = tp.get("config") or {}
    high = cfg.get("high_connections") or []
    if not high:
        return
    w("## Many connections at once (issue 36: 256 and 1,024)\n")
    w(f"wrk -t1 -cN, the same hello handler and rounds as above; only {', '.join(cfg.get('high_subjects') or [])}. "
      "wrk's errors split by kind: *non-2xx* are answers (a 503 from a full queue is an answer, and a fast one), "
      "*socket* are connect/read/write/timeout errors. *2xx req/s* counts only successful answers. "
      f"Descriptor limit (RLIMIT_NOFILE, raised for wrk and the servers): {cfg.get('nofile_limit')}.\n")
    w("| server | conns | 2xx req/s | all req/s | p50 ms | p99 ms | CPU µs/req | non-2xx | socket errors (connect/read/write/timeout) |")
    w("|---|---|---|---|---|---|---|---|---|")
    for k, r in (tp.get("rows") or {}).items():
        for c in high:
            x = r.get(f"c{c}")
            if not x:
                continue
            se = x.get("errors_socket") or {}
            good, alls = _g(x, "good_rps", "median"), _g(x, "rps", "median")
            w(f"| {r['label']} | {c} | {NA if good is None else f'{good:,.0f}'} | {NA if alls is None else f'{alls:,.0f}'} "
              f"| {_f1(_g(x, 'p50_ms', 'median'))} | {_f1(_g(x, 'p99_ms', 'median'))} "
              f"| {_f1(_g(x, 'cpu_us_per_req', 'median'))} | {x.get('errors_non2xx', 0)} of {x.get('requests', 0)} "
              f"| {se.get('connect', 0)}/{se.get('read', 0)}/{se.get('write', 0)}/{se.get('timeout', 0)} |")
    w("")
