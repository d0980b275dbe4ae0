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
from typing import TYPE_CHECKING, Any, Optional, TypeVar

import click

from packager import __version__
from packager.artifact import DEFAULT_LEVEL
from packager.conventions import names as convention_names
from packager.errors import (
    EXIT_CODES,
    INTERNAL_ERROR_EXIT,
    ConfigError,
    HandlerFailed,
    IgniteError,
    RequestRefused,
    UsageError,
    redact,
)

if TYPE_CHECKING:
    from packager.slim import SlimSettings

F = TypeVar("F", bound=Callable[..., Any])

_JSON = "ignite.json"
_QUIET = "ignite.quiet"

SBOM_FORMATS = ("cyclonedx-json", "spdx-json")  # packager.sbom.FORMATS (not imported: it is optional)
ERROR_SCHEMA = "ignite-error/1"
BUILD_SCHEMA = "ignite-build/1"
LOCK_SCHEMA = "ignite-lock/1"


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
    click.echo(redact(json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False)))


def info(message: str) -> None:
    """A human line on stderr (never under --json or --quiet)."""
    if not json_mode() and not quiet_mode():
        click.echo(redact(message), err=True)


def progress(stage: str, message: str) -> None:
    info(_style(f"[{stage}]", fg="cyan") + f" {message}")


def warn(message: str) -> None:
    if not json_mode():
        click.echo(_style("warning:", fg="yellow", bold=True) + f" {redact(message)}", err=True)


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
        emit_json({"schema": ERROR_SCHEMA, "ok": False, "error": exc.to_dict()})
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
                emit_json({"schema": ERROR_SCHEMA, "ok": False,
                           "error": {"error": "internal", "message": redact(repr(exc)), "where": None, "hint": None,
                                     "exit_code": INTERNAL_ERROR_EXIT}})
            else:
                click.echo(_style("internal error:", fg="red", bold=True) + f" {redact(repr(exc))}", err=True)
                click.echo(redact(traceback.format_exc()), err=True)
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


def config_options(fn: F) -> F:
    """``--config FILE`` / ``--no-config``: where build settings come from besides the flags."""
    fn = click.option("--no-config", is_flag=True,
                      help="Ignore ignite.toml / pyproject.toml [tool.ignite] next to the source.")(fn)
    return click.option(
        "--config", "config_file", type=click.Path(path_type=Path, dir_okay=False), metavar="FILE",
        help="Read settings from FILE (default: ignite.toml, else pyproject.toml [tool.ignite], "
             "next to the source). Command-line flags win.",
    )(fn)


def apply_config(ctx: click.Context, source: Path) -> tuple[dict[str, Any], Optional[Path]]:
    """The command's parameters with configuration-file values filled in where no flag was given.

    A value counts as given when it came from the command line or an environment
    variable (click's ``ParameterSource``); defaults are replaced by the file's value.
    """
    from packager.config import load_config

    params = dict(ctx.params)
    if params.get("no_config"):
        return params, None
    cfg = load_config(source, params.get("config_file"))
    by_name = {p.name: p for p in ctx.command.params}
    for name, value in cfg.values.items():
        param = by_name.get(name)
        if param is None:
            continue  # a key for another command (e.g. entry for lock)
        src = ctx.get_parameter_source(name)
        if src in (click.core.ParameterSource.COMMANDLINE, click.core.ParameterSource.ENVIRONMENT):
            continue
        try:  # the flag's own type checks the file's value too (choices, ranges, paths)
            params[name] = param.type_cast_value(ctx, value)
        except click.BadParameter as exc:
            raise ConfigError(f"{exc.message}", where=f"{cfg.path}: {name.replace('_', '-')}",
                              hint=f"fix the value or pass {param.opts[-1] if param.opts else name} instead") from None
    return params, cfg.path


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


def slim_options(fn: F) -> F:
    """``--slim`` / ``--slim-drop`` / ``--slim-keep``: what is left out of vendor/ (packager.slim)."""
    fn = click.option("--slim-keep", "slim_keep", multiple=True, metavar="GLOB",
                      help="Keep vendored files matching GLOB although a drop rule matches (wins over drops).")(fn)
    fn = click.option("--slim-drop", "slim_drop", multiple=True, metavar="GLOB",
                      help="Also leave out vendored files matching GLOB (gitignore-style, relative to "
                           "vendor/: '*.pyi', 'scipy/**/*.pyx', 'docs/'). Never touches your source.")(fn)
    return click.option("--slim/--no-slim", "slim", default=False,
                        help="Leave the vendored distributions' test suites out: tests/ and test/ "
                             "directories and conftest.py. Shared libraries are never stripped.")(fn)


def slim_settings(p: dict[str, Any]) -> SlimSettings:
    """The build's slim settings from its parameters; bad patterns fail here, before any work."""
    from packager.slim import SlimSettings

    settings = SlimSettings(tests=bool(p["slim"]), drop=tuple(p["slim_drop"]), keep=tuple(p["slim_keep"]))
    settings.matcher()  # invalid patterns are usage errors before any work
    return settings


def entry_options(fn: F) -> F:
    """Which function the launcher calls, and in which platform's style (build and lock)."""
    fn = click.option("--convention", type=click.Choice(convention_names()), default="ignite", show_default=True,
                      help="Handler convention the launcher hosts (docs/conventions.md); "
                           "also picks the default --entry.")(fn)
    return click.option("--entry", metavar="MODULE:FUNCTION",
                        help="Entry point (default handler:handler; other conventions have their own).")(fn)


# ------------------------------------------------------------------ commands


@click.group(cls=IgniteGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ignite-pack")
def main() -> None:
    """Compile a Python function into a deterministic, deployable artifact."""


@main.command()
@click.argument("source", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), default=Path("artifact.tar.gz"),
              show_default=True, help="Where to write the artifact (written atomically).")
@entry_options
@click.option("--lock", type=click.Path(path_type=Path, dir_okay=False),
              help="Install exactly this lock (pins + hashes) instead of resolving requirements.txt.")
@dependency_options
@click.option("--level", type=click.IntRange(1, 9), default=DEFAULT_LEVEL, show_default=True,
              help="gzip compression level.")
@click.option("--max-size", metavar="SIZE",
              help="Fail, writing nothing, if the artifact is larger (50MB, 200MiB, 1GB, 300KB, 1024).")
@click.option("--compile/--no-compile", "compile", default=False,
              help="Precompile the source and vendor/ to CPython 3.12 unchecked-hash .pyc (needs a 3.12).")
@slim_options
@click.option("--sbom", type=click.Path(path_type=Path, dir_okay=False), metavar="FILE",
              help="Also write the artifact's SBOM to FILE (see `ignite-pack sbom`; needs ignite-packager[sbom]).")
@click.option("--sbom-format", type=click.Choice(SBOM_FORMATS), default="cyclonedx-json", show_default=True,
              help="Format of --sbom.")
@config_options
@python_option
@json_option
@quiet_option
@click.pass_context
def build(ctx: click.Context, /, source: Path, **_: Any) -> None:
    """Build SOURCE (handler.py, a directory, a .zip or a .tar.gz) into an artifact.

    Settings may also come from ignite.toml or pyproject.toml [tool.ignite] next to
    SOURCE; flags given on the command line win.
    """
    from packager.build import BuildOptions
    from packager.build import build as run_build
    from packager.checks import EntryPoint

    p, config_path = apply_config(ctx, source)
    if config_path:
        progress("config", f"settings from {config_path}")
    if p["sbom"]:
        from packager.sbom import require_library

        require_library(p["sbom_format"])  # before any work: a missing extra is found at once
    options = BuildOptions(
        source=source, output=p["output"],
        entry=EntryPoint.parse(p["entry"]) if p["entry"] else None,
        convention=p["convention"], profile=p["profile"], python312=_find_312(p["python"]), level=p["level"],
        max_size=parse_size(p["max_size"]) if p["max_size"] else None,
        index=index_config(p["index_url"], p["extra_index_urls"], p["wheelhouses"], p["offline"]),
        cache_dir=p["cache_dir"], wheelhouses=tuple(p["wheelhouses"]), lock=p["lock"],
        vendor_anyway=frozenset(p["vendor_anyway"]), refresh=p["refresh"], compile=p["compile"],
        slim=slim_settings(p),
    )
    result = run_build(options, progress)
    if p["sbom"]:
        from packager.sbom import write_sbom

        progress("sbom", f"writing {p['sbom']} ({p['sbom_format']})")
        write_sbom(result.output, p["sbom"], p["sbom_format"])
    for w in result.warnings:
        warn(w)
    m = result.manifest
    if p["as_json"]:
        emit_json({
            "schema": BUILD_SCHEMA,
            "ok": True, "output": str(result.output), "sha256": result.sha256, "size": result.size,
            "files": result.files, "seconds": round(result.seconds, 3),
            "entry": f"{m.entry_module}:{m.entry_function}", "convention": m.convention,
            "compiled": m.compiled, "tree_digest": m.tree_digest,
            "config": str(config_path) if config_path else None,
            "vendored": [v.__dict__ for v in m.vendored], "skipped": [s.__dict__ for s in m.skipped],
            "warnings": list(result.warnings),
            "slim": m.slim or None, "sbom": str(p["sbom"]) if p["sbom"] else None,
        })
        return
    click.echo(str(result.output))
    info(
        f"built {result.output}: {result.files} files, {human_size(result.size)}, "
        f"sha256 {result.sha256[:16]}…, {result.seconds:.2f}s"
    )
    info(f"entry {m.entry_module}:{m.entry_function} ({m.convention}), "
         f"{len(m.vendored)} vendored, {len(m.skipped)} preinstalled skipped")
    if m.slim:
        t = m.slim["total"]
        info(f"slim: left out {t['files']} files, {human_size(t['bytes'])} (patterns: {' '.join(m.slim['patterns'])})")
    if p["sbom"]:
        info(f"sbom {p['sbom']} ({p['sbom_format']})")


@main.command()
@click.argument("source", type=click.Path(path_type=Path))
@entry_options
@click.option("-o", "--output", "lock_output", type=click.Path(path_type=Path),
              help="Where to write the lock (default: requirements.lock next to the source directory, "
                   "else ./requirements.lock).")
@dependency_options
@config_options
@python_option
@json_option
@quiet_option
@click.pass_context
def lock(ctx: click.Context, /, source: Path, **_: Any) -> None:
    """Lock SOURCE's requirements.txt for the target: exact versions and hashes (pip-tools)."""
    from packager.build import BuildOptions
    from packager.checks import EntryPoint
    from packager.lock import lock_source

    p, _config_path = apply_config(ctx, source)
    output: Optional[Path] = p["lock_output"]
    profile, python, cache_dir, as_json = p["profile"], p["python"], p["cache_dir"], p["as_json"]
    index_url, extra_index_urls, wheelhouses, offline = (p["index_url"], p["extra_index_urls"],
                                                         p["wheelhouses"], p["offline"])
    vendor_anyway = p["vendor_anyway"]
    if output is None:
        output = (source / "requirements.lock") if source.is_dir() else Path("requirements.lock")
    options = BuildOptions(
        source=source, output=output, profile=profile, python312=_find_312(python),
        entry=EntryPoint.parse(p["entry"]) if p["entry"] else None, convention=p["convention"],
        index=index_config(index_url, extra_index_urls, wheelhouses, offline),
        cache_dir=cache_dir, wheelhouses=tuple(wheelhouses), vendor_anyway=frozenset(vendor_anyway),
        refresh=True,
    )
    result = lock_source(options, progress)
    if as_json:
        emit_json({"schema": LOCK_SCHEMA, "ok": True, "output": str(result.output), "pins": result.pins,
                   "digest": result.digest})
        return
    click.echo(str(result.output))
    info(f"locked {len(result.pins)} distribution(s) for {result.profile} into {result.output}")


@main.command()
@click.argument("artifact", type=click.Path(path_type=Path))
@click.option("--files", "show_files", is_flag=True, help="List every file (mode, size, sha256, path).")
@json_option
@quiet_option
def inspect(artifact: Path, show_files: bool, as_json: bool, quiet: bool) -> None:
    """Describe ARTIFACT from its manifest, offline, without unpacking it.

    --json prints the ignite-inspect/1 document (packager/schemas/inspect.json).
    """
    from packager.inspection import inspect_artifact

    info_ = inspect_artifact(artifact)
    d = info_.to_dict()
    if as_json:
        emit_json({"ok": True, **d})
        return
    click.echo("\n".join(inspect_lines(d, show_files)))


def inspect_lines(d: dict[str, Any], show_files: bool = False) -> list[str]:
    """The human report of an ignite-inspect/1 document."""
    t = d["target"]
    out = [
        f"artifact   {d['artifact']['path']}",
        f"sha256     {d['artifact']['sha256']}",
        f"size       {human_size(d['artifact']['size'])} compressed, "
        f"{human_size(d['totals']['bytes'])} in {d['totals']['files']} files",
        f"entry      {d['entry']['module']}:{d['entry']['function']}  (convention {d['convention']})",
        f"target     {t.get('profile')} — CPython {t.get('python')}, {t.get('image')}",
        f"launcher   {d['launcher_version']}   packager {d['packager_version']}",
        f"tree       {d['tree_digest']}",
        f"lock       {d['lock_digest'] or '-'}",
        f"compiled   {'yes (CPython 3.12 unchecked-hash pycs)' if d['compiled'] else 'no'}",
    ]
    if d["vendored"]:
        out.append(f"vendored ({len(d['vendored'])}, largest first)")
        width = max(len(f"{v['name']} {v['version']}") for v in d["vendored"])
        for v in d["vendored"]:
            label = f"{v['name']} {v['version']}"
            out.append(f"  {label:<{width}}  {human_size(v['size']):>10}  {v['files']:>5} files  {v['wheel']}")
    else:
        out.append("vendored   none")
    if d["skipped"]:
        out.append(f"preinstalled, not vendored ({len(d['skipped'])})")
        for sk in d["skipped"]:
            out.append(f"  {sk['name']} {sk['version']}  ({sk['reason']})")
    slim = d.get("slim")
    if slim:
        out.append(f"slim       left out {slim['dropped_files']} files, {human_size(slim['dropped_bytes'])} "
                   f"(unpacked size {slim['ratio']:.0%} of the full build; patterns: {' '.join(slim['patterns'])}"
                   + (f"; keep: {' '.join(slim['keep'])}" if slim["keep"] else "") + ")")
        for row in slim["distributions"]:
            if row["files"]:
                out.append(f"  {row['name']:<30} -{human_size(row['bytes']):>10}  {row['files']:>5} files")
    out.append("sizes (uncompressed, by top-level entry)")
    for row in d["sizes_by_top_level"]:
        out.append(f"  {row['path']:<30} {human_size(row['size']):>10}  {row['files']:>5} files")
    out.append(f"  {'total':<30} {human_size(d['totals']['bytes']):>10}  {d['totals']['files']:>5} files")
    if show_files:
        out.append("files")
        for f in d["files"]:
            out.append(f"  {f['mode']} {f['size']:>10} {f['sha256'][:12]} {f['path']}")
    return out


@main.command()
@click.argument("artifact", type=click.Path(path_type=Path))
@click.option("--strict", is_flag=True,
              help="Also check vendored RECORD files, the vendored wheels found in the cache or a "
                   "--wheelhouse, precompiled files, and that the entry parses as Python 3.12.")
@click.option("--wheelhouse", "wheelhouses", multiple=True, metavar="DIR",
              type=click.Path(path_type=Path, file_okay=False),
              help="With --strict: also look for the vendored wheels here.")
@click.option("--cache-dir", type=click.Path(path_type=Path), envvar="IGNITE_CACHE_DIR",
              help="With --strict: the cache whose wheels are compared (default ~/.cache/ignite-packager).")
@python_option
@json_option
@quiet_option
def verify(artifact: Path, strict: bool, wheelhouses: tuple[Path, ...], cache_dir: Optional[Path],
           python: Optional[str], as_json: bool, quiet: bool) -> None:
    """Recompute every file's sha256 against ARTIFACT's manifest (--strict: much more)."""
    from packager.cache import default_cache_dir
    from packager.inspection import verify_artifact
    from packager.runtime import optional_python

    root = cache_dir or default_cache_dir()
    dirs = [*wheelhouses, root / "wheels", root / "built"]
    py: Any = _find_312(python) if python else (lambda: optional_python("3.12"))
    report = verify_artifact(artifact, strict=strict, python312=py, wheel_dirs=dirs)
    for w in report.warnings:
        warn(w)
    if as_json:
        emit_json(report.to_dict())
        return
    if quiet:
        return
    click.echo(f"ok: {artifact}: {report.files_checked} files match the manifest")
    if strict:
        click.echo(f"ok: strict: {report.records_checked} RECORD file(s), {len(report.wheels_checked)} "
                   f"cached wheel(s), {report.pycs_checked} pyc(s), entry parses as Python 3.12")


@main.command()
@click.argument("artifact", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(SBOM_FORMATS), default="cyclonedx-json", show_default=True,
              help="CycloneDX 1.6 JSON or SPDX 2.3 JSON.")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), metavar="FILE",
              help="Write to FILE (atomically) instead of stdout.")
@click.option("--name", metavar="NAME", help="Name of the function (root component); default: the file name.")
@quiet_option
def sbom(artifact: Path, fmt: str, output: Optional[Path], name: Optional[str], quiet: bool) -> None:
    """Print ARTIFACT's software bill of materials, offline (needs ignite-packager[sbom]).

    The function is the root component; every vendored distribution is listed with
    its version, purl, the wheel's SHA-256 and its license; the image's preinstalled
    packages are listed under the image component. Same artifact, same bytes
    (no timestamp unless SOURCE_DATE_EPOCH is set).
    """
    from packager.sbom import collect, render, require_library, write_sbom

    require_library(fmt)
    if output is not None:
        write_sbom(artifact, output, fmt, name)
        info(f"wrote {output} ({fmt})")
        return
    sys.stdout.buffer.write(render(collect(artifact, name), fmt))
    sys.stdout.flush()


@main.command()
@click.argument("old", type=click.Path(path_type=Path))
@click.argument("new", type=click.Path(path_type=Path))
@json_option
@quiet_option
def diff(old: Path, new: Path, as_json: bool, quiet: bool) -> None:
    """What changed from artifact OLD to artifact NEW.

    Exit status: 0 when identical (same files and metadata), 1 when different,
    another code on error (see `ignite-pack exit-codes`).
    """
    from packager.diff import diff_artifacts
    from packager.inspection import inspect_artifact

    result = diff_artifacts(inspect_artifact(old), inspect_artifact(new))
    if as_json:
        emit_json({"ok": True, **result.to_dict()})
    elif not quiet:
        click.echo("\n".join(diff_lines(result.to_dict())))
    sys.exit(0 if result.identical else 1)


def _signed(n: int) -> str:
    return ("+" if n > 0 else "-" if n < 0 else "±") + human_size(abs(n))


def diff_lines(d: dict[str, Any]) -> list[str]:
    """The human report of an ignite-diff/1 document."""
    o, n = d["old"], d["new"]
    out = [
        f"old  {o['path']}  sha256 {o['sha256'][:16]}…  {human_size(o['size'])}",
        f"new  {n['path']}  sha256 {n['sha256'][:16]}…  {human_size(n['size'])}  "
        f"({_signed(d['artifact_size_delta'])})",
    ]
    if d["identical"]:
        out.append("identical" + (" (byte for byte)" if d["same_bytes"] else " (same files and metadata)"))
        return out
    if d["metadata"]:
        out.append("changed")
        for c in d["metadata"]:
            old, new = c["old"], c["new"]
            if isinstance(old, (list, dict)) or isinstance(new, (list, dict)):
                out.append(f"  {c['field']}")
            else:
                out.append(f"  {c['field']}: {old} -> {new}")
    src = d["source"]
    if any(src.values()):
        out.append("source files")
        out += [f"  + {x}" for x in src["added"]]
        out += [f"  - {x}" for x in src["removed"]]
        out += [f"  ~ {x}" for x in src["changed"]]
    if d["distributions"]:
        out.append("distributions")
        mark = {"added": "+", "removed": "-", "upgraded": "↑", "downgraded": "↓", "rebuilt": "~"}
        for c in d["distributions"]:
            if c["change"] == "added":
                out.append(f"  + {c['name']} {c['new']}")
            elif c["change"] == "removed":
                out.append(f"  - {c['name']} {c['old']}")
            else:
                out.append(f"  {mark[c['change']]} {c['name']} {c['old']} -> {c['new']} ({c['change']})")
    for key, label in (("vendor_files", "vendor files"), ("launcher_files", "launcher files"),
                       ("compiled_files", "compiled files")):
        ch = d[key]
        if any(ch.values()):
            out.append(f"{label}: {len(ch['added'])} added, {len(ch['removed'])} removed, "
                       f"{len(ch['changed'])} changed")
    moved = [s for s in d["sizes_by_top_level"] if s["delta"]]
    if moved:
        out.append("size by top-level entry (uncompressed)")
        for s in moved:
            out.append(f"  {s['path']:<30} {human_size(s['old']):>10} -> {human_size(s['new']):>10}  "
                       f"({_signed(s['delta'])})")
    out.append("different")
    return out


def _error_classes() -> list[type[IgniteError]]:
    out: list[type[IgniteError]] = []
    todo: list[type[IgniteError]] = [IgniteError]
    while todo:
        cls = todo.pop()
        out.append(cls)
        todo.extend(cls.__subclasses__())
    return out


def exit_code_rows() -> list[tuple[int, str, str]]:
    """(code, name, meaning) for every exit status, generated from packager.errors.EXIT_CODES."""
    docs = {c.code: (c.__doc__ or "").strip().splitlines()[0] for c in _error_classes() if c.__doc__}
    rows = [(0, "ok", "Success. `diff`: the artifacts are identical.")]
    for name, code in sorted(EXIT_CODES.items(), key=lambda kv: (kv[1], kv[0])):
        meaning = docs.get(name, "")
        if code == 1:
            meaning = "`diff`: the artifacts differ. Elsewhere: an error with no more specific class."
        rows.append((code, name, meaning))
    rows.append((2, "click-usage", "Unknown option or missing argument (reported by click)."))
    rows.append((INTERNAL_ERROR_EXIT, "internal", "An unexpected exception: a bug in ignite-packager."))
    return sorted(rows, key=lambda r: (r[0], r[1] == "click-usage"))


def exit_code_table() -> str:
    """The Markdown table of docs/ci.md (a test checks the doc matches)."""
    lines = ["| Exit code | Error | Meaning |", "|---|---|---|"]
    lines += [f"| {code} | `{name}` | {meaning} |" for code, name, meaning in exit_code_rows()]
    return "\n".join(lines) + "\n"


@main.command("exit-codes")
@json_option
def exit_codes(as_json: bool) -> None:
    """Print the table of exit statuses (Markdown, or --json)."""
    if as_json:
        emit_json({"ok": True, "exit_codes": [{"code": c, "error": n, "meaning": m}
                                              for c, n, m in exit_code_rows()]})
        return
    click.echo(exit_code_table(), nl=False)


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
        emit_json({"ok": r.status < 400, "status": r.status, "headers": r.headers, "body": body,
                   "logs": result.logs})
    else:
        sys.stdout.buffer.write(r.body)
        if not r.body.endswith(b"\n"):
            sys.stdout.buffer.write(b"\n")
        sys.stdout.flush()
    exc: Optional[IgniteError] = None
    if r.status >= 500:
        exc = HandlerFailed(f"the function answered HTTP {r.status}", where=str(artifact),
                            hint="the body above has the error and traceback; --logs shows the launcher's output")
    elif r.status >= 400:
        exc = RequestRefused(f"the function refused the request: HTTP {r.status}", where=str(artifact),
                             hint="the body above says why; check --payload, --path and --header "
                                  "(and the build's --convention)")
    if exc is not None:
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
