"""Options shared by several commands, defined once as decorators.

The way pip-tools keeps its click options reusable; also the parsing of
their values (sizes, index settings, configuration files, slim patterns).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, TypeVar

import click

from packager.cli.output import JSON_KEY, QUIET_KEY
from packager.errors import (
    ConfigError,
    UsageError,
)
from packager.source.conventions import names as convention_names

if TYPE_CHECKING:
    from packager.deps.slim import SlimSettings
    from packager.inspect.diff import GrowthBudget
    from packager.runtime import PythonRef


F = TypeVar("F", bound=Callable[..., Any])


SBOM_FORMATS = ("cyclonedx-json", "spdx-json")  # packager.inspect.sbom.FORMATS (not imported: it is optional)


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMG]i?B|B)?\s*$", re.IGNORECASE)


_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "kib": 2**10, "mib": 2**20, "gib": 2**30}


def parse_size(text: str, where: str = "--max-size") -> int:
    """``50MB``, ``1.5GiB``, ``300KB``, ``1024`` -> bytes."""
    m = _SIZE.match(text)
    if not m:
        raise UsageError(f"invalid size {text!r}", where=where, hint="use e.g. 50MB, 200MiB or 1GB")
    return int(float(m.group(1)) * _UNITS[(m.group(2) or "B").lower()])


def parse_growth(text: str) -> GrowthBudget:
    """``--max-growth``: ``10%`` / ``2.5%`` (of the old size) or a size such as ``2MB``."""
    from packager.inspect.diff import GrowthBudget

    t = text.strip()
    if t.endswith("%"):
        try:
            pct = float(t[:-1])
        except ValueError:
            pct = -1.0
        if not 0 <= pct < 1e6:
            raise UsageError(f"invalid growth {text!r}", where="--max-growth", hint="use e.g. 10% or 2MB")
        return GrowthBudget(text=t, percent=pct)
    return GrowthBudget(text=t, bytes=parse_size(t, "--max-growth"))


def _set_meta(key: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def cb(ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
        ctx.meta[key] = bool(value)
        return value

    return cb


def json_option(fn: F) -> F:
    return click.option(
        "--json", "as_json", is_flag=True, is_eager=True, expose_value=True,
        callback=_set_meta(JSON_KEY), help="Print one JSON object on stdout; logs go to stderr.",
    )(fn)


def quiet_option(fn: F) -> F:
    return click.option(
        "-q", "--quiet", is_flag=True, is_eager=True, callback=_set_meta(QUIET_KEY),
        help="Print only the result (and errors).",
    )(fn)


def python_option(fn: F) -> F:
    return click.option(
        "--python", "python", metavar="PATH", envvar="IGNITE_PYTHON",
        help="The target's CPython (3.12, or 3.13 for the python3.13 profiles) to run the launcher, check "
             "and compile with (default: found automatically; env IGNITE_PYTHON).",
    )(fn)


def dependency_options(fn: F) -> F:
    """Where distributions come from and how the cache is used (build and lock)."""
    opts = [
        click.option("--profile", metavar="NAME|PATH", help=PROFILE_HELP),
        click.option("--requirements", "requirements", metavar="FILE", type=click.Path(path_type=Path, dir_okay=False),
                     help="The dependency file to use (requirements.txt, pyproject.toml, uv.lock, pylock.toml, "
                          "requirements.lock), relative to the source's root, instead of the precedence "
                          "(docs/dependencies.md)."),
        click.option("--group", "groups", multiple=True, metavar="NAME",
                     help="Also install this dependency group (PEP 735 [dependency-groups] of pyproject.toml; "
                          "uv.lock and pylock.toml groups). Repeatable."),
        index_options(),
        click.option("--cache-dir", type=click.Path(path_type=Path), envvar="IGNITE_CACHE_DIR",
                     help="Cache directory (default ~/.cache/ignite-packager)."),
        click.option("--cache-url", "cache_url", envvar="IGNITE_CACHE_URL", metavar="s3://BUCKET/PREFIX",
                     help="A shared cache on S3-compatible storage behind the local one (needs the s3 extra; "
                          "endpoint, credentials and region the standard AWS way; see docs/ci.md)."),
        click.option("--cache-push/--no-cache-push", "cache_push", default=True, envvar="IGNITE_CACHE_PUSH",
                     help="Upload what the build made to --cache-url after it succeeded (default); "
                          "--no-cache-push only reads (e.g. pull requests from forks)."),
        click.option("--vendor-anyway", "vendor_anyway", multiple=True, metavar="NAME",
                     help="Vendor NAME although the image preinstalls it (shadows the image's copy)."),
        click.option("--refresh", is_flag=True, help="Re-resolve instead of using a cached resolution."),
        click.option("--resolver", type=click.Choice(["auto", "pip", "uv"]), default="auto", show_default=True,
                     envvar="IGNITE_RESOLVER",
                     help="Who resolves: pip; uv (installed with the `uv` extra, falls back to pip on any "
                          "failure); auto = uv when installed and pip has no configuration uv would miss."),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


def index_options(note: str = "") -> Callable[[F], F]:
    """``--index-url`` / ``--extra-index-url`` / ``--wheelhouse`` / ``--offline``: where wheels come from.

    One definition for build, lock and ``serve --watch`` so the names, defaults and environment
    variables cannot drift apart; *note* starts each help text (serve's ``"--watch: "``).
    """

    def h(text: str) -> str:
        return f"{note}{text}" if note else text[:1].upper() + text[1:]

    opts = [
        click.option("--index-url", envvar="IGNITE_INDEX_URL", metavar="URL",
                     help=h("package index (default: pip's configuration). Never read from the upload.")),
        click.option("--extra-index-url", "extra_index_urls", multiple=True, metavar="URL",
                     help=h("additional package index.")),
        click.option("--wheelhouse", "wheelhouses", multiple=True, metavar="DIR",
                     type=click.Path(path_type=Path, file_okay=False),
                     help=h("directory of wheels to use before the index.")),
        click.option("--offline", is_flag=True, envvar="IGNITE_OFFLINE",
                     help=h("no network: only the cache and --wheelhouse.")),
    ]

    def decorate(fn: F) -> F:
        for opt in reversed(opts):
            fn = opt(fn)
        return fn

    return decorate


def index_config(index_url: Optional[str], extra_index_urls: tuple[str, ...],
                 wheelhouses: tuple[Path, ...], offline: bool) -> Any:
    from packager.deps.piprun import IndexConfig

    for w in wheelhouses:
        if not w.is_dir():
            raise UsageError(f"wheelhouse {w} is not a directory", where="--wheelhouse",
                             hint="pass a directory that holds .whl files")
    return IndexConfig(index_url=index_url, extra_index_urls=tuple(extra_index_urls),
                       find_links=tuple(str(w.resolve()) for w in wheelhouses), offline=offline)


def _target_interpreter(python: Optional[str], profile: Optional[str] = None,
                        cache_dir: Optional[Path] = None) -> PythonRef:
    """An explicit --python is checked against the target's version (3.12 for the default
    profile) while the command gets going (BuildOptions.check_python raises), or from the
    note an earlier check left in the cache's ``host/``; otherwise the target's CPython is
    looked up only if a step needs it."""
    if not python:
        return None
    from packager.cache import HOST_NOTES, default_cache_dir
    from packager.deps.profile import load_profile
    from packager.runtime import PendingPython

    try:
        notes: Optional[Path] = (cache_dir or default_cache_dir()) / HOST_NOTES
    except (RuntimeError, KeyError):  # no home directory: nothing is noted
        notes = None
    return PendingPython(python, load_profile(profile).python_version, notes)


PROFILE_HELP = ("Target profile: python3.12 (default), python3.12-arm64, python3.13, python3.13-arm64, "
                "or the path of a profile .toml.")


def profile_check_option(fn: F) -> F:
    """``--profile`` on commands that take an artifact: it must have been built for that target."""
    return click.option("--profile", metavar="NAME|PATH",
                        help="Fail unless the artifact was built for this target profile.")(fn)


def check_profile(artifact: Path, target: dict[str, Any], profile: Optional[str]) -> None:
    """The artifact's target is *profile* (when one is given), else a usage error naming both."""
    if not profile:
        return
    from packager.deps.profile import load_profile

    want = load_profile(profile).name
    if target.get("profile") != want:
        raise UsageError(
            f"the artifact is built for target {target.get('profile')!r}, not {want!r}",
            where=str(artifact),
            hint=f"build it with --profile {want}, or drop --profile to use the artifact's own target",
        )


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
        help="image: the target's CPython plus the image's preinstalled packages (a venv made once and cached); "
             "bare: the target's CPython alone; auto: image when the artifact relies on preinstalled packages "
             "(skipped distributions, or an import of a module neither the artifact nor the standard library "
             "has), else bare: never depends on what the cache holds.",
    )(fn)


def run_cache_option(fn: F) -> F:
    """``--cache-dir`` on invoke/serve: where the image runtime is made and found (as in build)."""
    return click.option("--cache-dir", type=click.Path(path_type=Path), envvar="IGNITE_CACHE_DIR",
                        help="Cache directory of the image runtime (default ~/.cache/ignite-packager).")(fn)


def slim_options(fn: F) -> F:
    """``--slim`` / ``--slim-drop`` / ``--slim-keep``: what is left out of vendor/ (packager.deps.slim)."""
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
    from packager.deps.slim import SlimSettings

    settings = SlimSettings(tests=bool(p["slim"]), drop=tuple(p["slim_drop"]), keep=tuple(p["slim_keep"]))
    settings.matcher()  # invalid patterns are usage errors before any work
    return settings


def entry_options(fn: F) -> F:
    """Which function the launcher calls, and in which platform's style (build and lock)."""
    fn = click.option("--convention", type=click.Choice(convention_names()), default="ignite", show_default=True,
                      help="Handler convention the launcher hosts (docs/conventions.md); "
                           "also picks the default --entry.")(fn)
    fn = click.option("--entry", metavar="MODULE:FUNCTION",
                      help="Entry point (default handler:handler; other conventions have their own).")(fn)
    fn = click.option("--lambda-payload", "lambda_payload", type=click.Choice(["2.0", "1.0", "raw"]),
                      help="lambda: the event handlers get: 2.0 (function URL, the default), 1.0 (API Gateway "
                           "REST) or raw (the JSON body itself, as Lambda's Invoke API passes S3/SQS/... "
                           "events); recorded in the manifest (IGNITE_LAMBDA_PAYLOAD overrides it).")(fn)
    fn = click.option("--init-param", "init_params", multiple=True, metavar="NAME=VALUE",
                      help="digitalhub: a keyword argument of the --init function (a run's init_parameters; "
                           "VALUE is JSON when it parses as JSON, else text); recorded in the manifest.")(fn)
    return click.option("--init", "init", metavar="NAME",
                        help="digitalhub: a function in the entry module called once at start with the "
                             "nuclio context (the runtime's init_function); recorded in the manifest.")(fn)


def cache_tier(url: Optional[str], push: bool, cache_dir: Optional[Path]) -> Any:
    """The shared tier of ``--cache-url`` (its client made at the first local miss), or None."""
    if not url:
        return None
    from packager.cache import SEEN_DIR, default_cache_dir
    from packager.sharedcache import S3Tier, parse_cache_url, require_client

    parsed = parse_cache_url(url)
    require_client()
    try:
        seen: Optional[Path] = (cache_dir or default_cache_dir()) / SEEN_DIR
    except (RuntimeError, KeyError):  # no home directory: no notes, the store is asked each time
        seen = None
    timeout = os.environ.get("IGNITE_CACHE_TIMEOUT", "")
    try:
        seconds = float(timeout) if timeout else 5.0
    except ValueError:
        raise UsageError(f"IGNITE_CACHE_TIMEOUT={timeout!r} is not a number of seconds", where="IGNITE_CACHE_TIMEOUT",
                         hint="e.g. IGNITE_CACHE_TIMEOUT=5 (connect; reads get three times as long)") from None
    return S3Tier(parsed, push_enabled=push, seen_dir=seen, timeout=max(seconds, 0.1))


def finish_tier(tier: Any) -> Optional[dict[str, Any]]:
    """After a successful build: the upload, then the tier's one warning (if any); its summary for --json."""
    if tier is None:
        return None
    from packager.cli.output import info, warn

    stats = tier.push()
    if tier.warning:
        warn(tier.warning)
    else:
        info(f"shared cache {tier.url}: {stats.hits} hit(s), {stats.misses} miss(es)"
             + (f", {stats.rejected} rejected (failed verification)" if stats.rejected else "")
             + (f", uploaded {stats.uploaded} ({human(stats.uploaded_bytes)})" if tier.push_enabled else
                ", read-only"))
    return {"url": str(tier.url), "push": tier.push_enabled, "warning": tier.warning, **stats.to_dict()}


def human(n: int) -> str:
    from packager.cli.output import human_size

    return human_size(n)
