"""Embedding the launcher: the repo's ``launcher/`` package becomes ``__ignite__/``.

Like shiv's bootstrap, the runtime is its own package, copied file by file into
every artifact; it is never imported by the packager (only its version is read).

The launcher also ships as bytecode of the target's Python (unchecked-hash pycs
under ``__pycache__``, compiled without docstrings: the launcher never reads
``__doc__``, and they were ~8 % of its compressed size; and without column positions,
``-X no_debug_ranges``: a traceback through the launcher keeps file and line, and the pycs
deflate to 59 KB instead of 80 KB): compiling its source costs ~12 ms of every cold start.
The pycs are generated once per target version (:data:`PYC_VERSIONS`) by a real
interpreter of that version (``make launcher-pyc``) and kept in
``packager/artifact/launcher_pyc/`` with the sha256 of each source they were made from, so
every build embeds the same bytes whatever the host (no target interpreter needed
at build time). An artifact gets only the bytecode its target can load: a 3.13
target gets the ``cpython-313`` pycs, never 3.12 ones; a version with no
committed bytecode gets plain source. Stale bytecode is never shipped: if any
source changed since, no pyc is embedded (tests/test_launcher_pyc.py fails until
they are regenerated).
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import json
import os
import shutil
from functools import lru_cache
from pathlib import Path

from packager import __version__
from packager.artifact.manifest import LAUNCHER_DIR, FileRecord, cache_tag, pyc_path
from packager.artifact.tarball import (
    CompressedSegment,
    Entry,
    Segment,
    compress_tar,
    segment_cache_parts,
)
from packager.cache import Cache, cache_key, load_blob, store_blob
from packager.errors import ArtifactError

TYPE_CHECKING = False  # (typing's import is ~3 ms of a build that needs it only for mypy)
if TYPE_CHECKING:
    from typing import Any, Optional

    from packager.artifact.tarball import AnySegment


def launcher_root() -> Path:
    spec = importlib.util.find_spec("launcher")
    if spec is None or not spec.submodule_search_locations:
        raise ArtifactError(
            "the launcher package is not installed next to the packager",
            hint="reinstall ignite-packager",
        )
    return Path(next(iter(spec.submodule_search_locations)))


#: Target Python versions whose launcher bytecode is committed (``make launcher-pyc`` writes each).
PYC_VERSIONS = ("3.12", "3.13")


CONVENTIONS_DIR = f"{LAUNCHER_DIR}/conventions"


def _launcher_files() -> dict[str, Path]:
    """Every ``.py`` file of the launcher, by its path under ``__ignite__/``, in path order."""
    root = launcher_root()
    return dict(sorted((f"{LAUNCHER_DIR}/{p.relative_to(root).as_posix()}", p)
                       for p in root.rglob("*.py") if "__pycache__" not in p.parts))


def _launcher_sources() -> list[Entry]:
    """Every ``.py`` file of the launcher under ``__ignite__/``, read, in path order."""
    return [Entry(rel, p.read_bytes(), 0o644) for rel, p in _launcher_files().items()]


def convention_modules(convention: str, sources: dict[str, bytes]) -> frozenset[str]:
    """The ``conventions/`` modules *convention*'s adapter needs: itself and the ``_`` helpers it imports.

    The launcher imports one adapter, the one the manifest names (``conventions.load``), and no
    adapter imports another (an import contract), so an artifact carries only its own: the other
    nine are ~65 KB of every artifact's ~200 KB launcher. The name-to-module map is read from the
    launcher's ``MODULES`` with ast, so the two cannot disagree.
    """
    init = ast.parse(sources[f"{CONVENTIONS_DIR}/__init__.py"])
    aliases: dict[str, str] = {}
    for node in init.body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and "MODULES" in {
                t.id for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
                if isinstance(t, ast.Name)} and node.value is not None:
            aliases = ast.literal_eval(node.value)
    first = aliases.get(convention, convention)
    needed: set[str] = set()
    todo = [first]
    while todo:
        name = todo.pop()
        if name in needed:
            continue
        data = sources.get(f"{CONVENTIONS_DIR}/{name}.py")
        if data is None:
            raise ArtifactError(f"the launcher has no adapter module {name!r} for convention {convention!r}",
                                where=f"launcher/conventions/{name}.py", hint="reinstall ignite-packager")
        needed.add(name)
        for imp in ast.walk(ast.parse(data)):
            if isinstance(imp, ast.ImportFrom) and imp.level == 1:
                todo.extend([imp.module.split(".")[0]] if imp.module else [a.name for a in imp.names])
    return frozenset(needed | {"__init__"})


@lru_cache(maxsize=8)
def launcher_entries(version: str = "3.12", convention: str = "ignite") -> tuple[Entry, ...]:
    """The launcher under ``__ignite__/`` for one convention, with *version*'s bytecode, in path order.

    Everything outside ``conventions/`` ships; inside it, only what :func:`convention_modules` names.
    """
    sources = _launcher_sources()
    if not any(e.path == f"{LAUNCHER_DIR}/__main__.py" for e in sources):
        raise ArtifactError("launcher/__main__.py is missing", where=str(launcher_root()),
                            hint="reinstall ignite-packager")
    keep = convention_modules(convention, {e.path: e.data for e in sources})
    entries = [e for e in sources
               if not e.path.startswith(f"{CONVENTIONS_DIR}/") or e.path[len(CONVENTIONS_DIR) + 1:-3] in keep]
    shipped = launcher_shipped(entries, version)
    return tuple(sorted(shipped, key=lambda e: e.path))


PYC_DIR = Path(__file__).resolve().parent / "launcher_pyc"
PYC_INDEX = "SOURCES.json"


def _made_from(sources: list[Entry]) -> bool:
    """Whether ``launcher_pyc/`` was made from exactly these launcher sources (its index's sha256s)."""
    try:
        index = json.loads((PYC_DIR / PYC_INDEX).read_text("utf-8"))
    except (OSError, ValueError):
        return False
    return set(index) == set(_launcher_files()) and all(
        index.get(e.path) == hashlib.sha256(e.data).hexdigest() for e in sources)


def stripped_name(path: str) -> str:
    """The file in ``launcher_pyc/`` holding the stripped copy of the launcher's *path* (data, not
    a module of this repository: no linter reads it)."""
    return path.replace("/", "%") + STRIPPED_SUFFIX


STRIPPED_SUFFIX = ".stripped"


def launcher_shipped(sources: list[Entry], version: str = "3.12") -> list[Entry]:
    """What an artifact carries of *sources*: their stripped copies (packager.artifact.stripping)
    and *version*'s pycs, both from ``launcher_pyc/``, while it was made from exactly these
    sources; else the sources as they are, without bytecode (the target compiles them)."""
    if not _made_from(sources):
        return list(sources)
    stripped = []
    for e in sources:
        try:
            stripped.append(Entry(e.path, (PYC_DIR / stripped_name(e.path)).read_bytes(), e.mode))
        except OSError:
            return list(sources)
    return stripped + launcher_pycs(stripped, version)


def launcher_pycs(shipped: list[Entry], version: str = "3.12") -> list[Entry]:
    """*version*'s committed pycs of the *shipped* (stripped) sources; none for a version without
    committed bytecode (the target compiles the source itself)."""
    tag = cache_tag(version)
    out = []
    for e in sorted(shipped, key=lambda e: e.path):
        blob = PYC_DIR / pyc_path(e.path, tag).replace("/", "%")
        if not blob.is_file():
            return []
        out.append(Entry(pyc_path(e.path, tag), blob.read_bytes(), 0o644))
    return out


#: The first line of each stripped launcher module (where its docstring began).
_STRIPPED_NOTE = "comments and docstrings removed, lines kept: launcher/{path} in ignite-packager's source has them"


def regenerate_pycs(pythons: dict[str, str]) -> list[str]:
    """Strip the launcher's source and compile it with each ``{version: interpreter}`` into
    packager/artifact/launcher_pyc/ (``make launcher-pyc``)."""
    from packager.artifact.compile import compile_segment
    from packager.artifact.stripping import strip_source
    from packager.artifact.tarball import Segment

    launcher_entries.cache_clear()
    sources = _launcher_sources()
    stripped = [Entry(e.path, strip_source(e.data, e.path, _STRIPPED_NOTE.format(
        path=e.path[len(LAUNCHER_DIR) + 1:])), e.mode) for e in sources]
    pycs: list[Entry] = []
    for version, python in sorted(pythons.items()):
        compiled = compile_segment([Segment("launcher", tuple(stripped))], python, include_launcher=True,
                                   version=version, strip_docstrings=True, debug_ranges=False)
        if compiled.skipped:
            raise ArtifactError(f"the launcher does not compile on {version}: " + "; ".join(compiled.skipped))
        pycs.extend(compiled.segment.entries)
    shutil.rmtree(PYC_DIR, ignore_errors=True)
    PYC_DIR.mkdir()
    for e in stripped:
        (PYC_DIR / stripped_name(e.path)).write_bytes(e.data)
    for e in pycs:
        (PYC_DIR / e.path.replace("/", "%")).write_bytes(e.data)
    index = {e.path: hashlib.sha256(e.data).hexdigest() for e in sources}
    (PYC_DIR / PYC_INDEX).write_text(json.dumps(index, indent=1, sort_keys=True) + "\n", "utf-8")
    launcher_entries.cache_clear()
    _write_premade()
    return [e.path for e in (*stripped, *pycs)] + [PREMADE_BLOB, PREMADE_INDEX]


#: The default build's launcher segment, deflated when the bytecode is made (``make launcher-pyc``):
#: in an empty cache, making it (reading ~30 files, picking the adapter with ast, the tar, ~340 KB
#: of deflate) was ~14 ms of every build without requirements, the first build on a CI runner.
#: Only for the defaults (target 3.12, convention ignite, no SOURCE_DATE_EPOCH, level 4): one
#: ~110 KB file, not one per convention and version. Used only while every file it was made from
#: has the sha256 it names (:func:`_premade`), so an edited launcher is never shipped stale.
PREMADE_BLOB = "launcher-segment.bin"
PREMADE_INDEX = "launcher-segment.json"
PREMADE_FOR = ("3.12", "ignite")


def _premade_key(version: str, convention: str, mtime: int, level: int) -> list[object]:
    """What the premade segment's bytes depend on besides its files' contents."""
    return [version, convention, mtime, level, *segment_cache_parts()]


def _fingerprint() -> dict[str, str]:
    """The sha256 of the launcher's sources and of the index of what launcher_pyc/ was made from,
    by their names in any install: what an edited launcher changes. The rest of launcher_pyc/
    (stripped copies, pycs) is written with the premade segment by the same ``make
    launcher-pyc``; hashing it too (76 files, not 26) was ~1.3 ms more of every default build."""
    files = {**_launcher_files(), f"launcher_pyc/{PYC_INDEX}": PYC_DIR / PYC_INDEX}
    return {name: hashlib.sha256(path.read_bytes()).hexdigest() for name, path in files.items()}


def _write_premade() -> None:
    from packager.artifact import DEFAULT_LEVEL
    from packager.artifact.tarball import DEFAULT_MTIME

    version, convention = PREMADE_FOR
    seg = Segment("launcher", launcher_entries(version, convention))
    made = compress_tar(seg.name, seg.records, seg.tar(DEFAULT_MTIME), DEFAULT_LEVEL)
    (PYC_DIR / PREMADE_BLOB).write_bytes(made.data())
    doc = {"key": _premade_key(version, convention, DEFAULT_MTIME, DEFAULT_LEVEL),
           "files": _fingerprint(), "crc": made.crc, "length": made.length,
           "records": [r.to_dict() for r in seg.records]}
    (PYC_DIR / PREMADE_INDEX).write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n", "utf-8")


def _premade_index(version: str, convention: str) -> Optional[dict[str, Any]]:
    """The premade segment's index for *version* and *convention* (not yet checked against the
    installed files: :func:`_made_from_installed`), or None."""
    if (version, convention) != PREMADE_FOR:
        return None
    try:
        doc = json.loads((PYC_DIR / PREMADE_INDEX).read_text("utf-8"))
    except (OSError, ValueError):  # absent or unreadable: made as usual
        return None
    return doc if isinstance(doc, dict) else None


def _made_from_installed(doc: dict[str, Any]) -> bool:
    """Whether every file the premade segment was made from has the sha256 its index names."""
    try:
        return bool(doc.get("files") == _fingerprint())
    except OSError:
        return False


def _premade(doc: dict[str, Any], version: str, convention: str, mtime: int,
             level: int) -> Optional[CompressedSegment]:
    """The premade launcher segment when it is the one this build would make, else None."""
    try:
        if doc["key"] != _premade_key(version, convention, mtime, level) or not _made_from_installed(doc):
            return None
        data = (PYC_DIR / PREMADE_BLOB).read_bytes()
        return CompressedSegment("launcher", tuple(FileRecord.from_dict(r) for r in doc["records"]),
                                 data, int(doc["crc"]), int(doc["length"]))
    except (OSError, KeyError, TypeError, ValueError):  # unreadable: made as usual
        return None


def _premade_entries(doc: dict[str, Any]) -> Optional[tuple[Entry, ...]]:
    """The launcher's entries read back from the premade segment, for a build that deflates its
    own (SOURCE_DATE_EPOCH, another level): one inflate instead of reading ~30 files, the
    adapter's imports (ast) and the pycs' index (~3 ms). None when the installed files are not
    those it was made from, or the blob is not the tar its index describes."""
    import zlib

    if not _made_from_installed(doc):
        return None
    try:
        tar = zlib.decompressobj(-zlib.MAX_WBITS).decompress((PYC_DIR / PREMADE_BLOB).read_bytes())
        if len(tar) != int(doc["length"]) or zlib.crc32(tar) != int(doc["crc"]):
            return None
        out, at = [], 0
        for r in map(FileRecord.from_dict, doc["records"]):
            # one ustar header per member (the launcher's paths are short ASCII: no PAX header)
            if tar[at:at + 100].rstrip(b"\0") != r.path.encode("ascii"):
                return None
            data = tar[at + 512:at + 512 + r.size]
            out.append(Entry(r.path, data, r.mode, digest=bytes.fromhex(r.sha256)))
            at += 512 + r.size + (-r.size % 512)
        return tuple(out) if at == len(tar) else None
    except (OSError, KeyError, TypeError, ValueError, UnicodeError, zlib.error):
        return None


def _segment_files(version: str) -> dict[str, Path]:
    """Every file the launcher's segment for *version* is made from, by a name that is the same in
    every install: its sources and the committed bytecode of *version* with its index."""
    tag = cache_tag(version)
    files = dict(_launcher_files())
    for p in [PYC_DIR / PYC_INDEX,
              *sorted(p for p in PYC_DIR.iterdir() if f".{tag}." in p.name or p.name.endswith(STRIPPED_SUFFIX))]:
        files[f"launcher_pyc/{p.name}"] = p
    return files


def _stamps(version: str) -> list[tuple[str, int, int, int, int]]:
    """The stat stamp (size, mtime, ctime, inode) of every file the launcher's segment is made
    from. Any rewrite of one of them changes its stamp (ctime at least)."""
    out = []
    for f in _segment_files(version).values():
        st = os.stat(f)
        out.append((str(f), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino))
    return out


def launcher_segment(version: str, convention: str, mtime: int, level: int, cache: Optional[Cache]) -> AnySegment:
    """The launcher's segment for *convention*, already deflated: from *cache* when an earlier build made it.

    Its ~300 KB of tar are the same in every build with one packager, target version,
    mtime and level, and deflating them was ~8 ms of every build, warm ones too (the
    wheels' segments were cached already). Keyed by the tar's sha256, so any change of a
    launcher file is a new entry; a corrupted entry is made again (cache.load_blob).
    Found first by the stat stamps of the files it is made from (a pointer entry with its
    records): reading the ~30 files, picking the adapter's modules (ast) and making the tar
    to hash it was ~7 ms on the critical path of a warm build without requirements.
    Without *cache*, the plain segment (write_artifact deflates it). The default build's
    segment is premade (:data:`PREMADE_BLOB`) and needs no cache.
    """
    doc = _premade_index(version, convention)  # (checked in ~1 ms: the 26 files of _fingerprint)
    premade = _premade(doc, version, convention, mtime, level) if doc is not None else None
    if premade is not None:
        return premade
    by_stamp: Optional[str] = None
    if cache is not None:
        try:
            by_stamp = cache_key("launcher-segment-stamps", __version__, version, convention, mtime, level,
                                 *segment_cache_parts(), _stamps(version))
            pointer = cache.get_json("segments", by_stamp)
            hit = load_blob(cache, "segments", str(pointer["segment"])) if pointer else None
            if pointer and hit is not None:
                return CompressedSegment("launcher", tuple(FileRecord.from_dict(r) for r in pointer["records"]),
                                         hit[1], int(hit[0]["crc"]), int(pointer["length"]))
        except (OSError, KeyError, TypeError, ValueError):  # made from the files below instead
            pass
    entries = _premade_entries(doc) if doc is not None else None
    if entries is None:
        if by_stamp is not None:
            # Read now, not from this process's memo: the pointer written below ties the stamps taken
            # above to these records, and entries memoized before a launcher file was rewritten would
            # tie the new stamps to the old content in the cache for good.
            launcher_entries.cache_clear()
        entries = launcher_entries(version, convention)
    seg = Segment("launcher", entries)
    if cache is None:
        return seg
    tar = seg.tar(mtime)
    # (the compressor too: another deflate writes the same tar as other bytes)
    key = cache_key("launcher-segment", __version__, hashlib.sha256(tar).hexdigest(),
                    len(tar), mtime, level, *segment_cache_parts())
    made: Optional[CompressedSegment] = None
    try:
        hit = load_blob(cache, "segments", key)
        if hit is not None:
            meta, blob = hit
            made = CompressedSegment(seg.name, seg.records, blob, int(meta["crc"]), len(tar))
    except (OSError, KeyError, TypeError, ValueError):  # an unreadable or odd entry only costs the deflate
        pass
    try:
        if made is None:
            made = compress_tar(seg.name, seg.records, tar, level)
            store_blob(cache, "segments", key, {"name": seg.name, "crc": made.crc, "length": made.length},
                       made.data())
        if by_stamp is not None:
            cache.put_json("segments", by_stamp, {"segment": key, "length": len(tar),
                                                  "records": [r.to_dict() for r in seg.records]})
    except OSError:  # a read-only cache: the build goes on
        pass
    assert made is not None
    return made


@lru_cache(maxsize=1)
def launcher_version() -> str:
    """The launcher's ``__version__``, read with ast so the launcher is never imported here."""
    tree = ast.parse((launcher_root() / "__init__.py").read_text("utf-8"))
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "__version__" for t in node.targets)
            and isinstance(node.value, ast.Constant)
        ):
            return str(node.value.value)
    return "0"


if __name__ == "__main__":  # python -m packager.artifact.embed: regenerate the launcher's bytecode for every target
    import sys

    from packager.runtime import find_python

    # One real interpreter per version (IGNITE_PYTHON and --python pick only the 3.12 one):
    # a version left out would silently lose its bytecode, so each is required.
    found = {v: find_python(v, sys.argv[1] if len(sys.argv) > 1 and v == "3.12" else None) for v in PYC_VERSIONS}
    for path in regenerate_pycs(found):
        print(path)
