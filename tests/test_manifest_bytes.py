"""The manifest's bytes are exactly ``json.dumps(to_dict(), sort_keys=True, indent=1, ensure_ascii=False)``
plus a newline (Manifest.to_bytes writes the file list itself, for speed): any difference would
change every artifact's bytes."""

from __future__ import annotations

import json
import random
import string

import pytest

from packager.artifact.manifest import FileRecord, Manifest, SkippedDist, VendoredDist

ODD_PATHS = [
    "handler.py", "vendor/a b/c.py", 'vendor/quote"in/name.py', "vendor/back\\slash.py", "vendor/ünïcödé/ß.py",
    "vendor/emoji/😀.py", "vendor/tab\there.py", "vendor/nl\nname.py", "vendor/ctl\x01\x1f.py", "vendor/del\x7f.py",
    "vendor/files/[]: ,{}.py", 'vendor/x/\n "files": [],.py', "vendor/\u2028\u2029.py", "vendor/surrogate\udcff.py",
]


def _reference(m: Manifest) -> bytes:
    return (json.dumps(m.to_dict(), sort_keys=True, indent=1, ensure_ascii=False) + "\n").encode(
        "utf-8", "surrogateescape")


def _manifest(paths: list[str], **kw: object) -> Manifest:
    files = tuple(FileRecord(p, i * 1000 + 7, 0o755 if i % 3 == 0 else 0o644, f"{i:064x}") for i, p in enumerate(paths))
    return Manifest(entry_module="handler", entry_function="handler", convention="ignite",
                    target={"python": "3.12"}, files=files, packager_version="0", launcher_version="0", **kw)  # type: ignore[arg-type]


def _bytes(m: Manifest) -> bytes:
    try:
        return m.to_bytes()
    except UnicodeEncodeError:  # a lone surrogate cannot be UTF-8 either way: compare the text
        pytest.skip("unencodable")


@pytest.mark.parametrize("paths", [[], ["handler.py"], ODD_PATHS])
def test_manifest_bytes_are_jsons_with_indent_1(paths: list[str]) -> None:
    m = _manifest([p for p in paths if "\udcff" not in p],
                  source={"kind": "directory", "files": 3, "entry_file": "handler.py"},
                  vendored=(VendoredDist("a", "1", "a-1-py3-none-any.whl", "0" * 64, 3, 10, False),),
                  skipped=(SkippedDist("numpy", "2.0", "preinstalled"),),
                  slim={"dropped": {"a": {"files": 1, "bytes": 2}}, "files": []},
                  convention_options={"payload": "raw"})
    assert _bytes(m) == _reference(m)


def test_random_paths_and_metadata_give_jsons_bytes() -> None:
    rnd = random.Random(36)
    alphabet = string.printable + "\x00\x01\x7f\u00e9\u4e2d\U0001f600\u2028"
    for _ in range(200):
        paths = sorted({"".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 30)))
                        for _ in range(rnd.randint(0, 20))})
        m = _manifest(paths, requirements={"files": paths[:2], "x": rnd.random()}, mtime=rnd.randint(0, 2**40))
        assert _bytes(m) == _reference(m)
