"""Tiny wheels and sdists made inside the tests, for hermetic dependency tests."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Optional


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def make_wheel(
    directory: Path,
    name: str,
    version: str,
    *,
    requires: Iterable[str] = (),
    files: Optional[dict[str, str | bytes]] = None,
    tag: str = "py3-none-any",
    requires_python: Optional[str] = None,
    scripts: Optional[dict[str, str]] = None,
    metadata: Iterable[str] = (),
    extras: Optional[dict[str, list[str]]] = None,
) -> Path:
    """Write ``name-version-tag.whl`` into *directory* and return its path.

    By default the wheel holds one module, ``<name>.py``, whose ``VERSION`` is *version*.
    *extras* maps each extra to its requirements (``Provides-Extra`` + ``Requires-Dist: r; extra == "e"``).
    *metadata* adds header lines to METADATA (e.g. ``License-Expression: MIT``).
    """
    directory.mkdir(parents=True, exist_ok=True)
    dist = name.replace("-", "_")
    files = files if files is not None else {f"{dist}.py": f"VERSION = {version!r}\n"}
    info = f"{dist}-{version}.dist-info"
    meta = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    if requires_python:
        meta.append(f"Requires-Python: {requires_python}")
    meta += [f"Requires-Dist: {r}" for r in requires]
    for extra, reqs in (extras or {}).items():
        meta.append(f"Provides-Extra: {extra}")
        for r in reqs:
            req, _, marker = r.partition(";")
            meta.append(f"Requires-Dist: {req.strip()}; "
                        + (f"({marker.strip()}) and " if marker else "") + f'extra == "{extra}"')
    meta += list(metadata)
    entries: dict[str, bytes] = {
        p: (c.encode() if isinstance(c, str) else c) for p, c in files.items()
    }
    entries[f"{info}/METADATA"] = ("\n".join(meta) + "\n").encode()
    entries[f"{info}/WHEEL"] = (
        f"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: {'true' if tag.endswith('any') else 'false'}\n"
        + "".join(f"Tag: {t}\n" for t in _expand(tag))
    ).encode()
    if scripts:
        entries[f"{info}/entry_points.txt"] = (
            "[console_scripts]\n" + "".join(f"{k} = {v}\n" for k, v in scripts.items())
        ).encode()
    record = "".join(f"{p},{_record_hash(d)},{len(d)}\n" for p, d in entries.items())
    record += f"{info}/RECORD,,\n"
    entries[f"{info}/RECORD"] = record.encode()
    path = directory / f"{dist}-{version}-{tag}.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(entries):
            zi = zipfile.ZipInfo(p, date_time=(2020, 1, 1, 0, 0, 0))
            zi.external_attr = 0o644 << 16
            zf.writestr(zi, entries[p])
    return path


def _expand(tag: str) -> list[str]:
    py, abi, plat = tag.split("-")
    return [f"{a}-{b}-{c}" for a in py.split(".") for b in abi.split(".") for c in plat.split(".")]


def make_sdist(
    directory: Path,
    name: str,
    version: str,
    *,
    requires: Iterable[str] = (),
    module_source: Optional[str] = None,
    c_extension: bool = False,
    setup_py: Optional[str] = None,
    extra_files: Optional[dict[str, str]] = None,
    links: Optional[dict[str, str]] = None,
) -> Path:
    """Write a setuptools sdist ``name-version.tar.gz`` (pure Python unless *c_extension*).

    *extra_files* adds files and *links* symbolic links (member -> link target), both relative
    to the sdist's top directory; *setup_py* replaces the generated setup.py.
    """
    directory.mkdir(parents=True, exist_ok=True)
    dist = name.replace("-", "_")
    base = f"{dist}-{version}"
    reqs = ", ".join(repr(r) for r in requires)
    ext = ""
    if c_extension:
        ext = (
            "from setuptools import Extension\n"
            f"ext_modules = [Extension('{dist}_c', sources=['{dist}_c.c'])]\n"
        )
    setup_py = setup_py or (
        "from setuptools import setup\n" + ext +
        f"setup(name={name!r}, version={version!r}, py_modules=[{dist!r}], "
        f"install_requires=[{reqs}]" + (", ext_modules=ext_modules" if c_extension else "") + ")\n"
    )
    pyproject = '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
    files = {
        f"{base}/setup.py": setup_py,
        f"{base}/pyproject.toml": pyproject,
        f"{base}/{dist}.py": module_source or f"VERSION = {version!r}\n",
        f"{base}/PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
    }
    if c_extension:
        files[f"{base}/{dist}_c.c"] = (
            "#include <Python.h>\nstatic struct PyModuleDef m = {PyModuleDef_HEAD_INIT, "
            f'"{dist}_c", NULL, -1, NULL}};\nPyMODINIT_FUNC PyInit_{dist}_c(void) '
            "{ return PyModule_Create(&m); }\n"
        )
    files.update({f"{base}/{p}": c for p, c in (extra_files or {}).items()})
    path = directory / f"{base}.tar.gz"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for p, c in sorted(files.items()):
            data = c.encode()
            ti = tarfile.TarInfo(p)
            ti.size = len(data)
            ti.mode = 0o644
            tf.addfile(ti, io.BytesIO(data))
        for p, target in sorted((links or {}).items()):
            ti = tarfile.TarInfo(f"{base}/{p}")
            ti.type, ti.linkname, ti.mode = tarfile.SYMTYPE, target, 0o777
            tf.addfile(ti)
    path.write_bytes(buf.getvalue())
    return path


class LoopbackIndex:
    """A PEP 503 simple index over a directory of files, on 127.0.0.1, for one test.

    Use as a context manager; the server thread is stopped on exit. ``hits``
    counts requests so a test can prove that a warm build made none.
    """

    def __init__(self, files_dir: Path, json_pages: bool = False) -> None:
        import http.server
        import threading

        self.files_dir = files_dir
        self.json_pages = json_pages  # PEP 691 JSON project pages instead of PEP 503 HTML
        self.hits = 0
        index = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return None

            def do_GET(self, head: bool = False) -> None:
                index.hits += 1
                body, ctype = index._route(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if not head:
                    self.wfile.write(body)

            def do_HEAD(self) -> None:  # uv asks before a range request; real indexes answer
                self.do_GET(head=True)

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/simple/"

    def _projects(self) -> dict[str, list[Path]]:
        from packaging.utils import canonicalize_name

        out: dict[str, list[Path]] = {}
        for f in sorted(self.files_dir.iterdir()):
            if f.name.endswith(".whl"):
                name = f.name.split("-")[0]
            elif f.name.endswith(".tar.gz"):
                name = f.name[: -len(".tar.gz")].rsplit("-", 1)[0]
            else:
                continue
            out.setdefault(canonicalize_name(name), []).append(f)
        return out

    def _route(self, path: str) -> tuple[Optional[bytes], str]:
        path = path.split("?", 1)[0]
        if path.startswith("/files/"):
            f = self.files_dir / path[len("/files/"):]
            return (f.read_bytes(), "application/octet-stream") if f.is_file() else (None, "")
        if path.rstrip("/") == "/simple":
            links = "".join(f'<a href="{n}/">{n}</a>\n' for n in self._projects())
            return f"<html><body>{links}</body></html>".encode(), "text/html"
        if path.startswith("/simple/"):
            name = path[len("/simple/"):].strip("/")
            files = self._projects().get(name)
            if files is None:
                return None, ""
            if self.json_pages:
                return json.dumps({"meta": {"api-version": "1.0"}, "name": name, "files": [
                    {"filename": f.name, "url": f"/files/{f.name}",
                     "hashes": {"sha256": hashlib.sha256(f.read_bytes()).hexdigest()}} for f in files]}).encode(), \
                    "application/vnd.pypi.simple.v1+json"
            links = "".join(
                f'<a href="/files/{f.name}#sha256={hashlib.sha256(f.read_bytes()).hexdigest()}">{f.name}</a>\n'
                for f in files
            )
            return f"<html><body>{links}</body></html>".encode(), "text/html"
        return None, ""

    def __enter__(self) -> LoopbackIndex:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
