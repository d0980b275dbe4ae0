"""The artifact's manifest: what it holds, where it came from, how to run it.

``manifest.json`` is the first member of every artifact so that ``inspect``
reads only the head. It is serialized canonically (sorted keys, fixed
indentation, UTF-8) because it is part of the byte-for-byte reproducible output.
"""

from __future__ import annotations

import hashlib
import json

from packager.errors import VerifyError
from packager.records import asdict, field, record

TYPE_CHECKING = False  # (typing's import is ~3 ms of a build that needs it only for mypy)
if TYPE_CHECKING:
    from typing import Any, Optional

FORMAT = "ignite-artifact"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
LAUNCHER_DIR = "__ignite__"
VENDOR_DIR = "vendor"
#: The default target's ``__pycache__`` tag.
PYC_TAG = "cpython-312"


def pyc_path(rel: str, tag: str = PYC_TAG) -> str:
    """Where the interpreter with cache tag *tag* looks for the bytecode of *rel*."""
    d, _, name = rel.rpartition("/")
    return f"{d}/__pycache__/{name[:-3]}.{tag}.pyc" if d else f"__pycache__/{name[:-3]}.{tag}.pyc"


def cache_tag(version: str) -> str:
    """``3.13`` -> ``cpython-313``."""
    return "cpython-" + version.replace(".", "")


RUN = ("python", "-m", LAUNCHER_DIR)


@record
class FileRecord:
    """One file in the artifact (the manifest itself excepted)."""

    path: str
    size: int
    mode: int
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "mode": f"{self.mode:04o}", "sha256": self.sha256}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FileRecord:
        return cls(path=d["path"], size=int(d["size"]), mode=int(d["mode"], 8), sha256=d["sha256"])


@record
class VendoredDist:
    """A third-party distribution installed into ``vendor/``."""

    name: str
    version: str
    wheel: str
    wheel_sha256: str
    files: int = 0
    size: int = 0
    built_from_sdist: bool = False


@record
class SkippedDist:
    """A requirement left to the image (preinstalled) with the version it pins."""

    name: str
    version: str
    reason: str


@record
class Manifest:
    """Everything recorded about one artifact."""

    entry_module: str
    entry_function: str
    convention: str
    target: dict[str, Any]
    files: tuple[FileRecord, ...]
    packager_version: str
    launcher_version: str
    source: dict[str, Any] = field(default_factory=dict)
    requirements: dict[str, Any] = field(default_factory=dict)
    vendored: tuple[VendoredDist, ...] = ()
    skipped: tuple[SkippedDist, ...] = ()
    compression: dict[str, Any] = field(default_factory=dict)
    mtime: int = 0
    compiled: bool = False
    #: ``--slim``: the settings and, per vendored distribution, what they left out
    #: (``{"dropped": {name: {"files", "bytes"}}, "patterns": [...], ...}``); empty without slim
    slim: dict[str, Any] = field(default_factory=dict)
    #: digitalhub's init function (``--init NAME``), called once at start; None: none
    entry_init: Optional[str] = None
    #: its keyword arguments (``--init-param``; a digitalhub run's ``init_parameters``)
    entry_init_parameters: dict[str, Any] = field(default_factory=dict)
    #: settings of the convention's adapter (lambda: ``{"payload": "raw"}``); empty: the defaults
    convention_options: dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    @property
    def tree_digest(self) -> str:
        """A digest of the file list: equal trees give equal digests whatever the compression."""
        h = hashlib.sha256()
        for f in sorted(self.files, key=lambda r: r.path):
            h.update(f"{f.path}\0{f.mode:o}\0{f.size}\0{f.sha256}\n".encode())
        return h.hexdigest()

    def to_dict(self) -> dict[str, Any]:
        out = {
            "format": FORMAT,
            "format_version": self.format_version,
            "packager": {"name": "ignite-packager", "version": self.packager_version},
            "launcher": {"version": self.launcher_version, "path": LAUNCHER_DIR},
            "entry": self.entry(),
            "convention": self.convention,
            "run": list(RUN),
            "target": self.target,
            "source": self.source,
            "requirements": self.requirements,
            "vendored": [asdict(v) for v in self.vendored],
            "skipped": [asdict(s) for s in self.skipped],
            "compression": self.compression,
            "mtime": self.mtime,
            "compiled": self.compiled,
            "tree_digest": self.tree_digest,
            "files": [f.to_dict() for f in self.files],
        }
        if self.slim:  # only then: a build without slim keeps its exact bytes
            out["slim"] = self.slim
        if self.convention_options:  # likewise
            out["convention_options"] = dict(self.convention_options)
        return out

    def entry(self) -> dict[str, Any]:
        """The manifest's ``entry`` object; ``init``, ``init_parameters`` only when set (older bytes stay the same)."""
        out: dict[str, Any] = {"module": self.entry_module, "function": self.entry_function}
        if self.entry_init:
            out["init"] = self.entry_init
        if self.entry_init_parameters:
            out["init_parameters"] = dict(self.entry_init_parameters)
        return out

    def to_bytes(self) -> bytes:
        """``json.dumps(to_dict(), sort_keys=True, indent=1, ensure_ascii=False)`` and a newline.

        With ``indent`` json encodes in pure Python: 66 ms for S2's 2,800 files, as long as
        the rest of a warm build's Python work. So the rest is written by json and the file
        list, four known keys per record, line by line with json's own string encoder
        (tests/test_manifest.py checks the bytes equal json's for odd paths).
        """
        d = self.to_dict()
        files = d["files"]
        d["files"] = []
        text = json.dumps(d, sort_keys=True, indent=1, ensure_ascii=False)
        if files:
            enc = json.encoder.encode_basestring  # what ensure_ascii=False writes strings with
            body = ",\n".join(
                f'  {{\n   "mode": {enc(f["mode"])},\n   "path": {enc(f["path"])},\n'
                f'   "sha256": {enc(f["sha256"])},\n   "size": {int(f["size"])}\n  }}'
                for f in files
            )
            head, sep, tail = text.partition('\n "files": [],')
            if not sep:  # the last key (nothing sorts after "files" today): no comma
                head, sep, tail = text.partition('\n "files": []\n')
                text = f'{head}\n "files": [\n{body}\n ]\n{tail}'
            else:
                text = f'{head}\n "files": [\n{body}\n ],{tail}'
        return (text + "\n").encode()

    @classmethod
    def from_bytes(cls, data: bytes, where: str = MANIFEST_NAME) -> Manifest:
        try:
            d = json.loads(data.decode("utf-8"))
            if d.get("format") != FORMAT:
                raise ValueError(f"format is {d.get('format')!r}, not {FORMAT!r}")
            if int(d["format_version"]) > FORMAT_VERSION:
                raise VerifyError(
                    f"manifest format version {d['format_version']} is newer than this packager "
                    f"understands ({FORMAT_VERSION})", where=where,
                    hint="upgrade ignite-packager",
                )
            m = cls(
                entry_module=d["entry"]["module"],
                entry_function=d["entry"]["function"],
                entry_init=d["entry"].get("init"),
                entry_init_parameters=dict(d["entry"].get("init_parameters") or {}),
                convention=d.get("convention", "ignite"),
                target=d.get("target", {}),
                files=tuple(FileRecord.from_dict(f) for f in d["files"]),
                packager_version=d["packager"]["version"],
                launcher_version=d["launcher"]["version"],
                source=d.get("source", {}),
                requirements=d.get("requirements", {}),
                vendored=tuple(VendoredDist(**v) for v in d.get("vendored", [])),
                skipped=tuple(SkippedDist(**s) for s in d.get("skipped", [])),
                compression=d.get("compression", {}),
                mtime=int(d.get("mtime", 0)),
                compiled=bool(d.get("compiled", False)),
                slim=dict(d.get("slim") or {}),
                convention_options=dict(d.get("convention_options") or {}),
                format_version=int(d["format_version"]),
            )
        except VerifyError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise VerifyError(
                f"manifest is not valid: {exc}", where=where,
                hint="this file was not written by ignite-pack, or it was modified",
            ) from exc
        recorded = d.get("tree_digest")
        if recorded is not None and recorded != m.tree_digest:
            raise VerifyError(
                "manifest's tree_digest does not match its file list", where=where,
                hint="the manifest was edited; rebuild the artifact",
            )
        return m
