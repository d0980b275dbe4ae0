"""The ``ignite-pack`` command line: the only module that prints or exits.

One error boundary (:class:`IgniteGroup`) turns every :class:`IgniteError`
into a one-line message with a hint and its own exit code, or into a JSON
object under ``--json``. Options shared by several commands are defined once
as decorators, the way pip-tools keeps its click options reusable.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional, TypeVar

import click

from packager import __version__
from packager.artifact import DEFAULT_LEVEL
from packager.errors import INTERNAL_ERROR_EXIT, HandlerFailed, IgniteError, UsageError

F = TypeVar("F", bound=Callable[..., Any])

_JSON = "ignite.json"
_QUIET = "ignite.quiet"


# ------------------------------------------------------------------ output helpers


def _use_color(stream: Any) -> bool:
    return "NO_COLOR" not in os.environ and hasattr(stream, "isatty") and stream.isatty()


def _style(text: str, stream: Any = None, **kw: Any) -> str:
    return click.style(text, **kw) if _use_color(stream or sys.stderr) else text


def json_mode() -> bool:
    ctx = click.get_current_context(silent=True)
    return bool(ctx and ctx.meta.get(_JSON))


def quiet_mode() -> bool:
    ctx = click.get_current_context(silent=True)
    return bool(ctx and ctx.meta.get(_QUIET))


def emit_json(obj: dict[str, Any]) -> None:
    click.echo(json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False))


def info(message: str) -> None:
    """A human line on stderr (never under --json or --quiet)."""
    if not json_mode() and not quiet_mode():
        click.echo(message, err=True)


def progress(stage: str, message: str) -> None:
    info(_style(f"[{stage}]", fg="cyan") + f" {message}")


def warn(message: str) -> None:
    if not json_mode():
        click.echo(_style("warning:", fg="yellow", bold=True) + f" {message}", err=True)


def human_size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"  # pragma: no cover


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMG]i?B|B)?\s*$", re.IGNORECASE)
_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "kib": 2**10, "mib": 2**20, "gib": 2**30}


def parse_size(text: str) -> int:
    """``50MB``, ``1.5GiB``, ``300KB``, ``1024`` -> bytes."""
    m = _SIZE.match(text)
    if not m:
        raise UsageError(f"invalid size {text!r}", where="--max-size", hint="use e.g. 50MB, 200MiB or 1GB")
    return int(float(m.group(1)) * _UNITS[(m.group(2) or "B").lower()])


# ------------------------------------------------------------------ error boundary


def report_error(exc: IgniteError) -> None:
    if json_mode():
        emit_json({"ok": False, "error": exc.to_dict()})
        return
    head = _style("error:", fg="red", bold=True)
    click.echo(f"{head} {exc}", err=True)
    if exc.hint:
        click.echo(_style("hint:", fg="cyan") + " " + exc.hint, err=True)


class IgniteGroup(click.Group):
    """The one place where errors become messages and exit codes."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except IgniteError as exc:
            report_error(exc)
            sys.exit(exc.exit_code)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit, KeyboardInterrupt):
            raise
        except Exception as exc:  # a bug in the packager, not in the input
            if json_mode():
                emit_json({"ok": False, "error": {"error": "internal", "message": repr(exc),
                                                   "exit_code": INTERNAL_ERROR_EXIT}})
            else:
                click.echo(_style("internal error:", fg="red", bold=True) + f" {exc!r}", err=True)
                click.echo(traceback.format_exc(), err=True)
                click.echo("This is a bug in ignite-packager; please report it with the output above.", err=True)
            sys.exit(INTERNAL_ERROR_EXIT)


# ------------------------------------------------------------------ reusable options


def _set_meta(key: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def cb(ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
        ctx.meta[key] = bool(value)
        return value

    return cb


def json_option(fn: F) -> F:
    return click.option(
        "--json", "as_json", is_flag=True, is_eager=True, expose_value=True,
        callback=_set_meta(_JSON), help="Print one JSON object on stdout; logs go to stderr.",
    )(fn)


def quiet_option(fn: F) -> F:
    return click.option(
        "-q", "--quiet", is_flag=True, is_eager=True, callback=_set_meta(_QUIET),
        help="Print only the result (and errors).",
    )(fn)


def python_option(fn: F) -> F:
    return click.option(
        "--python", "python", metavar="PATH", envvar="IGNITE_PYTHON",
        help="CPython 3.12 to run the launcher (default: found automatically; env IGNITE_PYTHON).",
    )(fn)


def dependency_options(fn: F) -> F:
    """Where distributions come from and how the cache is used (build and lock)."""
    opts = [
        click.option("--profile", metavar="NAME|PATH", help="Target profile (default python3.12)."),
        click.option("--index-url", envvar="IGNITE_INDEX_URL", metavar="URL",
                     help="Package index (default: pip's configuration). Never read from the upload."),
        click.option("--extra-index-url", "extra_index_urls", multiple=True, metavar="URL",
                     help="Additional package index."),
        click.option("--wheelhouse", "wheelhouses", multiple=True, metavar="DIR",
                     type=click.Path(path_type=Path, file_okay=False),
                     help="Directory of wheels to use before the index."),
        click.option("--offline", is_flag=True, envvar="IGNITE_OFFLINE",
                     help="No network: only the cache and --wheelhouse."),
        click.option("--cache-dir", type=click.Path(path_type=Path), envvar="IGNITE_CACHE_DIR",
                     help="Cache directory (default ~/.cache/ignite-packager)."),
        click.option("--vendor-anyway", "vendor_anyway", multiple=True, metavar="NAME",
                     help="Vendor NAME although the image preinstalls it (shadows the image's copy)."),
        click.option("--refresh", is_flag=True, help="Re-resolve instead of using a cached resolution."),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


def index_config(index_url: Optional[str], extra_index_urls: tuple[str, ...],
                 wheelhouses: tuple[Path, ...], offline: bool) -> Any:
    from packager.piprun import IndexConfig

    for w in wheelhouses:
        if not w.is_dir():
            raise UsageError(f"wheelhouse {w} is not a directory", where="--wheelhouse",
                             hint="pass a directory that holds .whl files")
    return IndexConfig(index_url=index_url, extra_index_urls=tuple(extra_index_urls),
                       find_links=tuple(str(w.resolve()) for w in wheelhouses), offline=offline)


def _find_312(python: Optional[str]) -> Optional[str]:
    """An explicit --python is checked now; otherwise CPython 3.12 is looked up only if a step needs it."""
    from packager.runtime import find_python

    return find_python("3.12", python) if python else None


def runtime_option(fn: F) -> F:
    return click.option(
        "--runtime", type=click.Choice(["auto", "image", "bare"]), default="auto", show_default=True,
        help="image: CPython 3.12 plus the image's preinstalled packages (a venv made once and cached); "
             "bare: CPython 3.12 alone; auto: image when the artifact relies on preinstalled packages "
             "or the image runtime already exists.",
    )(fn)


def _runtime_python(artifact: Path, python: Optional[str], runtime: str, cache_dir: Optional[Path] = None) -> str:
    from packager.artifact import read_manifest
    from packager.cache import default_cache_dir
    from packager.profile import load_profile
    from packager.runtime import ensure_image_runtime, find_python, image_runtime_dir

    py = find_python("3.12", python)
    if runtime == "bare":
        return py
    manifest = read_manifest(artifact)
    try:
        profile = load_profile(str(manifest.target.get("profile") or "python3.12"))
    except IgniteError:
        profile = load_profile(None)
    root = cache_dir or default_cache_dir()
    exists = (image_runtime_dir(profile.digest, root) / ".complete").is_file()
    if runtime == "image" or manifest.skipped or exists:
        return ensure_image_runtime(py, {str(k): v for k, v in profile.preinstalled.items()}, profile.digest, root, progress)
    return py


# ------------------------------------------------------------------ commands


@click.group(cls=IgniteGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ignite-pack")
def main() -> None:
    """Compile a Python function into a deterministic, deployable artifact."""


@main.command()
@click.argument("source", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), default=Path("artifact.tar.gz"),
              show_default=True, help="Where to write the artifact (written atomically).")
@click.option("--entry", metavar="MODULE:FUNCTION", help="Entry point (default handler:handler).")
@click.option("--convention", default="ignite", show_default=True,
              help="Handler convention the launcher hosts.")
@click.option("--lock", type=click.Path(path_type=Path, dir_okay=False),
              help="Install exactly this lock (pins + hashes) instead of resolving requirements.txt.")
@dependency_options
@click.option("--level", type=click.IntRange(1, 9), default=DEFAULT_LEVEL, show_default=True,
              help="gzip compression level.")
@click.option("--max-size", metavar="SIZE", help="Fail if the artifact is larger (e.g. 50MB, 200MiB).")
@python_option
@json_option
@quiet_option
def build(source: Path, output: Path, entry: Optional[str], convention: str, lock: Optional[Path],
          profile: Optional[str], index_url: Optional[str], extra_index_urls: tuple[str, ...],
          wheelhouses: tuple[Path, ...], offline: bool, cache_dir: Optional[Path],
          vendor_anyway: tuple[str, ...], refresh: bool,
          level: int, max_size: Optional[str], python: Optional[str], as_json: bool, quiet: bool) -> None:
    """Build SOURCE (handler.py, a directory, a .zip or a .tar.gz) into an artifact."""
    from packager.build import BuildOptions
    from packager.build import build as run_build
    from packager.checks import EntryPoint

    options = BuildOptions(
        source=source, output=output,
        entry=EntryPoint.parse(entry) if entry else None,
        convention=convention, profile=profile, python312=_find_312(python), level=level,
        max_size=parse_size(max_size) if max_size else None,
        index=index_config(index_url, extra_index_urls, wheelhouses, offline),
        cache_dir=cache_dir, wheelhouses=tuple(wheelhouses), lock=lock,
        vendor_anyway=frozenset(vendor_anyway), refresh=refresh,
    )
    result = run_build(options, progress)
    for w in result.warnings:
        warn(w)
    m = result.manifest
    if as_json:
        emit_json({
            "ok": True, "output": str(result.output), "sha256": result.sha256, "size": result.size,
            "files": result.files, "seconds": round(result.seconds, 3),
            "entry": f"{m.entry_module}:{m.entry_function}", "convention": m.convention,
            "vendored": [v.__dict__ for v in m.vendored], "skipped": [s.__dict__ for s in m.skipped],
            "warnings": list(result.warnings),
        })
        return
    click.echo(str(result.output))
    info(
        f"built {result.output}: {result.files} files, {human_size(result.size)}, "
        f"sha256 {result.sha256[:16]}…, {result.seconds:.2f}s"
    )
    info(f"entry {m.entry_module}:{m.entry_function} ({m.convention}), "
         f"{len(m.vendored)} vendored, {len(m.skipped)} preinstalled skipped")


@main.command()
@click.argument("source", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="Where to write the lock (default: requirements.lock next to the source directory, "
                   "else ./requirements.lock).")
@dependency_options
@python_option
@json_option
@quiet_option
def lock(source: Path, output: Optional[Path], profile: Optional[str], index_url: Optional[str],
         extra_index_urls: tuple[str, ...], wheelhouses: tuple[Path, ...], offline: bool,
         cache_dir: Optional[Path], vendor_anyway: tuple[str, ...], refresh: bool,
         python: Optional[str], as_json: bool, quiet: bool) -> None:
    """Lock SOURCE's requirements.txt for the target: exact versions and hashes (pip-tools)."""
    from packager.build import BuildOptions
    from packager.lock import lock_source

    if output is None:
        output = (source / "requirements.lock") if source.is_dir() else Path("requirements.lock")
    options = BuildOptions(
        source=source, output=output, profile=profile, python312=_find_312(python),
        index=index_config(index_url, extra_index_urls, wheelhouses, offline),
        cache_dir=cache_dir, wheelhouses=tuple(wheelhouses), vendor_anyway=frozenset(vendor_anyway),
        refresh=True,
    )
    result = lock_source(options, progress)
    if as_json:
        emit_json({"ok": True, "output": str(result.output), "pins": result.pins, "digest": result.digest})
        return
    click.echo(str(result.output))
    info(f"locked {len(result.pins)} distribution(s) for {result.profile} into {result.output}")


@main.command()
@click.argument("artifact", type=click.Path(path_type=Path))
@click.option("--files", "show_files", is_flag=True, help="List every file.")
@json_option
def inspect(artifact: Path, show_files: bool, as_json: bool) -> None:
    """Describe ARTIFACT from its manifest, offline, without unpacking it."""
    from packager.inspection import inspect_artifact

    info_ = inspect_artifact(artifact)
    d = info_.to_dict()
    if as_json:
        emit_json({"ok": True, **d})
        return
    m = info_.manifest
    out = [
        f"artifact   {artifact}",
        f"sha256     {info_.sha256}",
        f"size       {human_size(info_.size)} compressed, {human_size(d['total_file_bytes'])} in {len(m.files) + 1} files",
        f"entry      {m.entry_module}:{m.entry_function}  (convention {m.convention})",
        f"target     {m.target.get('profile')} — CPython {m.target.get('python')}, {m.target.get('image')}",
        f"launcher   {m.launcher_version}   packager {m.packager_version}",
        f"tree       {m.tree_digest}",
    ]
    if m.requirements:
        out.append(f"lock       {m.requirements.get('lock_digest', '-')}")
    if m.vendored:
        out.append("vendored")
        for v in sorted(m.vendored, key=lambda v: -v.size):
            out.append(f"  {v.name} {v.version}  {human_size(v.size)}  ({v.wheel})")
    if m.skipped:
        out.append("preinstalled (skipped)")
        for s in m.skipped:
            out.append(f"  {s.name} {s.version}  {s.reason}")
    out.append("sizes")
    for top, size in d["sizes_by_top_level"].items():
        out.append(f"  {top:<30} {human_size(size)}")
    if show_files:
        out.append("files")
        for f in m.files:
            out.append(f"  {f.mode:04o} {f.size:>10} {f.sha256[:12]} {f.path}")
    click.echo("\n".join(out))


@main.command()
@click.argument("artifact", type=click.Path(path_type=Path))
@json_option
def verify(artifact: Path, as_json: bool) -> None:
    """Recompute every file's sha256 against ARTIFACT's manifest."""
    from packager.inspection import verify_artifact

    report = verify_artifact(artifact)
    if as_json:
        emit_json({"ok": True, "sha256": report.info.sha256, "files_checked": report.files_checked})
        return
    click.echo(f"ok: {artifact}: {report.files_checked} files match the manifest")


def _read_payload(payload: Optional[str]) -> bytes:
    if payload is None:
        return b""
    if payload == "-":
        return sys.stdin.buffer.read()
    if payload.startswith("@"):
        return Path(payload[1:]).read_bytes()
    return payload.encode("utf-8")


@main.command()
@click.argument("artifact", type=click.Path(path_type=Path))
@click.option("-p", "--payload", metavar="DATA|@FILE|-", help="Request body (a string, @file, or - for stdin).")
@click.option("--path", "url_path", default="/", show_default=True, help="Request path.")
@click.option("-H", "--header", "headers", multiple=True, metavar="NAME: VALUE", help="Extra request header.")
@click.option("--logs", is_flag=True, help="Show the launcher's output on stderr.")
@runtime_option
@python_option
@json_option
def invoke(artifact: Path, payload: Optional[str], url_path: str, headers: tuple[str, ...],
           logs: bool, runtime: str, python: Optional[str], as_json: bool) -> None:
    """Run ARTIFACT under CPython 3.12, POST a payload, print the response body."""
    from packager.invoke import invoke as run_invoke

    hdrs: dict[str, str] = {}
    for h in headers:
        name, sep, value = h.partition(":")
        if not sep:
            raise UsageError(f"invalid header {h!r}", where="--header", hint="use 'Name: value'")
        hdrs[name.strip()] = value.strip()
    py = _runtime_python(artifact, python, runtime)
    result = run_invoke(artifact, _read_payload(payload), py, path=url_path, headers=hdrs)
    r = result.response
    if logs and not as_json:
        click.echo(result.logs, err=True, nl=False)
    if as_json:
        body: Any
        try:
            body = json.loads(r.body)
        except ValueError:
            body = r.body.decode("utf-8", "replace")
        emit_json({"ok": r.status < 500, "status": r.status, "headers": r.headers, "body": body,
                   "logs": result.logs})
    else:
        sys.stdout.buffer.write(r.body)
        if not r.body.endswith(b"\n"):
            sys.stdout.buffer.write(b"\n")
        sys.stdout.flush()
    if r.status >= 500:
        exc = HandlerFailed(f"the function answered HTTP {r.status}", where=str(artifact),
                            hint="the body above has the error and traceback; --logs shows the launcher's output")
        if not as_json:
            report_error(exc)
        sys.exit(exc.exit_code)


@main.command()
@click.argument("artifact", type=click.Path(path_type=Path))
@click.option("--port", type=int, default=8080, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@runtime_option
@python_option
def serve(artifact: Path, port: int, host: str, runtime: str, python: Optional[str]) -> None:
    """Run ARTIFACT in the foreground until Ctrl-C (signals are passed to the launcher)."""
    from packager.invoke import launcher_argv, launcher_env, unpacked

    py = _runtime_python(artifact, python, runtime)
    with unpacked(artifact) as u:
        info(f"serving {artifact} on http://{host}:{port} (Ctrl-C to stop)")
        proc = subprocess.Popen(launcher_argv(py), cwd=u.root, env=launcher_env(port, host))

        def forward(signum: int, _frame: Any) -> None:
            if proc.poll() is None:
                proc.send_signal(signum)

        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, forward)
        code = proc.wait()
    sys.exit(code if code >= 0 else 128 - code)


if __name__ == "__main__":  # pragma: no cover
    main()
