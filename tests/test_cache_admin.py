"""``ignite-pack cache info|prune`` on the local cache (issue 34): whole entries, oldest first,
stale temp files of interrupted builds, tool-managed directories left alone."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from packager.cache import Cache, load_blob, store_blob
from tests.conftest import run_cli

DAY = 86400.0


def _age(path: Path, days: float) -> None:
    t = time.time() - days * DAY
    os.utime(path, (t, t))


def _cache(root: Path) -> dict[str, list[Path]]:
    """Entries of every kind: old ones (40 days unused) and fresh ones."""
    c = Cache(root).ensure()
    c.put_json("resolutions", "old", {"pins": []})
    c.put_json("resolutions", "new", {"pins": [1]})
    store_blob(c, "segments", "oldseg", {"name": "x"}, b"o" * 1000)
    store_blob(c, "segments", "newseg", {"name": "y"}, b"n" * 1000)
    (c.wheels / "old-1.0-py3-none-any.whl").write_bytes(b"w" * 500)
    (c.built / "b-1.0-py3-none-any.whl").write_bytes(b"b" * 500)
    (c.built / "b-1.0-py3-none-any.whl.sdist-sha256").write_text("0" * 64)
    old = [root / "resolutions/old.json", root / "segments/oldseg.json", root / "segments/oldseg.bin",
           c.wheels / "old-1.0-py3-none-any.whl", c.built / "b-1.0-py3-none-any.whl",
           c.built / "b-1.0-py3-none-any.whl.sdist-sha256"]
    for p in old:
        _age(p, 40)
    (root / "uv").mkdir()
    (root / "uv" / "big").write_bytes(b"u" * 5000)
    _age(root / "uv" / "big", 400)
    stale = root / "segments" / ".newseg.bin.k2j3h4g5"  # a killed atomic write
    stale.write_bytes(b"partial")
    _age(stale, 1)
    fresh = root / "segments" / ".newseg.json.a1b2c3d4"  # a write in progress
    fresh.write_bytes(b"{")
    return {"old": old, "stale": [stale], "fresh": [fresh]}


def test_prune_older_than_removes_whole_old_entries_and_stale_temp_files(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    made = _cache(root)
    tmpdir = tmp_path / "tmp"
    killed = tmpdir / "ignite-fetch-abc123"  # a killed build's temp directory
    (killed / "dl").mkdir(parents=True)
    (killed / "dl" / "x.whl").write_bytes(b"x")
    _age(killed, 2)
    serving = tmpdir / "ignite-run-def456"  # a `serve` started two days ago: not a build's
    serving.mkdir()
    _age(serving, 2)
    recent = tmpdir / "ignite-sdist-ghi789"  # a build running now
    recent.mkdir()
    _age(recent, 0.1)
    other = tmpdir / "someone-elses"
    other.mkdir()
    _age(other, 2)
    # a run's own directory (a `serve` started two days ago unpacks into it), its process alive:
    # this test's own pid and host stand for it
    from packager.childenv import host_label

    live = tmpdir / f"ignite-tmp-{os.getpid()}-{host_label()}-xyz"
    (live / "ignite-run-abc").mkdir(parents=True)
    _age(live, 2)
    r = run_cli("cache", "prune", "--older-than", "30d", "--cache-dir", str(root), "--json",
                env={"TMPDIR": str(tmpdir)})
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)["local"]
    assert doc["removed_entries"] == 4 and doc["kept_entries"] == 2
    assert doc["removed_temp"] == 2
    assert not any(p.exists() for p in made["old"] + made["stale"])
    assert made["fresh"][0].exists()  # a write in progress is left alone
    assert not killed.exists() and other.exists() and serving.exists() and recent.exists()
    assert (live / "ignite-run-abc").exists()
    assert (root / "uv" / "big").exists()  # uv's own cache: not ours to prune
    c = Cache(root)
    assert c.get_json("resolutions", "new") == {"pins": [1]}
    assert load_blob(c, "segments", "newseg") is not None


def test_prune_max_size_keeps_the_most_recently_used(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    _cache(root)
    # dry run: nothing goes
    r = run_cli("cache", "prune", "--max-size", "1500", "--dry-run", "--cache-dir", str(root), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["local"]["removed_entries"] > 0
    assert (root / "segments/oldseg.bin").exists()
    r = run_cli("cache", "prune", "--max-size", "1500", "--cache-dir", str(root), "--json")
    doc = json.loads(r.stdout)["local"]
    assert doc["kept_bytes"] <= 1500
    c = Cache(root)
    assert load_blob(c, "segments", "newseg") is not None  # the newest big entry fits and stays
    assert load_blob(c, "segments", "oldseg") is None
    assert not (root / "segments/oldseg.json").exists() and not (root / "segments/oldseg.bin").exists()


def test_cache_info_counts_entries_per_kind(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    _cache(root)
    r = run_cli("cache", "info", "--cache-dir", str(root), "--json")
    assert r.returncode == 0, r.stderr
    kinds = {k["kind"]: k for k in json.loads(r.stdout)["local"]["kinds"]}
    assert kinds["resolutions"]["entries"] == 2 and kinds["segments"]["entries"] == 2
    assert kinds["wheels"]["entries"] == 1 and kinds["built"]["entries"] == 1  # a wheel and its sidecar: one
    assert kinds["uv"]["prunable"] is False and kinds["uv"]["bytes"] == 5000
    r = run_cli("cache", "info", "--cache-dir", str(root))
    assert r.returncode == 0 and "segments" in r.stdout and "not pruned" in r.stdout


def test_prune_refuses_a_bad_age(tmp_path: Path) -> None:
    r = run_cli("cache", "prune", "--older-than", "soon", "--cache-dir", str(tmp_path))
    assert r.returncode == 2 and "--older-than" in r.stderr
