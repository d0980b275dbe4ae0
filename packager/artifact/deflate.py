"""The artifact's deflate: the reference zlib, pinned, never whatever zlib the host links.

Deflate output is not a function of the input alone: zlib-ng (Fedora >= 40 links CPython
against it in compat mode), Chromium's zlib, ISA-L and libdeflate all produce other bytes
than the reference zlib for the same level, and zlib-ng's even differ between x86_64 and
aarch64. The reference zlib's deflate is portable C with no CPU-specific code path, and
1.2.12 ... 1.3.1 write the same bytes for our settings (raw deflate, window 15, memLevel 9,
default strategy, full flushes, primed dictionaries). So the artifact's stream is that of
the reference zlib, from one library we pin: ``cmeel-zlib`` (a wheel of zlib, x86_64 and
aarch64, glibc >= 2.28), driven through ctypes (loaded with RTLD_DEEPBIND so its internal
calls never bind to a zlib the process already has, e.g. a preloaded zlib-ng).

That build is unoptimised (about 2.5x slower than a distribution's zlib), so the host's
``zlib`` module is used instead when it *is* the reference zlib: its runtime version is a
plain reference release and, per level, it writes exactly the pinned library's bytes for a
probe (mixed text and binary, several deflate blocks, primed and unprimed, flushed and
finished). ``IGNITE_DEFLATE=pinned`` always uses the pinned library. Either way the bytes
are the pinned library's, which the manifest and every cache key holding compressed bytes
name (:func:`compressor`).
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import zlib
from functools import lru_cache
from pathlib import Path

from packager.errors import ArtifactError
from packager.records import record

TYPE_CHECKING = False  # (typing's import is ~3 ms of a build that needs it only for mypy)
if TYPE_CHECKING:
    from typing import Any, Callable, Optional, Union

#: The distribution whose zlib writes every artifact (pinned exactly in pyproject.toml).
PINNED_DISTRIBUTION = "cmeel-zlib"
_LIBRARY_NAMES = ("libz.so.1", "libz.1.dylib")
#: Reference zlib releases whose deflate matches the pinned one for our settings (a host zlib
#: must also pass the probe); anything with a suffix (``1.3.1.zlib-ng``, ``-motley``) is not.
_REFERENCE_RELEASE = re.compile(r"1\.(2\.1[2-3]|3(\.[0-9]+){0,2})")

if TYPE_CHECKING:
    Buffer = Union[bytes, memoryview]

_Z_OK, _Z_STREAM_END, _Z_BUF_ERROR = 0, 1, -5
_Z_FULL_FLUSH, _Z_FINISH = 3, 4


@record
class Compressor:
    """What decides the artifact's compressed bytes: recorded in the manifest and cache keys."""

    library: str
    version: str

    @property
    def ident(self) -> str:
        return f"{self.library}-{self.version}"

    def to_dict(self) -> dict[str, str]:
        return {"library": self.library, "version": self.version}


#: The pinned zlib's version: the same as the pin in pyproject.toml (a test checks both, and the
#: library's own zlibVersion() is checked when it is loaded).
PINNED_VERSION = "1.3.1"


def compressor() -> Compressor:
    """The pinned zlib's identity (a constant: no library load, no metadata read, on every build)."""
    return Compressor("zlib", PINNED_VERSION)


def _missing(why: str = "is not installed") -> ArtifactError:
    return ArtifactError(
        f"the pinned deflate library ({PINNED_DISTRIBUTION}) {why}",
        where=PINNED_DISTRIBUTION,
        hint="reinstall ignite-packager with its dependencies (pip install ignite-packager); "
             f"{PINNED_DISTRIBUTION} ships zlib for linux x86_64/aarch64 (glibc >= 2.28) and macOS",
    )


@lru_cache(maxsize=1)
def _z_stream() -> Any:
    """zlib.h's ``z_stream`` as a ctypes structure (uInt = unsigned int, uLong = unsigned long)."""
    import ctypes

    class ZStream(ctypes.Structure):
        _fields_ = [
            ("next_in", ctypes.c_void_p), ("avail_in", ctypes.c_uint), ("total_in", ctypes.c_ulong),
            ("next_out", ctypes.c_void_p), ("avail_out", ctypes.c_uint), ("total_out", ctypes.c_ulong),
            ("msg", ctypes.c_char_p), ("state", ctypes.c_void_p),
            ("zalloc", ctypes.c_void_p), ("zfree", ctypes.c_void_p), ("opaque", ctypes.c_void_p),
            ("data_type", ctypes.c_int), ("adler", ctypes.c_ulong), ("reserved", ctypes.c_ulong),
        ]

    return ZStream


class _Pinned:
    """The pinned zlib through ctypes (CDLL calls release the GIL: chunks deflate in parallel)."""

    def __init__(self, path: str):
        import ctypes

        mode = os.RTLD_LOCAL | getattr(os, "RTLD_DEEPBIND", 0)
        try:
            lib = ctypes.CDLL(path, mode=mode)
        except OSError as exc:
            raise _missing(f"cannot be loaded from {path}: {exc}") from exc
        stream = ctypes.POINTER(_z_stream())
        lib.zlibVersion.restype = ctypes.c_char_p
        lib.zlibVersion.argtypes = []
        lib.deflateInit2_.argtypes = [stream, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                                      ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.deflate.argtypes = [stream, ctypes.c_int]
        lib.deflateEnd.argtypes = [stream]
        lib.deflateSetDictionary.argtypes = [stream, ctypes.c_char_p, ctypes.c_uint]
        lib.deflateBound.argtypes = [stream, ctypes.c_ulong]
        lib.deflateBound.restype = ctypes.c_ulong
        self.lib = lib
        self.version: bytes = lib.zlibVersion()
        if self.version.decode() != PINNED_VERSION:
            raise _missing(f"is zlib {self.version.decode()} at {path}, not {PINNED_VERSION}")

    def deflate(self, data: Buffer, level: int, final: bool, primed: Buffer = b"") -> bytes:
        import ctypes

        data = bytes(data)
        zs = _z_stream()
        lib, s = self.lib, zs()
        rc = lib.deflateInit2_(ctypes.byref(s), level, zlib.DEFLATED, -zlib.MAX_WBITS, 9,
                               zlib.Z_DEFAULT_STRATEGY, self.version, ctypes.sizeof(zs))
        if rc != _Z_OK:
            raise ArtifactError(f"zlib deflateInit2 failed ({rc})", where=PINNED_DISTRIBUTION)
        try:
            if primed:
                dictionary = bytes(primed)
                if lib.deflateSetDictionary(ctypes.byref(s), dictionary, len(dictionary)) != _Z_OK:
                    raise ArtifactError("zlib deflateSetDictionary failed", where=PINNED_DISTRIBUTION)
            source = ctypes.c_char_p(data)  # kept alive until deflateEnd
            s.next_in = ctypes.cast(source, ctypes.c_void_p).value
            s.avail_in = len(data)
            size = int(lib.deflateBound(ctypes.byref(s), len(data))) + 64
            parts: list[bytes] = []
            while True:
                out = ctypes.create_string_buffer(size)
                s.next_out = ctypes.addressof(out)
                s.avail_out = size
                rc = lib.deflate(ctypes.byref(s), _Z_FINISH if final else _Z_FULL_FLUSH)
                if rc not in (_Z_OK, _Z_STREAM_END, _Z_BUF_ERROR):
                    raise ArtifactError(f"zlib deflate failed ({rc})", where=PINNED_DISTRIBUTION)
                if rc == _Z_BUF_ERROR and s.avail_out == size:  # no progress possible: a bug, not a loop
                    raise ArtifactError("zlib deflate made no progress", where=PINNED_DISTRIBUTION)
                parts.append(out.raw[:size - s.avail_out])
                if (rc == _Z_STREAM_END) if final else (s.avail_out != 0 and s.avail_in == 0):
                    return b"".join(parts)
        finally:
            lib.deflateEnd(ctypes.byref(s))


@lru_cache(maxsize=1)
def _pinned() -> _Pinned:
    import importlib.metadata  # ~25 ms of import: only when the pinned library is needed

    try:
        dist = importlib.metadata.distribution(PINNED_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise _missing() from None
    for f in dist.files or ():
        if f.name in _LIBRARY_NAMES:
            return _Pinned(str(dist.locate_file(f)))
    raise _missing(f"has no {' or '.join(_LIBRARY_NAMES)}")


def _host_deflate(data: Buffer, level: int, final: bool, primed: Buffer = b"") -> bytes:
    if primed:
        comp = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS, 9, zlib.Z_DEFAULT_STRATEGY, primed)
    else:
        comp = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS, 9)
    return comp.compress(data) + comp.flush(zlib.Z_FINISH if final else zlib.Z_FULL_FLUSH)


#: :func:`_generate_probe` (level 9), zlib-compressed: 55 KB in the package. Made in Python the
#: probe held the GIL ~2.4 ms (the SHAKE stream and the joining loop) on the thread that runs it
#: at a cold build's start, and the main thread waited that long to get it back; inflated in C
#: (without the GIL) it is ~0.4 ms. A test checks it against the generator.
PROBE_FILE = Path(__file__).with_name("deflate-probe.zz")
#: The generator's lengths: the levels below 8 use the first PROBE_TEXT_BYTES.
PROBE_TEXT_BYTES, PROBE_ALL_BYTES = 240_097, 300_120


def _probe(level: int) -> bytes:
    """The probe's bytes for *level* (:func:`_generate_probe`), from :data:`PROBE_FILE`."""
    try:
        data = zlib.decompress(PROBE_FILE.read_bytes())
    except (OSError, zlib.error):
        data = b""
    if len(data) != PROBE_ALL_BYTES:  # (no file, or not this generator's: made here instead)
        return _generate_probe(level)
    return data if level >= 8 else data[:PROBE_TEXT_BYTES]


def write_probe_file() -> None:
    """Write :data:`PROBE_FILE` from the generator (run once when the generator changes)."""
    PROBE_FILE.write_bytes(zlib.compress(_generate_probe(9), 9))


def _generate_probe(level: int) -> bytes:
    """~240 KB that exercise the matcher: text with long and short repeats, binary noise, copies
    of earlier stretches up to 32,000 bytes back, runs (more than 32768 symbols: deflate blocks
    are split, as in any real segment).

    Every choice from one SHAKE-256 stream (standard, the same bytes on every host), the text
    joined from phrases at C speed. For levels 8 and 9, 60 KB more, word by word from a xorshift
    generator, whose many short repeats make hash chains long enough for those two levels to
    write different bytes (each level's digest differs); the other levels (the default is 4)
    use the first part only, which deflates in half the time.
    """
    words = [b"handler", b"payload", b"import", b"return", b"vendor", b"__init__", b"self", b"def ",
             b"\n    ", b"json", b"0x7f", b"ignite", b"(", b")", b":", b", ", b"\x00\x01", b"tar"]
    rnd = hashlib.shake_256(b"ignite deflate probe 2").digest(400_000)
    phrases = [b"".join(words[rnd[4 * i + k] % len(words)] for k in range(1 + rnd[4 * i] % 4)) for i in range(256)]
    out = bytearray()
    pos = 1024
    while len(out) < 240_000 and pos < len(rnd) - 2048:
        kind, a, b = rnd[pos], rnd[pos + 1], rnd[pos + 2]
        pos += 3
        if kind < 170:  # text: 16-271 phrases
            n = 16 + a
            out += b"".join(map(phrases.__getitem__, rnd[pos:pos + n]))
            pos += n
        elif kind < 215:  # noise: 4-1024 bytes
            n = 4 + a * 4
            out += rnd[pos:pos + n]
            pos += n
        elif kind < 245 and len(out) > 4096:  # an earlier stretch again, up to 32,000 bytes back
            start = len(out) - 1 - (a << 8 | b) % min(len(out) - 1, 32000)
            out += out[start:start + 3 + 2 * rnd[pos]]
            pos += 1
        else:  # a run
            out += bytes([a]) * (1 + 2 * b)
    # then word by word, short copies and noise (the long hash chains where levels 8 and 9 differ)
    x = 2463534242
    while level >= 8 and len(out) < 300_000:
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        r = x % 100
        if r < 70:
            out += words[x % len(words)]
        elif r < 90:
            out += x.to_bytes(4, "little")
        elif r < 97:
            start = len(out) - 1 - (x >> 7) % 32000
            out += out[start:start + 3 + (x >> 3) % 300]
        else:
            out += bytes([x & 0xFF]) * ((x >> 8) % 400)
    return bytes(out)


def probe_digest(deflater: Callable[[Buffer, int, bool, Buffer], bytes], level: int) -> str:
    """sha256 of *deflater*'s output for the probe as a segment is deflated, in two chunks ended by
    a full flush, the second primed with the 32 KB before it; then its last 32 KB alone, finished
    (as the artifact's last block is)."""
    data = memoryview(_probe(level))
    half = len(data) // 2
    h = hashlib.sha256()
    for chunk, primed, final in ((data[:half], b"", False), (data[half:], data[half - 32768:half], False),
                                 (data[-32768:], b"", True)):
        h.update(deflater(chunk, level, final, primed))
    return h.hexdigest()


#: probe_digest of the pinned library at each level (a test recomputes them with it): a host
#: zlib is checked without loading the pinned one, in a few ms.
PINNED_PROBE: dict[int, str] = {
    1: "8469d0874d8e8e7e0bda0cb0da6d698eb0e8f79d634667c3116a6c194902a189",
    2: "0d5c726379a5e4634bb10db09d7f01927476fbd11da20de4bd059940754d258e",
    3: "515a387a58b410603e80ef60aa270736f3d975f88474b690e427849012382b43",
    4: "60d8cca31c172fbd23d2ac611a9e11e72a6e09c00d56ff01ce495b41595b9def",
    5: "733cdd1ade7e498c168a57a9ee9d5c549c48065b8b875e8b07bbdc2fc36a831c",
    6: "4141b49efbcf6a72b899bb5adf47eba3f055b019905743da0508f59bd517aca2",
    7: "ba8fd9dd7471f5380fc46ab2d7577cfd55d49e49acdc023a5df44dba4c6cf0a4",
    8: "946c342ffe84ea0f3e3c92be1997258742026f6e045de86a9fbc1acdd60776c7",
    9: "f0a42cc4edc7dc955256e1e85e7122ab9f2fe786b570ffb9a9d7a21ff8aafab5",
}


def host_is_reference(level: int) -> bool:
    """Whether the host's ``zlib`` writes the pinned library's bytes at *level* (see the module doc)."""
    if os.environ.get("IGNITE_DEFLATE", "").strip().lower() == "pinned":
        return False
    if not _REFERENCE_RELEASE.fullmatch(zlib.ZLIB_RUNTIME_VERSION):
        return False
    known = _VERDICTS.get(level)
    if known is None:
        # One probe per process: a build's threads (the early probe, the launcher's segment, the
        # writer) may all ask at once, and two concurrent probes cost ~9 ms more on 2 cores.
        with _PROBING:
            known = _VERDICTS.get(level)
            if known is None:
                expected = PINNED_PROBE.get(level) or probe_digest(_pinned().deflate, level)
                known = _VERDICTS[level] = probe_digest(_host_deflate, level) == expected
    return known


#: :func:`host_is_reference`'s verdicts in this process: probed, or read from an earlier
#: build's note (:func:`recall_verdict`).
_VERDICTS: dict[int, bool] = {}
_PROBING = threading.Lock()


def forget_verdicts() -> None:
    """The next :func:`host_is_reference` probes again (tests that swap the host's zlib)."""
    _VERDICTS.clear()


@lru_cache(maxsize=1)
def host_zlib_files() -> tuple[str, ...]:
    """The files the host's ``zlib`` runs from, each with its size, mtime and inode.

    The libz this process mapped (Linux ``/proc/self/maps``) and the ``zlib`` module's own
    file: the same files write the same bytes. Empty when unknown (zlib linked into the
    interpreter, another OS): then nothing is remembered.
    """
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as f:
            mapped = {parts[5].strip() for parts in (line.split(None, 5) for line in f) if len(parts) == 6}
    except OSError:
        return ()
    libs = sorted(p for p in mapped if os.path.basename(p).startswith(("libz.", "libz-")))
    module = getattr(zlib, "__file__", None)
    if not libs:
        return ()
    out = []
    for path in [*libs, *([module] if module else [])]:
        try:
            st = os.stat(path)
        except OSError:
            return ()
        out.append(f"{path}:{st.st_size}:{st.st_mtime_ns}:{st.st_ino}")
    return tuple(out)


def _verdict_note(notes: Path, level: int) -> Optional[Path]:
    """Where the verdict for these zlib files is noted; None when it is no fact about them
    (``IGNITE_DEFLATE=pinned``, a zlib that is not a reference release, unknown files)."""
    if os.environ.get("IGNITE_DEFLATE", "").strip().lower() == "pinned":
        return None
    if not _REFERENCE_RELEASE.fullmatch(zlib.ZLIB_RUNTIME_VERSION):
        return None
    files = host_zlib_files()
    if not files:
        return None
    key = hashlib.sha256(repr((files, zlib.ZLIB_RUNTIME_VERSION, level, PINNED_PROBE.get(level),
                               PINNED_VERSION)).encode()).hexdigest()
    return notes / f"deflate-{key[:32]}"


def recall_verdict(notes: Path, level: int) -> bool:
    """Take :func:`host_is_reference`'s verdict from *notes* (a directory of the local cache)
    when an earlier build wrote it for these very zlib files; True when it did.

    The probe is ~5 ms of every build, no-requirements builds included; the verdict
    depends only on the zlib files (their path, size, mtime and inode name them), never
    on the build. A note that is not exactly ``yes`` or ``no`` is ignored.
    """
    note = _verdict_note(notes, level)
    if note is None:
        return False
    try:
        text = note.read_text("ascii")
    except (OSError, ValueError):
        return False
    if text not in ("yes", "no"):
        return False
    _VERDICTS[level] = text == "yes"
    return True


def remember_verdict(notes: Path, level: int) -> None:
    """Probe (:func:`host_is_reference`) and write the verdict where :func:`recall_verdict` reads it."""
    from packager.cache import atomic_bytes

    note = _verdict_note(notes, level)
    if note is None:
        return
    text = "yes" if host_is_reference(level) else "no"
    try:
        if note.read_text("ascii") == text:
            return
    except (OSError, ValueError):
        pass
    try:
        atomic_bytes(note, text.encode("ascii"))
    except OSError:  # a read-only cache: probed again next time
        pass


def deflate_raw(data: Buffer, level: int, final: bool, primed: Buffer = b"") -> bytes:
    """Raw deflate of *data* as the pinned zlib writes it: ended by a full flush, or finished if *final*."""
    if host_is_reference(level):
        return _host_deflate(data, level, final, primed)
    return _pinned().deflate(data, level, final, primed)


def implementation(level: int) -> str:
    """Which library deflates at *level* in this process (for diagnostics; never in an artifact)."""
    if host_is_reference(level):
        return f"host zlib {zlib.ZLIB_RUNTIME_VERSION} (checked identical to {compressor().ident})"
    return f"{PINNED_DISTRIBUTION} {PINNED_VERSION} ({_pinned().version.decode()})"
