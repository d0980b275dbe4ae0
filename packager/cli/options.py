"""Options shared by several commands, defined once as decorators.

The way pip-tools keeps its click options reusable, and configuration files' values
applied through them; what the values become is :mod:`packager.cli.values` (no click).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional, TypeVar

import click

from packager.cli.output import set_modes
from packager.errors import (
    ConfigError,
    UsageError,
)
from packager.source.conventions import names as convention_names

F = TypeVar("F", bound=Callable[..., Any])


SBOM_FORMATS = ("cyclonedx-json", "spdx-json")  # packager.inspect.sbom.FORMATS (not imported: it is optional)


def _set_mode(key: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def cb(ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
        set_modes(**{key: bool(value)})
        return value

    return cb


def json_option(fn: F) -> F:
    return click.option(
        "--json", "as_json", is_flag=True, is_eager=True, expose_value=True,
        callback=_set_mode("json"), help="Print one JSON object on stdout; logs go to stderr.",
    )(fn)


def quiet_option(fn: F) -> F:
    return click.option(
        "-q", "--quiet", is_flag=True, is_eager=True, callback=_set_mode("quiet"),
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


