"""Cold start and throughput (wrk) of the launcher against the servers a user would
pick instead, all serving the same handler.

Cold start is measured the way a platform sees it (issue 14): spawn, connect as soon
as the port accepts (a refused connection is the only thing retried), send ONE POST
on that connection and time its answer.  A 200 is a cold start; anything else (a 5xx,
a reset) is a *failed* cold start, reported and never retried.  The older "poll until
200" figure is kept as a secondary row for the hello handler only.

Pinning: every server runs on core 0 (sched_setaffinity in the child); the harness
(the cold-start client) and wrk run on core 1.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tarfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import peers
from build_bench import ARTIFACTS, ignite_build, ignite_cache_env, ignite_status, make_source
from common import APPS, ROOT, WORK, clean_env, log, ratio, rmtree, stats

SERVE = WORK / "serve"
LOGS = SERVE / "logs"
SERVER_CPU = 0
CLIENT_CPU = 1
BODY = b'{"name": "bench"}'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Subject:
    """One way of serving the handler: argv + cwd + env; port filled in per start."""

    def __init__(self, name: str, argv: List[str], cwd: Path, env: Dict[str, str], note: str = ""):
        self.name, self.argv, self.cwd, self.env, self.note = name, argv, cwd, env, note

    def spawn(self, port: int) -> subprocess.Popen:
        env = dict(self.env, PORT=str(port))
        argv = [a.replace("{port}", str(port)) for a in self.argv]
        # stderr to a file, never an unread pipe: a per-request log line would fill a
        # pipe and stall the server mid-benchmark.
        LOGS.mkdir(parents=True, exist_ok=True)
        err = open(LOGS / f"{self.name}.stderr", "wb")
        try:
            p = subprocess.Popen(
                argv, cwd=self.cwd, env=env, stdout=subprocess.DEVNULL, stderr=err,
                start_new_session=True, preexec_fn=lambda: os.sched_setaffinity(0, {SERVER_CPU}),
            )
        finally:
            err.close()
        p.bench_log = LOGS / f"{self.name}.stderr"  # type: ignore[attr-defined]
        return p


def stop(p: subprocess.Popen) -> str:
    try:
        os.killpg(p.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        p.wait(5)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait(5)
    try:
        err = Path(p.bench_log).read_bytes()[-800:]  # type: ignore[attr-defined]
    except (OSError, AttributeError):
        err = b""
    return err.decode(errors="replace")


def post_once(port: int, timeout: float = 5.0) -> Optional[int]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("POST", "/", body=BODY, headers={"Content-Type": "application/json"})
        r = c.getresponse()
        r.read()
        return r.status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        c.close()


def _read_status(sock: socket.socket) -> int:
    """The status of one HTTP response on *sock* (read to its end: Content-Length bodies)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a response head ({len(buf)} bytes)")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    n = 0
    for line in lines[1:]:
        k, _, v = line.partition(":")
        if k.strip().lower() == "content-length":
            n = int(v.strip())
    while len(rest) < n:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed inside the body")
        rest += chunk
    return int(lines[0].split()[1])


def single_shot(subj: Subject, timeout: float = 90.0) -> Dict[str, Any]:
    """Spawn; connect as soon as the port accepts; ONE POST; time its answer.

    Only a refused connection is retried (the port is not open yet: uvicorn and
    functions-framework open it after the import).  Any answer but 200, or a
    connection closed without one, is a failed cold start.
    """
    port = free_port()
    request = (b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(BODY)) + BODY
    t0 = time.perf_counter()
    p = subj.spawn(port)
    try:
        while True:
            if p.poll() is not None:
                return {"ok": False, "error": f"exited {p.returncode} before accepting: {stop(p)}"}
            if time.perf_counter() - t0 > timeout:
                return {"ok": False, "error": f"port not accepting within {timeout}s: {stop(p)}"}
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                sock.connect(("127.0.0.1", port))
            except ConnectionRefusedError:
                sock.close()
                time.sleep(0.0005)
                continue
            break
        with sock:
            sock.settimeout(timeout)
            t_accept = time.perf_counter() - t0
            try:
                sock.sendall(request)
                status = _read_status(sock)
            except OSError as exc:
                return {"ok": False, "error": f"no answer to the one POST: {exc!r}", "failed_cold_start": True}
        el = time.perf_counter() - t0
        if status != 200:
            return {"ok": False, "error": f"the one POST got {status}", "status": status, "failed_cold_start": True}
        return {"ok": True, "seconds": el, "accept_seconds": t_accept}
    finally:
        if p.poll() is None:
            stop(p)


def time_to_first_200(subj: Subject, timeout: float = 90.0) -> Dict[str, Any]:
    """Secondary figure: POST every 0.5 ms (new connection each) until one gets 200."""
    port = free_port()
    t0 = time.perf_counter()
    p = subj.spawn(port)
    status = None
    while True:
        el = time.perf_counter() - t0
        if p.poll() is not None:
            return {"ok": False, "error": f"exited {p.returncode}: {stop(p)}"}
        if el > timeout:
            return {"ok": False, "error": f"no 200 within {timeout}s (last status {status}): {stop(p)}"}
        status = post_once(port)
        if status == 200:
            el = time.perf_counter() - t0
            stop(p)
            return {"ok": True, "seconds": el}
        time.sleep(0.0005 if status is None else 0.002)


def floor_time(py: str) -> Dict[str, Any]:
    t0 = time.perf_counter()
    p = subprocess.run([py, "-c", "pass"], preexec_fn=lambda: os.sched_setaffinity(0, {SERVER_CPU}))
    return {"ok": p.returncode == 0, "seconds": time.perf_counter() - t0}


# ------------------------------------------------------------------ subjects
def unpack(artifact: Path, dest: Path) -> Path:
    rmtree(dest)
    dest.mkdir(parents=True)
    subprocess.run(["tar", "xzf", str(artifact), "-C", str(dest)], check=True)
    return dest


def launcher_subject(name: str, root: Path, **env: str) -> Subject:
    # Per-request log lines off (warning), like the peers (uvicorn --no-access-log,
    # gunicorn's access log is off by default); a separate row keeps the default "info".
    base = {"IGNITE_HOST": "127.0.0.1", "IGNITE_FUNCTION_ID": "bench/hello", "IGNITE_ORGANIZATION_ID": "bench",
            "IGNITE_LOG_LEVEL": "warning"}
    base.update(env)
    e = clean_env(**base)
    return Subject(name, [str(peers.py("image")), "-m", "__ignite__"], root, e)


def peer_env(handler_dir: Path, **extra: str) -> Dict[str, str]:
    return clean_env(BENCH_HANDLER_DIR=str(handler_dir), PYTHONPATH=str(APPS), IGNITE_HOST="127.0.0.1", **extra)


def uvicorn_subject(name: str, handler_dir: Path, mode: str) -> Subject:
    return Subject(name, [str(peers.py("uvicorn")), "-m", "uvicorn", "starlette_app:app", "--app-dir", str(APPS),
                          "--host", "127.0.0.1", "--port", "{port}", "--http", "httptools", "--loop", "uvloop",
                          "--no-access-log", "--log-level", "warning", "--workers", "1"],
                   handler_dir, peer_env(handler_dir, BENCH_STARLETTE_MODE=mode))


def ff_subject(name: str, handler_dir: Path) -> Subject:
    ffbin = peers.py("ff").parent / "functions-framework"
    return Subject(name, [str(ffbin), "--target", "main", "--source", str(APPS / "ff_main.py"),
                          "--host", "127.0.0.1", "--port", "{port}"], handler_dir, peer_env(handler_dir))


def granian_subject(name: str, handler_dir: Path) -> Subject:
    # Access log off by default in granian (like the launcher row with the log off).
    gbin = peers.py("granian").parent / "granian"
    return Subject(name, [str(gbin), "--interface", "wsgi", "--workers", "1", "--host", "127.0.0.1",
                          "--port", "{port}", "--log-level", "warning", "granian_wsgi:app"],
                   handler_dir, peer_env(handler_dir))


def stdlib_subject(name: str, handler_dir: Path) -> Subject:
    return Subject(name, [str(peers.py("image")), str(APPS / "stdlib_server.py")], handler_dir, peer_env(handler_dir))


def handler_dirs() -> Dict[str, Path]:
    d = {"hello": make_source("none", SERVE / "handlers" / "hello"),
         "heavy": make_source("S2", SERVE / "handlers" / "heavy")}
    return d


def launcher_artifacts(py312: str, fresh: set) -> Dict[str, Any]:
    """hello = set 'none', heavy = set S2 (its handler imports sklearn). Reuse the
    build bench's artifacts; build them here when the build bench did not run."""
    st = ignite_status()
    out: Dict[str, Any] = {"status": st}
    for key, set_name in (("hello", "none"), ("heavy", "S2")):
        art = ARTIFACTS / f"{set_name}.tar.gz"
        if set_name not in fresh or not art.exists():   # never serve an artifact from an older packager
            if not st["available"]:
                out[key] = {"available": False, "reason": st["reason"]}
                continue
            log(f"serve: building {set_name} artifact for the launcher")
            src = make_source(set_name, SERVE / "src" / set_name)
            r = ignite_build(src, SERVE / "art" / f"{set_name}.tar.gz", ignite_cache_env(SERVE / "cache", py312), st)
            if not r["ok"]:
                out[key] = {"available": False, "reason": "ignite-pack build failed: " + r.get("error", "")}
                continue
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            shutil.copy(SERVE / "art" / f"{set_name}.tar.gz", art)
        out[key] = {"available": True, "artifact": art}
    if st["available"] and st.get("compile"):
        art = ARTIFACTS / "S2-compile.tar.gz"
        src = make_source("S2", SERVE / "src" / "S2c")
        r = ignite_build(src, art, ignite_cache_env(SERVE / "cache", py312), st, extra=["--compile"])
        out["heavy_compiled"] = {"available": r["ok"], "artifact": art} if r["ok"] else {
            "available": False, "reason": "ignite-pack build --compile failed: " + r.get("error", "")}
    else:
        out["heavy_compiled"] = {"available": False, "reason": "`ignite-pack build --compile` not implemented yet"
                                 if st["available"] else st["reason"]}
    return out


def _launcher_works(subj: Subject) -> Optional[str]:
    r = single_shot(subj, timeout=60)
    return None if r["ok"] else r["error"]


# ------------------------------------------------------------------ cold start
#: The launcher before issues 29 (strict HTTP/1.1 parser) and 31 (fault handling): the same
#: hello artifact with that launcher in place of today's is timed in the same rounds, so
#: "cold start unchanged" is a ratio from one run, not a comparison across runs.
BASELINE_REV = "3d4750c"


def baseline_launcher_root(hello_root: Path) -> Any:
    """A copy of the unpacked hello artifact whose ``__ignite__/`` is BASELINE_REV's launcher
    (its sources and committed 3.12 bytecode); a string saying why when git cannot give it."""
    import io

    dest = SERVE / "unpacked" / "hello-baseline"
    rmtree(dest)
    shutil.copytree(hello_root, dest)
    rmtree(dest / "__ignite__")
    p = subprocess.run(["git", "-C", str(ROOT), "archive", BASELINE_REV, "launcher", "packager/artifact/launcher_pyc"],
                       capture_output=True, timeout=60)
    if p.returncode != 0:
        return f"git archive {BASELINE_REV} failed: {p.stderr.decode(errors='replace').strip()[-200:]}"
    src = SERVE / "baseline-src"
    rmtree(src)
    src.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(p.stdout)) as tf:
        tf.extractall(src, filter="data")
    shutil.copytree(src / "launcher", dest / "__ignite__", ignore=shutil.ignore_patterns("__pycache__"))
    for f in (src / "packager" / "artifact" / "launcher_pyc").glob("*.cpython-312.pyc"):
        target = dest / f.name.replace("%", "/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(f, target)
    return dest


def cold_start(cfg: Dict[str, Any], py312: str, arts: Dict[str, Any], hd: Dict[str, Path]) -> Dict[str, Any]:
    subjects: List[Any] = []   # (key, label, Subject|callable, runs)
    unavailable: Dict[str, str] = {}
    n = cfg["cold_runs"]
    subjects.append(("floor_python", "python3.12 -c pass (bare interpreter)", lambda: floor_time(py312), n))
    if peers.venv_ok("image"):
        subjects.append(("floor_image", "python -c pass (image venv, the launcher's interpreter)",
                         lambda: floor_time(str(peers.py("image"))), n))
    for h in ("hello", "heavy"):
        a = arts.get(h, {})
        if a.get("available") and peers.venv_ok("image"):
            root = unpack(a["artifact"], SERVE / "unpacked" / h)
            s = launcher_subject(f"launcher-{h}", root)
            err = _launcher_works(s)   # also the discarded warm-up run (page cache, pycs where writable)
            if err:
                unavailable[f"launcher_{h}"] = "launcher did not answer 200: " + err
            else:
                subjects.append((f"launcher_{h}", f"ignite launcher, {h} handler", s, n))
                if h == "hello":  # secondary: the old "poll until 200" client, for comparison
                    subjects.append(("launcher_hello_poll", "ignite launcher, hello handler, client polls until 200 "
                                     "(secondary)", lambda s=s: time_to_first_200(s), n))
                    base = baseline_launcher_root(root)
                    if isinstance(base, str):
                        unavailable["baseline_launcher_hello"] = base
                    else:
                        bs = launcher_subject("launcher-hello-baseline", base)
                        err = _launcher_works(bs)
                        if err:
                            unavailable["baseline_launcher_hello"] = "did not answer 200: " + err
                        else:
                            subjects.append(("baseline_launcher_hello", f"the launcher of {BASELINE_REV} (before "
                                             "issues 29 and 31), hello handler", bs, n))
        else:
            unavailable[f"launcher_{h}"] = a.get("reason", "image venv missing")
    # Read-only container without --compile: nothing can write __pycache__, so each
    # cold start compiles the vendored sources again.
    a = arts.get("heavy", {})
    if a.get("available") and peers.venv_ok("image"):
        root = unpack(a["artifact"], SERVE / "unpacked" / "heavy-ro")
        s = launcher_subject("launcher-heavy-nopyc", root, PYTHONDONTWRITEBYTECODE="1")
        has_pyc = any(True for _ in (root / "vendor").rglob("*.pyc"))
        if not _launcher_works(s):
            subjects.append(("launcher_heavy_nopyc", "ignite launcher, heavy, read-only (no pyc written)"
                             + (" [artifact ships vendor .pyc]" if has_pyc else ""), s, cfg["cold_runs_nopyc"]))
    a = arts.get("heavy_compiled", {})
    if a.get("available"):
        root = unpack(a["artifact"], SERVE / "unpacked" / "heavy-compiled")
        s = launcher_subject("launcher-heavy-compiled", root, PYTHONDONTWRITEBYTECODE="1")
        err = _launcher_works(s)
        if err:
            unavailable["launcher_heavy_compiled"] = err
        else:
            subjects.append(("launcher_heavy_compiled", "ignite launcher, heavy, --compile artifact, read-only", s, n))
    else:
        unavailable["launcher_heavy_compiled"] = a.get("reason", "n/a")
    for h in ("hello", "heavy"):
        if peers.venv_ok("uvicorn"):
            s = uvicorn_subject(f"uvicorn-{h}", hd[h], "threadpool")
            err = _launcher_works(s)
            if err:
                unavailable[f"uvicorn_{h}"] = err
            else:
                subjects.append((f"uvicorn_{h}", f"uvicorn+starlette, {h} handler", s, n))
        else:
            unavailable[f"uvicorn_{h}"] = "uvicorn venv missing"
        if peers.venv_ok("ff"):
            s = ff_subject(f"ff-{h}", hd[h])
            err = _launcher_works(s)
            if err:
                unavailable[f"ff_{h}"] = err
            else:
                subjects.append((f"ff_{h}", f"functions-framework, {h} handler", s, n))
        else:
            unavailable[f"ff_{h}"] = "ff venv missing"
    if peers.venv_ok("image"):
        s = stdlib_subject("stdlib-hello", hd["hello"])
        if not _launcher_works(s):
            subjects.append(("stdlib_hello", "stdlib ThreadingHTTPServer, hello handler", s, n))

    samples: Dict[str, List[float]] = {k: [] for k, *_ in subjects}
    errors: Dict[str, List[str]] = {k: [] for k, *_ in subjects}
    failed: Dict[str, int] = {k: 0 for k, *_ in subjects}
    rounds = max(r for *_, r in subjects)
    for i in range(rounds):   # round-robin: drift on a noisy host hits every subject alike
        log(f"cold start round {i + 1}/{rounds}")
        for key, _label, s, runs in subjects:
            if i >= runs:
                continue
            r = s() if callable(s) else single_shot(s)
            if r["ok"]:
                samples[key].append(r["seconds"])
            else:
                errors[key].append(r["error"])
                if r.get("failed_cold_start"):
                    failed[key] += 1
    res: Dict[str, Any] = {"rows": {}, "unavailable": unavailable,
                           "method": "single-shot: spawn, connect when the port accepts, one POST, time its 200"}
    for key, label, _s, runs in subjects:
        res["rows"][key] = {"label": label, "stats": stats(samples[key]), "samples": samples[key],
                            "errors": errors[key][:3], "runs": min(runs, rounds), "failed_cold_starts": failed[key]}
    med = {k: (v["stats"] or {}).get("median") for k, v in res["rows"].items()}
    floor = med.get("floor_image") or med.get("floor_python")
    res["ratios"] = {}
    for k, m in med.items():
        if m is not None and floor:
            res["rows"][k]["over_floor_ms"] = (m - floor) * 1000
    for h in ("hello", "heavy"):
        L = med.get(f"launcher_{h}")
        for peer in ("uvicorn", "ff", "stdlib"):
            r = ratio(L, med.get(f"{peer}_{h}"))
            if r is not None:
                res["ratios"][f"launcher/{peer} {h}"] = r
    return res


# ------------------------------------------------------------------ throughput
def tree_pids(pid: int) -> List[int]:
    out = [pid]
    i = 0
    while i < len(out):
        try:
            for t in os.listdir(f"/proc/{out[i]}/task"):
                kids = Path(f"/proc/{out[i]}/task/{t}/children").read_text().split()
                out.extend(int(k) for k in kids)
        except OSError:
            pass
        i += 1
    return out


def rss_kib(pid: int) -> Dict[str, int]:
    rss = hwm = 0
    for p in tree_pids(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    hwm += int(line.split()[1])
        except OSError:
            pass
    return {"rss_kib": rss, "peak_rss_kib": hwm, "processes": len(tree_pids(pid))}


def cpu_ticks(pid: int) -> int:
    """utime + stime (clock ticks) of the server's whole process tree."""
    t = 0
    for p in tree_pids(pid):
        try:
            f = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            t += int(f[11]) + int(f[12])
        except (OSError, IndexError, ValueError):
            pass
    return t


def wrk(port: int, conns: int, seconds: float) -> Dict[str, Any]:
    argv = ["taskset", "-c", str(CLIENT_CPU), "wrk", "-t1", f"-c{conns}", f"-d{max(1, int(round(seconds)))}s",
            "--latency", "-s", str(APPS / "post.lua"), f"http://127.0.0.1:{port}/"]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    m = re.search(r"BENCHJSON (\{.*\})", p.stdout)
    if p.returncode != 0 or not m:
        return {"ok": False, "error": (p.stderr or p.stdout)[-500:]}
    d = json.loads(m.group(1))
    dur = d["duration_us"] / 1e6
    errs = sum(v for k, v in d.items() if k.startswith("err_"))
    # wrk's "errors" are of two kinds: answers that are not 2xx/3xx (err_status: a 503 from a full
    # queue is still an answer, and a fast one) and socket errors (connect/read/write/timeout).
    # `good_rps` counts only the 2xx answers: a server refusing half its load must not look faster.
    good = d["requests"] - d.get("err_status", 0)
    return {"ok": True, "rps": d["requests"] / dur if dur else None, "good_rps": good / dur if dur else None,
            "p50_ms": d["p50_us"] / 1000,
            "p90_ms": d["p90_us"] / 1000, "p99_ms": d["p99_us"] / 1000, "max_ms": d["max_us"] / 1000,
            "requests": d["requests"], "errors": errs, "non2xx": d.get("err_status", 0),
            "socket_errors": {k[4:]: d.get(k, 0) for k in ("err_connect", "err_read", "err_write", "err_timeout")},
            "error_detail": {k: v for k, v in d.items() if k.startswith("err_") and v}}


def throughput(cfg: Dict[str, Any], arts: Dict[str, Any], hd: Dict[str, Path]) -> Dict[str, Any]:
    subs: List[Any] = []
    unavailable: Dict[str, str] = {}
    a = arts.get("hello", {})
    if a.get("available") and peers.venv_ok("image"):
        root = unpack(a["artifact"], SERVE / "unpacked" / "tp-hello")
        subs.append(("launcher", "ignite launcher (request log off)", launcher_subject("launcher", root)))
        subs.append(("launcher_log", "ignite launcher, default: one stderr line per request (to a file)",
                     launcher_subject("launcher-log", root, IGNITE_LOG_LEVEL="info")))
    else:
        unavailable["launcher"] = a.get("reason", "image venv missing")
    if peers.venv_ok("uvicorn"):
        subs.append(("uvicorn", "uvicorn(httptools+uvloop)+starlette, handler in threadpool", uvicorn_subject("uvicorn", hd["hello"], "threadpool")))
        subs.append(("uvicorn_inline", "uvicorn(httptools+uvloop)+starlette, handler on the loop", uvicorn_subject("uvicorn-inline", hd["hello"], "inline")))
    else:
        unavailable["uvicorn"] = "uvicorn venv missing"
    if peers.venv_ok("ff"):
        subs.append(("ff", "functions-framework (gunicorn gthread, defaults)", ff_subject("ff", hd["hello"])))
    else:
        unavailable["ff"] = "ff venv missing"
    if peers.venv_ok("granian"):
        subs.append(("granian", "granian (Rust HTTP core), WSGI, 1 worker", granian_subject("granian", hd["hello"])))
    else:
        unavailable["granian"] = "granian venv missing"
    if peers.venv_ok("image"):
        subs.append(("stdlib", "stdlib ThreadingHTTPServer (HTTP/1.1)", stdlib_subject("stdlib", hd["hello"])))
    if not shutil.which("wrk"):
        return {"rows": {}, "unavailable": {"all": "wrk not installed"}}
    conns = cfg["wrk_conns"]
    # issue 36: a platform may send 256 or 1,024 requests at once; only the launcher and granian
    # (the fastest peer) are run there (the others are far behind at c32 already)
    high = list(cfg.get("wrk_high_conns") or [])
    high_subjects = set(cfg.get("wrk_high_subjects") or ("launcher", "granian"))

    def conns_of(key: str) -> List[int]:
        return conns + (high if key in high_subjects else [])

    runs: Dict[str, Dict[int, List[Dict[str, Any]]]] = {k: {c: [] for c in conns_of(k)} for k, *_ in subs}
    rss: Dict[str, List[Dict[str, int]]] = {k: [] for k, *_ in subs}
    for rnd in range(cfg["wrk_rounds"]):
        for key, label, s in subs:
            port = free_port()
            p = s.spawn(port)
            t0 = time.time()
            while post_once(port) != 200:
                if p.poll() is not None or time.time() - t0 > 90:
                    break
                time.sleep(0.01)
            if p.poll() is not None:
                unavailable[key] = "server exited: " + stop(p)
                continue
            wrk(port, 8, cfg["wrk_warmup"])   # warm-up, discarded
            for c in conns_of(key):
                log(f"wrk round {rnd + 1} {key} c{c} {cfg['wrk_seconds']}s")
                t0_cpu = cpu_ticks(p.pid)
                r = wrk(port, c, cfg["wrk_seconds"])
                if r.get("ok") and r.get("requests"):
                    # Server CPU per request: less sensitive to other load on the machine than req/s.
                    r["cpu_us_per_req"] = (cpu_ticks(p.pid) - t0_cpu) * 1e6 / os.sysconf("SC_CLK_TCK") / r["requests"]
                r.update(rss_kib(p.pid))
                runs[key][c].append(r)
            rss[key].append(rss_kib(p.pid))
            stop(p)
    res: Dict[str, Any] = {"rows": {}, "unavailable": unavailable, "config": {
        "duration_s": cfg["wrk_seconds"], "rounds": cfg["wrk_rounds"], "connections": conns,
        "high_connections": high, "high_subjects": sorted(high_subjects), "wrk_threads": 1,
        "nofile_limit": _nofile(),
        "server_cpu": SERVER_CPU, "client_cpu": CLIENT_CPU, "body": BODY.decode()}}
    for key, label, _s in subs:
        row: Dict[str, Any] = {"label": label}
        for c in conns_of(key):
            ok = [r for r in runs[key][c] if r.get("ok")]
            row[f"c{c}"] = {
                "rps": stats(r["rps"] for r in ok),
                "good_rps": stats(r["good_rps"] for r in ok if r.get("good_rps") is not None),
                "errors_non2xx": sum(r.get("non2xx", 0) for r in ok),
                "errors_socket": {k: sum((r.get("socket_errors") or {}).get(k, 0) for r in ok)
                                  for k in ("connect", "read", "write", "timeout")},
                "requests": sum(r.get("requests", 0) for r in ok),
                "p50_ms": stats(r["p50_ms"] for r in ok),
                "p99_ms": stats(r["p99_ms"] for r in ok),
                "cpu_us_per_req": stats(r["cpu_us_per_req"] for r in ok if r.get("cpu_us_per_req")),
                "errors": sum(r["errors"] for r in ok),
                "failed_runs": [r.get("error") for r in runs[key][c] if not r.get("ok")][:2],
            }
        row["rss_mib"] = stats(x["rss_kib"] / 1024 for x in rss[key])
        row["peak_rss_mib"] = stats(x["peak_rss_kib"] / 1024 for x in rss[key])
        row["processes"] = rss[key][0]["processes"] if rss[key] else None
        res["rows"][key] = row
    res["ratios"] = {}
    for c in conns:
        L = ((res["rows"].get("launcher") or {}).get(f"c{c}") or {}).get("rps") or {}
        LL = ((res["rows"].get("launcher_log") or {}).get(f"c{c}") or {}).get("rps") or {}
        for peer in ("uvicorn", "uvicorn_inline", "ff", "stdlib", "granian"):
            P = ((res["rows"].get(peer) or {}).get(f"c{c}") or {}).get("rps") or {}
            r = ratio(L.get("median"), P.get("median"))
            if r is not None:
                res["ratios"][f"launcher/{peer} c{c}"] = r
        G = ((res["rows"].get("granian") or {}).get(f"c{c}") or {}).get("rps") or {}
        r = ratio(LL.get("median"), G.get("median"))
        if r is not None:
            res["ratios"][f"launcher_log/granian c{c}"] = r
    for c in high:
        L = (res["rows"].get("launcher") or {}).get(f"c{c}") or {}
        G = (res["rows"].get("granian") or {}).get(f"c{c}") or {}
        for what in ("good_rps", "rps"):
            r = ratio((L.get(what) or {}).get("median"), (G.get(what) or {}).get("median"))
            if r is not None:
                res["ratios"][f"launcher/granian c{c}{' (2xx only)' if what == 'good_rps' else ''}"] = r
        r = ratio((L.get("p99_ms") or {}).get("median"), (G.get("p99_ms") or {}).get("median"))
        if r is not None:
            res["ratios"][f"p99 launcher/granian c{c}"] = r
    return res


def _nofile() -> Optional[int]:
    try:
        import resource

        return resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, OSError, ValueError):
        return None


def raise_nofile() -> None:
    """wrk -c1024 needs more than the usual soft limit of 1,024 descriptors (its own sockets; the
    servers it talks to inherit the same limit). Raised to the hard limit for this run."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = hard if hard != resource.RLIM_INFINITY else 65536
        if soft != resource.RLIM_INFINITY and soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    except (ImportError, OSError, ValueError):
        pass


def run(cfg: Dict[str, Any], py312: str, fresh: set = frozenset(), with_throughput: bool = True) -> Dict[str, Any]:
    raise_nofile()
    os.sched_setaffinity(0, {CLIENT_CPU})
    try:
        hd = handler_dirs()
        arts = launcher_artifacts(py312, set(fresh))
        out: Dict[str, Any] = {"artifacts": {k: {kk: str(vv) for kk, vv in v.items()} for k, v in arts.items()
                                             if k != "status"}}
        out["cold_start"] = cold_start(cfg, py312, arts, hd)
        if with_throughput:
            out["throughput"] = throughput(cfg, arts, hd)
        return out
    finally:
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
