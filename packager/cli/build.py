"""``ignite-pack build`` and ``ignite-pack lock``: a source in, an artifact or a lock out."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import click

from packager.artifact import DEFAULT_LEVEL
from packager.cli.buildrun import BUILD_SCHEMA, build_command, build_options
from packager.cli.options import (
    SBOM_FORMATS,
    apply_config,
    config_options,
    dependency_options,
    entry_options,
    json_option,
    python_option,
    quiet_option,
    slim_options,
)
from packager.cli.output import echo, emit_json, info, progress, warn
from packager.cli.values import finish_tier
from packager.runtime import makes_temp_files

__all__ = ["BUILD_SCHEMA", "build", "lock"]


LOCK_SCHEMA = "ignite-lock/1"


@click.command()
@click.argument("source", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), default=Path("artifact.tar.gz"),
              show_default=True, help="Where to write the artifact (written atomically).")
@entry_options
@click.option("--lock", type=click.Path(path_type=Path, dir_okay=False),
              help="Install exactly this lock (requirements.lock, uv.lock or pylock.toml) kept outside the source, "
                   "instead of the source's dependency file.")
@dependency_options
@click.option("--level", type=click.IntRange(1, 9), default=DEFAULT_LEVEL, show_default=True,
              help="gzip compression level.")
@click.option("--max-size", metavar="SIZE",
              help="Fail, writing nothing, if the artifact is larger (50MB, 200MiB, 1GB, 300KB, 1024).")
@click.option("--compile/--no-compile", "compile", default=False,
              help="Precompile the source and vendor/ to unchecked-hash .pyc for the target's CPython "
                   "(needs that interpreter: a 3.12, or a 3.13 for the python3.13 profiles).")
@slim_options
@click.option("--strict-requirements/--no-strict-requirements", "strict_requirements", default=False,
              help="Refuse index lines (-i, --extra-index-url, ...) in the upload's requirements; by "
                   "default they are skipped with a warning and the build's own index settings are used.")
@click.option("--sbom", type=click.Path(path_type=Path, dir_okay=False), metavar="FILE",
              help="Also write the artifact's SBOM to FILE (see `ignite-pack sbom`; needs ignite-packager[sbom]).")
@click.option("--sbom-format", type=click.Choice(SBOM_FORMATS), default="cyclonedx-json", show_default=True,
              help="Format of --sbom.")
@click.option("--provenance", type=click.Path(path_type=Path, dir_okay=False), metavar="FILE",
              help="Also write SLSA Provenance v1 (an in-toto Statement) for the artifact to FILE; "
                   "sign it with cosign attest (docs/reproducibility.md).")
@config_options
@python_option
@json_option
@quiet_option
@click.pass_context
@makes_temp_files
def build(ctx: click.Context, /, source: Path, **_: Any) -> None:
    """Build SOURCE (handler.py, a directory, a .zip or a .tar.gz) into an artifact.

    Settings may also come from ignite.toml or pyproject.toml [tool.ignite] next to
    SOURCE; flags given on the command line win.
    """
    p, config_path = apply_config(ctx, source)
    build_command(p, source, config_path)


@click.command()
@click.argument("source", type=click.Path(path_type=Path))
@entry_options
@click.option("-o", "--output", "lock_output", type=click.Path(path_type=Path),
              help="Where to write the lock (default: requirements.lock, or pylock.toml with --format pylock, "
                   "next to the source directory, else in the current one).")
@click.option("--format", "lock_format", type=click.Choice(["requirements", "pylock"]), default="requirements",
              show_default=True,
              help="requirements: requirements.lock (pip-compile, hashes); pylock: a PEP 751 pylock.toml for the "
                   "target that pip and uv install too.")
@dependency_options
@config_options
@python_option
@json_option
@quiet_option
@click.pass_context
@makes_temp_files
def lock(ctx: click.Context, /, source: Path, **_: Any) -> None:
    """Lock SOURCE's requirements.txt (or pyproject.toml dependencies) for the target: exact versions and
    hashes (pip-tools), or a PEP 751 pylock.toml with --format pylock."""
    from packager.lock import lock_source

    p, _config_path = apply_config(ctx, source)
    output: Optional[Path] = p["lock_output"]
    if output is None:
        name = "pylock.toml" if p["lock_format"] == "pylock" else "requirements.lock"
        output = (source / name) if source.is_dir() else Path(name)
    options = build_options(p, source, output, refresh=True)
    result = lock_source(options, progress, p["lock_format"])
    for w in result.warnings:
        warn(w)
    if p["as_json"]:
        shared = finish_tier(options.cache_tier)
        emit_json({"schema": LOCK_SCHEMA, "ok": True, "output": str(result.output), "format": p["lock_format"],
                   "pins": result.pins, "digest": result.digest, "profile": result.profile,
                   "warnings": [*result.warnings, *([shared["warning"]] if shared and shared["warning"] else [])]})
        return
    echo(str(result.output))
    info(f"locked {len(result.pins)} distribution(s) for {result.profile} into {result.output}")
    finish_tier(options.cache_tier)
