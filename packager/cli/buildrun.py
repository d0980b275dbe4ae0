"""What ``ignite-pack build`` does with its parameters, without click: the click command
(packager.cli.build) and the quick path (packager.cli.quick) both run :func:`build_command`."""

from __future__ import annotations

from pathlib import Path

from packager.cli.output import echo, emit_json, human_size, info, progress, warn
from packager.cli.values import (
    _target_interpreter,
    cache_tier,
    finish_tier,
    index_config,
    parse_size,
    slim_settings,
)

TYPE_CHECKING = False  # (typing's import is ~3 ms of a build that needs it only for mypy)
if TYPE_CHECKING:
    from typing import Any, Optional

    from packager.options import BuildOptions

BUILD_SCHEMA = "ignite-build/1"


def build_options(p: dict[str, Any], source: Path, output: Path, **rest: Any) -> BuildOptions:
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


def build_command(p: dict[str, Any], source: Path, config_path: Optional[Path]) -> None:
    """Build *source* with the command's parameters *p* (configuration-file values filled in)
    and print the result: one line (the artifact's path) on stdout, a summary on stderr, or
    one JSON object under --json."""
    from packager.build import build as run_build

    if config_path:
        progress("config", f"settings from {config_path}")
    if p["sbom"]:
        from packager.inspect.sbom import require_library

        require_library(p["sbom_format"])  # before any work: a missing extra is found at once
    options = build_options(
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
    echo(str(result.output))
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
