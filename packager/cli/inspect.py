"""``ignite-pack inspect``, ``verify``, ``diff`` and ``sbom``: read finished artifacts, offline."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Optional

import click

from packager.cli.options import (
    SBOM_FORMATS,
    apply_config,
    check_profile,
    config_options,
    json_option,
    profile_check_option,
    python_option,
    quiet_option,
)
from packager.cli.output import emit_json, human_size, info, warn
from packager.cli.values import parse_growth
from packager.runtime import makes_temp_files


@click.command()
@click.argument("artifact", type=click.Path(path_type=Path))
@click.option("--files", "show_files", is_flag=True, help="List every file (mode, size, sha256, path).")
@click.option("--html", "html_out", type=click.Path(path_type=Path, dir_okay=False), metavar="FILE",
              help="Write where the size goes as one self-contained HTML page (treemap and tables, no network).")
@click.option("--why", "why_name", metavar="NAME",
              help="Print the requirement chains that brought distribution NAME into the artifact.")
@profile_check_option
@json_option
@quiet_option
def inspect(artifact: Path, show_files: bool, html_out: Optional[Path], why_name: Optional[str],
            profile: Optional[str], as_json: bool, quiet: bool) -> None:
    """Describe ARTIFACT from its manifest, offline, without unpacking it.

    --json prints the ignite-inspect/1 document (packager/schemas/inspect.json); with --why, the
    chains instead ({"why": ...}); with --html, the page is written and --json adds {"html": ...}.
    """
    from packager.inspect.inspection import inspect_artifact

    info_ = inspect_artifact(artifact)
    check_profile(artifact, info_.manifest.target, profile)
    if why_name is not None:
        from packager.inspect.why import WHY_SCHEMA, why

        report = why(artifact, why_name)
        if as_json:
            emit_json({"schema": WHY_SCHEMA, "ok": True, "why": report.to_dict()})
        else:
            click.echo("\n".join(report.lines()))
        return
    d = info_.to_dict()
    if html_out is not None:
        from packager.inspect.page import write_page
        from packager.inspect.sizemap import size_map

        size = write_page(size_map(artifact), html_out)
        if as_json:
            emit_json({"ok": True, **d, "html": {"path": str(html_out), "size": size}})
        elif not quiet:
            info(f"wrote {html_out} ({human_size(size)}): open it in a browser")
        return
    if as_json:
        emit_json({"ok": True, **d})
        return
    click.echo("\n".join(inspect_lines(d, show_files)))


def _deps_from(r: dict[str, Any]) -> list[str]:
    """The dependency file the artifact's vendor/ came from (issue 32: its path and kind)."""
    if not r.get("file"):
        return []
    extra = (", locked" if r.get("locked") else "") + (f", groups {' '.join(r['groups'])}" if r.get("groups") else "")
    return [f"deps from  {r['file']} ({r.get('kind', 'requirements.txt')}{extra})"]


def inspect_lines(d: dict[str, Any], show_files: bool = False) -> list[str]:
    """The human report of an ignite-inspect/1 document."""
    from packager.runtime import artifact_machine

    t = d["target"]
    out = [
        f"artifact   {d['artifact']['path']}",
        f"sha256     {d['artifact']['sha256']}",
        f"size       {human_size(d['artifact']['size'])} compressed, "
        f"{human_size(d['totals']['bytes'])} in {d['totals']['files']} files",
        f"entry      {d['entry']['module']}:{d['entry']['function']}  (convention {d['convention']}"
        + (f", init {d['entry']['init']}" if d["entry"].get("init") else "") + ")",
        f"target     {t.get('profile')} — CPython {t.get('python')} linux {artifact_machine(t)}, {t.get('image')}",
        f"launcher   {d['launcher_version']}   packager {d['packager_version']}",
        f"tree       {d['tree_digest']}",
        f"lock       {d['lock_digest'] or '-'}",
        *_deps_from(d.get("requirements") or {}),
        f"compiled   {'yes (CPython ' + str(t.get('python')) + ' unchecked-hash pycs)' if d['compiled'] else 'no'}",
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


@click.command()
@click.argument("artifact", type=click.Path(path_type=Path))
@click.option("--strict", is_flag=True,
              help="Also check vendored RECORD files, the vendored wheels found in the cache or a "
                   "--wheelhouse, precompiled files, and that the entry parses as the target's Python.")
@click.option("--wheelhouse", "wheelhouses", multiple=True, metavar="DIR",
              type=click.Path(path_type=Path, file_okay=False),
              help="With --strict: also look for the vendored wheels here.")
@click.option("--cache-dir", type=click.Path(path_type=Path), envvar="IGNITE_CACHE_DIR",
              help="With --strict: the cache whose wheels are compared (default ~/.cache/ignite-packager). "
                   "With --rebuild: the build cache to use (given on the command line; default: a temporary one).")
@click.option("--rebuild", "rebuild_source", type=click.Path(path_type=Path), metavar="SOURCE",
              help="Build SOURCE again with the settings ARTIFACT's manifest records and require the same "
                   "bytes (exit 11 naming the first differing members and the likely cause).")
@click.option("--lock", type=click.Path(path_type=Path, dir_okay=False),
              help="With --rebuild: the lock the artifact was built with (when it is not in SOURCE).")
@click.option("--index-url", envvar="IGNITE_INDEX_URL", metavar="URL", help="With --rebuild: the package index.")
@click.option("--offline", is_flag=True, help="With --rebuild: use only --wheelhouse directories and the cache.")
@python_option
@json_option
@quiet_option
@click.pass_context
@makes_temp_files
def verify(ctx: click.Context, artifact: Path, strict: bool, wheelhouses: tuple[Path, ...], cache_dir: Optional[Path],
           rebuild_source: Optional[Path], lock: Optional[Path], index_url: Optional[str], offline: bool,
           python: Optional[str], as_json: bool, quiet: bool) -> None:
    """Recompute every file's sha256 against ARTIFACT's manifest (--strict: much more;
    --rebuild SOURCE: rebuild it and compare the bytes)."""
    from packager.cache import default_cache_dir

    if rebuild_source is not None:
        _verify_rebuild(ctx, artifact, rebuild_source, wheelhouses, cache_dir, lock, index_url, offline,
                        python, as_json, quiet)
        return
    from packager.inspect.inspection import verify_artifact
    from packager.runtime import optional_python

    root = cache_dir or default_cache_dir()
    dirs = [*wheelhouses, root / "wheels", root / "built"]
    def target_python() -> Optional[str]:
        """The artifact's target CPython (3.12, 3.13), looked up only if a check needs one."""
        from packager.artifact.tarball import read_manifest
        from packager.runtime import find_python

        version = str(read_manifest(artifact).target.get("python") or "3.12")
        return find_python(version, python) if python else optional_python(version)

    py: Any = target_python
    report = verify_artifact(artifact, strict=strict, target_interpreter=py, wheel_dirs=dirs)
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
                   f"cached wheel(s), {report.pycs_checked} pyc(s), entry parses as Python "
                   f"{report.info.manifest.target.get('python') or '3.12'}")


def _verify_rebuild(ctx: click.Context, artifact: Path, source: Path, wheelhouses: tuple[Path, ...],
                    cache_dir: Optional[Path], lock: Optional[Path], index_url: Optional[str], offline: bool,
                    python: Optional[str], as_json: bool, quiet: bool) -> None:
    from click.core import ParameterSource

    from packager.cli.output import progress
    from packager.cli.values import index_config
    from packager.rebuild import rebuild_error, verify_rebuild

    explicit_cache = ctx.get_parameter_source("cache_dir") == ParameterSource.COMMANDLINE
    report = verify_rebuild(
        artifact, source, cache_dir=cache_dir if explicit_cache else None, lock=lock, wheelhouses=wheelhouses,
        index=index_config(index_url, (), wheelhouses, offline), target_interpreter=python, progress=progress)
    if not report.identical:
        raise rebuild_error(report)
    if as_json:
        emit_json(report.to_dict())
        return
    if not quiet:
        click.echo(f"ok: {artifact}: rebuilt from {source} byte for byte (sha256 {report.artifact_sha256})")


@click.command()
@click.argument("artifact", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(SBOM_FORMATS), default="cyclonedx-json", show_default=True,
              help="CycloneDX 1.6 JSON or SPDX 2.3 JSON.")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), metavar="FILE",
              help="Write to FILE (atomically) instead of stdout.")
@click.option("--name", metavar="NAME", help="Name of the function (root component); default: the file name.")
@json_option
@quiet_option
def sbom(artifact: Path, fmt: str, output: Optional[Path], name: Optional[str], as_json: bool, quiet: bool) -> None:
    """Print ARTIFACT's software bill of materials, offline (needs ignite-packager[sbom]).

    The function is the root component; every vendored distribution is listed with
    its version, purl, the wheel's SHA-256 and its license; the image's preinstalled
    packages are listed under the image component. Same artifact, same bytes
    (no timestamp unless SOURCE_DATE_EPOCH is set).

    Without -o the document itself is the one JSON object on stdout; with -o and
    --json, stdout gets {"ok", "output", "format", "sha256"}.
    """
    import hashlib

    from packager.inspect.sbom import collect, render, require_library, write_sbom

    require_library(fmt)
    if output is not None:
        doc = write_sbom(artifact, output, fmt, name)
        if as_json:
            emit_json({"ok": True, "output": str(output), "format": fmt, "sha256": hashlib.sha256(doc).hexdigest()})
        else:
            info(f"wrote {output} ({fmt})")
        return
    sys.stdout.buffer.write(render(collect(artifact, name), fmt))
    sys.stdout.flush()


@click.command()
@click.argument("old", type=click.Path(path_type=Path))
@click.argument("new", type=click.Path(path_type=Path))
@click.option("--max-growth", metavar="N%|SIZE",
              help="Fail (exit 27) when NEW's unpacked or compressed size grew more than this over OLD's: "
                   "a percentage (10%) or a size (2MB, 512KiB). Config: [tool.ignite.budget] max-growth.")
@config_options
@json_option
@quiet_option
@click.pass_context
def diff(ctx: click.Context, old: Path, new: Path, max_growth: Optional[str], config_file: Optional[Path],
         no_config: bool, as_json: bool, quiet: bool) -> None:
    """What changed from artifact OLD to artifact NEW.

    Exit status: 0 when identical (same files and metadata), 1 when different,
    another code on error (see `ignite-pack exit-codes`). With --max-growth: 0 when within
    the budget (identical or not), 27 when past it.
    The configuration file is looked up in the current directory.
    """
    from packager.inspect.diff import check_growth, diff_artifacts
    from packager.inspect.inspection import inspect_artifact

    p, _config_path = apply_config(ctx, Path.cwd())
    budget = parse_growth(p["max_growth"]) if p["max_growth"] else None
    result = diff_artifacts(inspect_artifact(old), inspect_artifact(new))
    checks = check_growth(result, budget) if budget is not None else ()
    if as_json:
        emit_json({"ok": True, **result.to_dict(),
                   **({"budget": {"max_growth": budget.text, "checks": [c.to_dict() for c in checks]}}
                      if budget is not None else {})})
    elif not quiet:
        lines = diff_lines(result.to_dict())
        lines += [f"budget     {c.measure} {_signed(c.growth)} within +{human_size(c.allowed)} ({budget.text})"
                  for c in checks if budget is not None]
        click.echo("\n".join(lines))
    # With a budget the question is "within it?": 0 even when the artifacts differ, as CI wants.
    sys.exit(0 if result.identical or budget is not None else 1)


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
