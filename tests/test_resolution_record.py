"""The typed resolution record is exactly what the cache stores, and nothing else is read as one."""

from __future__ import annotations

from pathlib import Path

from packaging.utils import canonicalize_name

from packager.cache import Cache, write_sidecar
from packager.deps.record import RESOLUTION_FORMAT, ResolutionRecord, ResolvedDist


def _record() -> ResolutionRecord:
    return ResolutionRecord(
        (ResolvedDist(canonicalize_name("alpha"), "1.0", True, ("sha256:" + "a" * 64,), "https://x/alpha.whl"),
         ResolvedDist(canonicalize_name("beta"), "2.0", False, (), "", "built/beta-2.0-py3-none-any.whl", "b" * 64)),
        ("a warning",), (("botocore", "boto3==1.35.0 → botocore<1.36"),), "pip")


def test_the_record_round_trips_through_the_cache(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache").ensure()
    cache.put_json("resolutions", "k", _record().to_json())
    assert ResolutionRecord.from_json(cache.get_json("resolutions", "k")) == _record()


def test_an_entry_of_another_format_or_shape_is_not_read_as_a_record() -> None:
    old = {"install": [{"name": "alpha", "version": "1.0", "requested": True, "url": "", "hashes": []}],
           "warnings": [], "moved": {}}
    assert ResolutionRecord.from_json(old) is None
    assert ResolutionRecord.from_json(None) is None
    assert ResolutionRecord.from_json({**_record().to_json(), "format": RESOLUTION_FORMAT - 1}) is None
    bad = _record().to_json()
    bad["dists"][0]["hashes"] = "sha256:x"  # a string, not a list
    assert ResolutionRecord.from_json(bad) is None
    bad = _record().to_json()
    bad["dists"][0]["name"] = "Alpha"  # names are stored canonical
    assert ResolutionRecord.from_json(bad) is None


def test_files_of_the_cache_are_named_by_key_with_their_sdist(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache").ensure()
    wheel = cache.built / "gamma-1.0-py3-none-any.whl"
    wheel.write_bytes(b"w")
    write_sidecar(wheel, "c" * 64, "d" * 64)
    rec = ResolutionRecord((ResolvedDist(canonicalize_name("gamma"), "1.0", True, ("sha256:" + "d" * 64,),
                                         wheel.resolve().as_uri()),))
    keyed = rec.by_cache_key(cache).dists[0]
    assert keyed.url == "" and keyed.cache == "built/gamma-1.0-py3-none-any.whl"
    assert keyed.from_sdist == "c" * 64
    assert keyed.hashes == ("sha256:" + "c" * 64, "sha256:" + "d" * 64)
