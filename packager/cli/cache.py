"""``ignite-pack cache info|prune``: the local build cache and the shared tier (``--cache-url``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Optional

import click

from packager.cli.options import json_option, quiet_option
from packager.cli.output import emit_json, human_size, info
from packager.cli.values import parse_size
from packager.errors import UsageError


def _common(fn: Any) -> Any:
    fn = click.option("--cache-url", "cache_url", envvar="IGNITE_CACHE_URL", metavar="s3://BUCKET/PREFIX",
                      help="Also the shared cache on S3-compatible storage (see `build --cache-url`).")(fn)
    fn = click.option("--cache-dir", type=click.Path(path_type=Path), envvar="IGNITE_CACHE_DIR",
                      help="Cache directory (default ~/.cache/ignite-packager).")(fn)
    return fn


def _root(cache_dir: Optional[Path]) -> Path:
    from packager.cache import default_cache_dir

    return cache_dir or default_cache_dir()


def _tier(url: Optional[str], root: Path) -> Any:
    if not url:
        return None
    from packager.cache import SEEN_DIR
    from packager.sharedcache import S3Tier, parse_cache_url, require_client

    tier = S3Tier(parse_cache_url(url), seen_dir=root / SEEN_DIR)
    require_client()
    tier.check()
    return tier


def _age(ts: Optional[float]) -> str:
    if ts is None:
        return "-"
    days = (time.time() - ts) / 86400
    return f"{days:.0f}d" if days >= 1 else f"{days * 24:.0f}h"


@click.group("cache")
def cache() -> None:
    """The build cache: what it holds, and pruning it (local, and the shared tier with --cache-url)."""


@cache.command("info")
@_common
@json_option
@quiet_option
def cache_info(cache_dir: Optional[Path], cache_url: Optional[str], as_json: bool, quiet: bool) -> None:
    """Entries and sizes per kind, in the local cache and (with --cache-url) the shared one."""
    from packager.cacheadmin import info as local_info

    root = _root(cache_dir)
    kinds = local_info(root)
    tier = _tier(cache_url, root)
    remote: list[tuple[str, int, int]] = []
    if tier is not None:
        from packager.sharedcache import iter_kinds

        remote = list(iter_kinds(tier.objects()))
    if as_json:
        emit_json({"ok": True, "local": {"path": str(root), "kinds": [
            {"kind": k.kind, "entries": k.entries, "bytes": k.bytes, "oldest_use": k.oldest, "prunable": k.prunable}
            for k in kinds]},
            **({"shared": {"url": str(tier.url), "kinds": [{"kind": k, "objects": n, "bytes": b}
                                                            for k, n, b in remote]}} if tier else {})})
        return
    click.echo(f"local {root}: {sum(k.bytes for k in kinds)} bytes ({human_size(sum(k.bytes for k in kinds))})")
    for k in kinds:
        note = "" if k.prunable else "  (not pruned: managed by its tool)"
        click.echo(f"  {k.kind:<12} {k.entries:>7} {'entries' if k.prunable else 'files  '} "
                   f"{human_size(k.bytes):>10}  oldest use {_age(k.oldest)}{note}")
    if tier is not None:
        click.echo(f"shared {tier.url}: {sum(b for _k, _n, b in remote)} bytes "
                   f"({human_size(sum(b for _k, _n, b in remote))})")
        for kind, n, b in remote:
            click.echo(f"  {kind:<12} {n:>7} objects {human_size(b):>10}")


@cache.command("prune")
@click.option("--older-than", "older_than", metavar="AGE",
              help="Remove entries unused for AGE (30d, 12h, 2w; shared tier: by upload time).")
@click.option("--max-size", "max_size", metavar="SIZE",
              help="Then remove the least recently used entries until each tier holds at most SIZE (5GB, 500MB).")
@click.option("--dry-run", is_flag=True, help="Only say what would be removed.")
@_common
@json_option
@quiet_option
def cache_prune(older_than: Optional[str], max_size: Optional[str], dry_run: bool, cache_dir: Optional[Path],
                cache_url: Optional[str], as_json: bool, quiet: bool) -> None:
    """Remove old entries (and stale temp files of interrupted builds) from the local cache and,
    with --cache-url, the shared one. Without --older-than/--max-size only temp files go."""
    from packager.cacheadmin import parse_duration, prune

    age = None
    if older_than is not None:
        age = parse_duration(older_than)
        if age is None:
            raise UsageError(f"invalid age {older_than!r}", where="--older-than", hint="use e.g. 30d, 12h or 2w")
    size = parse_size(max_size) if max_size is not None else None
    root = _root(cache_dir)
    tier = _tier(cache_url, root)
    local = prune(root, age, size, dry_run=dry_run)
    shared: Optional[dict[str, Any]] = None
    if tier is not None:
        shared = _prune_shared(tier, age, size, dry_run)
    verb = "would remove" if dry_run else "removed"
    if as_json:
        emit_json({"ok": True, "dry_run": dry_run, "local": {
            "path": str(root), "removed_entries": local.removed_entries, "removed_bytes": local.removed_bytes,
            "removed_temp": local.removed_temp, "kept_entries": local.kept_entries, "kept_bytes": local.kept_bytes},
            **({"shared": shared} if shared else {})})
        return
    click.echo(f"local {root}: {verb} {local.removed_entries} entries ({human_size(local.removed_bytes)}) and "
               f"{local.removed_temp} stale temp file(s); kept {local.kept_entries} ({human_size(local.kept_bytes)})")
    if shared:
        click.echo(f"shared {shared['url']}: {verb} {shared['removed_objects']} objects "
                   f"({human_size(shared['removed_bytes'])}); kept {shared['kept_objects']} "
                   f"({human_size(shared['kept_bytes'])})")
    if not older_than and not max_size:
        info("no --older-than or --max-size: only stale temp files were looked for")


def _prune_shared(tier: Any, age: Optional[float], size: Optional[int], dry_run: bool) -> dict[str, Any]:
    """The shared tier by upload time: a resolution's or segment's .json and .bin go together."""
    now = time.time()
    groups: dict[str, list[tuple[str, int, float]]] = {}
    for rel, sz, mtime in tier.objects():
        stem = rel.rsplit(".", 1)[0] if rel.split("/", 1)[0] in ("resolutions", "segments") else rel
        groups.setdefault(stem, []).append((rel, sz, mtime))
    ordered = sorted(groups.values(), key=lambda g: max(m for _r, _s, m in g), reverse=True)
    drop: list[str] = []
    kept_bytes = kept = removed_bytes = 0
    full = False
    for g in ordered:
        gsize = sum(s for _r, s, _m in g)
        newest = max(m for _r, _s, m in g)
        full = full or (size is not None and kept_bytes + gsize > size)
        if full or (age is not None and now - newest > age):
            drop.extend(sorted((r for r, _s, _m in g), key=lambda r: not r.endswith(".json")))
            removed_bytes += gsize
        else:
            kept_bytes += gsize
            kept += len(g)
    removed = len(drop) if dry_run else tier.delete(drop)
    if tier.seen_dir is not None and removed and not dry_run:
        import shutil

        # this runner's notes on what the store has are stale now: forget them
        shutil.rmtree(tier.seen_dir / tier.url.store_id(), ignore_errors=True)
    return {"url": str(tier.url), "removed_objects": removed, "removed_bytes": removed_bytes,
            "kept_objects": kept, "kept_bytes": kept_bytes}
