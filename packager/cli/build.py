"""``ignite-pack build`` and ``ignite-pack lock``: a source in, an artifact or a lock out."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import click

from packager.artifact import DEFAULT_LEVEL
from packager.cli.options import (
    SBOM_FORMATS,
    _target_interpreter,
    apply_config,
    cache_tier,
    config_options,
    dependency_options,
    entry_options,
    finish_tier,
    index_config,
    json_option,
    parse_size,
    python_option,
    quiet_option,
    slim_options,
    slim_settings,
)
from packager.cli.output import emit_json, human_size, info, progress, warn
from packager.runtime import makes_temp_files

if TYPE_CHECKING:
    from packager.options import BuildOptions

BUILD_SCHEMA = "ignite-build/1"


LOCK_SCHEMA = "ignite-lock/1"


def _options(p: dict[str, Any], source: Path, output: Path, **rest: Any) -> BuildOptions:
    """The BuildOptions of what build and lock share (entry, target, indexes, cache), plus *rest*."""
    from packager.options import BuildOptions
    from packager.source.checks import EntryPoint
    from packager.source.conventions import check_lambda_payload, parse_init_params

    return BuildOptions(
        source=source, output=output,
        entry=EntryPoint.parse(p["entry"]) if p["entry"] else None, convention=p["convention"], init=p["init"],
        init_params=parse_init_params(tuple(p.get("init_params") or ())),
        lambda_payload=check_lambda_payload(p["convention"], p.get("lambda_payload")),
        profile=p["profile"], target_interpreter=_target_interpreter(p["python"], p["profile"], p["cache_dir"]),
        index=index_config(p["index_url"], p["extra_index_urls"], p["wheelhouses"], p["offline"]),
        cache_dir=p["cache_dir"], cache_tier=cache_tier(None if p["offline"] else p["cache_url"], p["cache_push"], p["cache_dir"]),
        wheelhouses=tuple(p["wheelhouses"]), vendor_anyway=frozenset(p["vendor_anyway"]),
        resolver=p["resolver"], requirements=p["requirements"], groups=tuple(p["groups"]), **rest,
    )


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
    from packager.build import build as run_build

    p, config_path = apply_config(ctx, source)
    if config_path:
        progress("config", f"settings from {config_path}")
    if p["sbom"]:
        from packager.inspect.sbom import require_library

        require_library(p["sbom_format"])  # before any work: a missing extra is found at once
    options = _options(
        p, source, p["output"], level=p["level"],
        max_size=parse_size(p["max_size"]) if p["max_size"] else None,
        lock=p["lock"], refresh=p["refresh"], compile=p["compile"], slim=slim_settings(p),
        strict_requirements=p["strict_requirements"],
    )
    result = run_build(options, progress)
    if p["sbom"]:
        from packager.inspect.sbom import write_sbom

        progress("sbom", f"writing {p['sbom']} ({p['sbom_format']})")
        write_sbom(result.output, p["sbom"], p["sbom_format"])
    if p["provenance"]:
        _write_provenance(p, source, result)
    for w in result.warnings:
        warn(w)
    m = result.manifest
    if p["as_json"]:
        shared = finish_tier(options.cache_tier)  # the upload, after the artifact is written
        emit_json({
            "schema": BUILD_SCHEMA,
            "ok": True, "output": str(result.output), "sha256": result.sha256, "size": result.size,
            "files": result.files, "seconds": round(result.seconds, 3),
            "entry": f"{m.entry_module}:{m.entry_function}", "convention": m.convention, "init": m.entry_init,
            "compiled": m.compiled, "tree_digest": m.tree_digest,
            "config": str(config_path) if config_path else None,
            "vendored": [v.__dict__ for v in m.vendored], "skipped": [s.__dict__ for s in m.skipped],
            "warnings": [*result.warnings, *([shared["warning"]] if shared and shared["warning"] else [])],
            "slim": m.slim or None, "sbom": str(p["sbom"]) if p["sbom"] else None,
            "provenance": str(p["provenance"]) if p["provenance"] else None,
            "target": dict(m.target),
            "dependencies": ({k: m.requirements[k] for k in ("file", "kind", "locked", "groups") if k in m.requirements}
                             if m.requirements.get("file") else None),
            **({"shared_cache": shared} if shared else {}),
        })
        return
    click.echo(str(result.output))
    info(
        f"built {result.output}: {result.files} files, {human_size(result.size)}, "
        f"sha256 {result.sha256[:16]}…, {result.seconds:.2f}s"
    )
    info(f"entry {m.entry_module}:{m.entry_function} ({m.convention}"
         f"{f', init {m.entry_init}' if m.entry_init else ''}), "
         f"{len(m.vendored)} vendored, {len(m.skipped)} preinstalled skipped")
    info(f"target {m.target.get('profile')} (CPython {m.target.get('python')} linux {m.target.get('machine')})")
    if m.slim:
        t = m.slim["total"]
        info(f"slim: left out {t['files']} files, {human_size(t['bytes'])} (patterns: {' '.join(m.slim['patterns'])})")
    if p["sbom"]:
        info(f"sbom {p['sbom']} ({p['sbom_format']})")
    finish_tier(options.cache_tier)  # the upload, after the result is out


def _write_provenance(p: dict[str, Any], source: Path, result: Any) -> None:
    import os

    from packager.artifact.tarball import atomic_write
    from packager.inspect.provenance import provenance, provenance_bytes

    progress("provenance", f"writing {p['provenance']}")
    env = {k: os.environ[k] for k in ("SOURCE_DATE_EPOCH", "IGNITE_BUILDER_ID") if k in os.environ}
    statement = provenance(Path(result.output), result.sha256, result.manifest, source=source,
                           index_url=p["index_url"], extra_index_urls=tuple(p["extra_index_urls"]),
                           wheelhouses=len(p["wheelhouses"]), env=env)
    atomic_write(p["provenance"], [provenance_bytes(statement)])


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
    options = _options(p, source, output, refresh=True)
    result = lock_source(options, progress, p["lock_format"])
    for w in result.warnings:
        warn(w)
    if p["as_json"]:
        shared = finish_tier(options.cache_tier)
        emit_json({"schema": LOCK_SCHEMA, "ok": True, "output": str(result.output), "format": p["lock_format"],
                   "pins": result.pins, "digest": result.digest, "profile": result.profile,
                   "warnings": [*result.warnings, *([shared["warning"]] if shared and shared["warning"] else [])]})
        return
    click.echo(str(result.output))
    info(f"locked {len(result.pins)} distribution(s) for {result.profile} into {result.output}")
    finish_tier(options.cache_tier)
