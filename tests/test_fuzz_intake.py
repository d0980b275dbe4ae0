"""Property-based tests: whatever the upload, only the packager's own errors come out.

Targets: arbitrary bytes as a source file (with and without archive magic),
zip and tar archives built from generated member names / types / modes /
contents (then optionally truncated or bit-flipped), handler.py text, and
requirements.txt text and bytes. The property: ``read_source`` ->
``check_source`` -> ``parse_requirements`` either succeed with a well-formed
result or raise an :class:`IgniteError` subclass; never anything else.

Bounded for CI by ``IGNITE_FUZZ_EXAMPLES`` (default 200 examples per target).
Run longer by hand, e.g.::

    IGNITE_FUZZ_EXAMPLES=20000 .venv/bin/python -m pytest tests/test_fuzz_intake.py -q \\
        --hypothesis-show-statistics --hypothesis-seed=random
"""

from __future__ import annotations

import os
import stat
import tarfile
import tempfile
import unicodedata
import zipfile
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from packager.deps.requirements import parse_requirements
from packager.errors import IgniteError
from packager.source.checks import check_source
from packager.source.intake import Limits, SourceFile, SourceTree, read_source
from tests.hostile import HANDLER, TarEntry, ZipEntry, build_tar, build_zip

EXAMPLES = int(os.environ.get("IGNITE_FUZZ_EXAMPLES", "200"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    derandomize=os.environ.get("IGNITE_FUZZ_RANDOM", "") == "",
)

#: Small caps so generated archives reach them.
SMALL = Limits(max_members=40, max_total_bytes=256 * 1024, max_file_bytes=64 * 1024, max_ratio=50.0,
               ratio_floor_bytes=32 * 1024, max_path_length=200, max_depth=8)


def _read(name: str, blob: bytes, limits: Limits) -> SourceTree | None:
    """read_source on *blob* saved as *name*: the tree, or None after an IgniteError."""
    with tempfile.TemporaryDirectory() as d:
        p = Path(d, name)
        p.write_bytes(blob)
        try:
            tree = read_source(p, limits)
        except IgniteError:
            return None
    _assert_well_formed(tree, limits)
    try:
        check_source(tree)
    except IgniteError:
        pass
    return tree


def _assert_well_formed(tree: SourceTree, limits: Limits) -> None:
    paths = tree.paths
    assert paths == sorted(paths)
    folded = [unicodedata.normalize("NFC", p).casefold() for p in paths]
    assert len(set(folded)) == len(folded)
    assert len(paths) <= limits.max_members
    assert tree.total_bytes <= limits.max_total_bytes
    for p in paths:
        parts = p.split("/")
        assert p and not p.startswith("/") and "\\" not in p
        assert ".." not in parts and "." not in parts and "" not in parts
        assert not any(ord(c) < 32 or ord(c) == 127 or 0xD800 <= ord(c) <= 0xDFFF for c in p)
        assert len(p) <= limits.max_path_length


# ------------------------------------------------------------------ strategies

_SEGMENTS = st.sampled_from(
    ["handler.py", "a", "A", "..", ".", "", "lib", "Straße", "STRASSE", "café", unicodedata.normalize("NFD", "café"),
     "x\\y", "C:", "c:x", "\x00", "\x1b", "\n", "__ignite__", "vendor", "manifest.json", "requirements.txt",
     "__pycache__", "m.pyc", "~", " ", "\udcff", "\u202e", "CON", "a" * 120]
)
_NAMES = st.one_of(
    st.lists(_SEGMENTS, min_size=1, max_size=5).map("/".join),
    st.lists(_SEGMENTS, min_size=1, max_size=3).map(lambda s: "/" + "/".join(s)),
    st.text(min_size=0, max_size=40),
)
_CONTENT = st.one_of(
    st.binary(max_size=512),
    st.just(HANDLER),
    st.sampled_from([b"def handler(p, c):\n  return p\n", b"x = (" * 50, b"\xff\xfe", b"import os\n" * 100]),
    st.integers(0, 100 * 1024).map(bytes),
)
_ZIP_MODES = st.one_of(st.none(), st.sampled_from([
    stat.S_IFREG | 0o644, stat.S_IFREG | 0o755, stat.S_IFDIR | 0o755, stat.S_IFLNK | 0o777,
    stat.S_IFIFO | 0o644, stat.S_IFCHR | 0o644, stat.S_IFSOCK | 0o644, 0o644, 0]))
_TAR_TYPES = st.sampled_from([tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE,
                              tarfile.LNKTYPE, tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE,
                              tarfile.CONTTYPE, b"Z"])


def _mutate(draw: st.DrawFn, blob: bytes) -> bytes:
    how = draw(st.sampled_from(["none", "none", "truncate", "flip", "append"]))
    if how == "truncate" and blob:
        return blob[: draw(st.integers(0, len(blob) - 1))]
    if how == "flip" and blob:
        b = bytearray(blob)
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(0, len(b) - 1))
            b[i] ^= draw(st.integers(1, 255))
        return bytes(b)
    if how == "append":
        return blob + draw(st.binary(max_size=64))
    return blob


@st.composite
def zip_archives(draw: st.DrawFn) -> bytes:
    entries = [ZipEntry("handler.py", HANDLER)] if draw(st.booleans()) else []
    for _ in range(draw(st.integers(0, 8))):
        name = draw(_NAMES)
        raw_name: str | bytes = name.encode("utf-8", "surrogateescape") if draw(st.booleans()) else draw(
            st.binary(min_size=1, max_size=20))
        entries.append(ZipEntry(
            raw_name, draw(_CONTENT), mode=draw(_ZIP_MODES),
            flags=draw(st.sampled_from([0, 0x800, 0x1, 0x8])),
            method=draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])),
        ))
    return _mutate(draw, build_zip(entries))


@st.composite
def tar_archives(draw: st.DrawFn) -> bytes:
    entries = [TarEntry("handler.py", HANDLER)] if draw(st.booleans()) else []
    for _ in range(draw(st.integers(0, 8))):
        entries.append(TarEntry(draw(_NAMES) or "x", draw(_CONTENT), type=draw(_TAR_TYPES),
                                linkname=draw(_NAMES), mode=draw(st.sampled_from([0o644, 0o755, 0o4755, 0]))))
    compression = draw(st.sampled_from(["gz", "", "bz2", "xz"]))
    fmt = draw(st.sampled_from([tarfile.GNU_FORMAT, tarfile.PAX_FORMAT]))
    try:
        blob = build_tar(entries, compression, format=fmt)
    except (ValueError, UnicodeError, tarfile.TarError):
        blob = build_tar([], compression)  # a name tarfile itself cannot write
    return _mutate(draw, blob)


_MAGIC = st.sampled_from([b"", b"PK\x03\x04", b"PK\x05\x06", b"\x1f\x8b", b"\x1f\x8b\x08\x00", b"BZh9",
                          b"\xfd7zXZ\x00"])

# ------------------------------------------------------------------ targets


@FUZZ
@given(data=st.binary(max_size=4096), magic=_MAGIC,
       name=st.sampled_from(["handler.py", "src.zip", "src.tar.gz", "blob", "main.py"]))
@example(data=b"", magic=b"", name="handler.py")
@example(data=b"\x00" * 600, magic=b"", name="src.tar.gz")
def test_arbitrary_bytes_as_a_source(data: bytes, magic: bytes, name: str) -> None:
    _read(name, magic + data, Limits())


@FUZZ
@given(data=st.binary(max_size=1024))
def test_arbitrary_bytes_with_ustar_magic(data: bytes) -> None:
    blob = bytearray(data.ljust(600, b"\x00"))
    blob[257:263] = b"ustar\x00"
    _read("src", bytes(blob), Limits())


@FUZZ
@given(blob=zip_archives())
def test_arbitrary_zip_archives(blob: bytes) -> None:
    _read("src.zip", blob, SMALL)
    _read("src.zip", blob, Limits())


@FUZZ
@given(blob=tar_archives())
def test_arbitrary_tar_archives(blob: bytes) -> None:
    _read("src.tar.gz", blob, SMALL)
    _read("src.tar.gz", blob, Limits())


_PY_TOKENS = st.sampled_from(["def ", "handler", "(", ")", ":", "\n", "    ", "async ", "await ", "return ", "x",
                              "=", "lambda", "[", "]", "{", "}", "-", "*", "**", "import ", "from ", " * ",
                              "class ", "if ", "else", "try", "except", "\\", "#", "'", '"', "\x00", "\ufeff",
                              "match ", "case ", "type ", "f'{", "}'", "global ", ";", ",", "@"])


@FUZZ
@given(text=st.one_of(st.lists(_PY_TOKENS, max_size=60).map("".join), st.text(max_size=300)),
       raw=st.one_of(st.none(), st.binary(max_size=300)),
       entry=st.sampled_from([None, "handler", "handler.py", "a.b:c", "x:y:z", ":", "", "1a", "a..b"]))
def test_arbitrary_handler_source(text: str, raw: bytes | None, entry: str | None) -> None:
    from packager.source.checks import EntryPoint

    data = raw if raw is not None else text.encode("utf-8", "surrogatepass")
    tree = SourceTree("file", (SourceFile("handler.py", data), SourceFile("util.py", data[::-1])))
    try:
        ep = EntryPoint.parse(entry) if entry is not None else None
        check_source(tree, ep)
    except IgniteError:
        pass


_REQ_TOKENS = st.sampled_from(["requests", "numpy", "PyYAML", "==", ">=", "~=", "!=", "1.0", "2.*", "[", "]",
                               ",", ";", " ", "\n", "\\\n", "#", "-e", "-r", "-c", "-i", "--index-url", "-f",
                               "--hash=sha256:", "ab" * 32, "@", "https://evil.invalid/x", "file:///x", "git+",
                               "./", "/", "~", "C:\\", "${X}", "$Y", "python_version", "'3.12'", "extra",
                               "and", "or", "(", ")", "\r", "\x00", "\ufeff", "\u2028", "é", "\t", "=", '"'])


@FUZZ
@given(text=st.one_of(st.lists(_REQ_TOKENS, max_size=80).map("".join), st.text(max_size=400)),
       raw=st.one_of(st.none(), st.binary(max_size=400)))
def test_arbitrary_requirements(text: str, raw: bytes | None) -> None:
    data = raw if raw is not None else text.encode("utf-8", "surrogatepass")
    try:
        reqs = parse_requirements(data)
    except IgniteError as exc:
        assert exc.where and exc.where.startswith("requirements.txt")
        return
    for r in reqs.lines:
        assert r.requirement.url is None
        assert "$" not in str(r.requirement)
        r.applies_to({"python_version": "3.12", "sys_platform": "linux", "platform_machine": "x86_64",
                      "implementation_name": "cpython", "os_name": "posix", "platform_system": "Linux",
                      "python_full_version": "3.12.1", "platform_release": "", "platform_version": "",
                      "implementation_version": "3.12.1", "platform_python_implementation": "CPython"})
