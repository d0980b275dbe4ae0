"""Reproducible sdist builds (issue 30 item 2, issue 28's target-interpreter item)."""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from packager.artifact.tarball import iter_members
from packager.build import build
from packager.deps.indexconfig import IndexConfig
from packager.errors import SdistBuildError
from packager.options import BuildOptions
from tests.wheelhouse import make_wheel

C_SOURCE = r"""#include <Python.h>
#include <assert.h>
static const char where[] = __FILE__;
static PyObject *f(PyObject *self, PyObject *args) { assert(self == NULL || self != NULL); return PyUnicode_FromString(where); }
static PyMethodDef methods[] = {{"where", f, METH_NOARGS, NULL}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef m = {PyModuleDef_HEAD_INIT, "cfile", NULL, -1, methods};
PyMODINIT_FUNC PyInit_cfile(void) { return PyModule_Create(&m); }
"""


def make_c_sdist(directory: Path, name: str = "cfile", version: str = "1.0") -> Path:
    """A setuptools sdist with one C extension that embeds its file name (``__FILE__``) and, built
    with ``-g`` (as psycopg2 is), its build directory (DWARF ``DW_AT_comp_dir``)."""
    base = f"{name}-{version}"
    files = {
        f"{base}/setup.py": ("from setuptools import Extension, setup\n"
                             f"setup(name={name!r}, version={version!r}, "
                             f"ext_modules=[Extension({name!r}, sources=['src/{name}.c'], extra_compile_args=['-g'])])\n"),
        f"{base}/pyproject.toml": '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n',
        f"{base}/src/{name}.c": C_SOURCE,
        f"{base}/PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
    }
    directory.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for p, c in sorted(files.items()):
            data = c.encode()
            ti = tarfile.TarInfo(p)
            ti.size, ti.mode = len(data), 0o644
            tf.addfile(ti, io.BytesIO(data))
    path = directory / f"{base}.tar.gz"
    path.write_bytes(buf.getvalue())
    return path


def _source(directory: Path) -> Path:
    directory.mkdir(parents=True)
    (directory / "handler.py").write_text("import cfile\n\ndef handler(payload, ctx):\n    return cfile.where()\n")
    (directory / "requirements.txt").write_text("cfile==1.0\n")
    return directory


def test_a_c_sdist_built_in_two_directories_gives_the_same_bytes_and_no_build_path(
        tmp_path: Path, python312: str, hermetic_pip: Path) -> None:
    wh = tmp_path / "wheelhouse"
    make_c_sdist(wh)
    shas, wheels = [], []
    for run in ("one", "two"):
        root = tmp_path / run / "deeper-path"
        out = root / "a.tar.gz"
        result = build(BuildOptions(source=_source(root / "src"), output=out, cache_dir=root / "cache",
                                    target_interpreter=python312, wheelhouses=(wh,),
                                    index=IndexConfig(find_links=(str(wh),), offline=True)))
        assert [v.built_from_sdist for v in result.manifest.vendored] == [True]
        shas.append(result.sha256)
        (wheel,) = (root / "cache" / "built").glob("cfile-*.whl")
        assert "cp312" in wheel.name
        wheels.append(hashlib.sha256(wheel.read_bytes()).hexdigest())
        for m in iter_members(out):
            for needle in (str(tmp_path).encode(), b"ignite-sdist-", b"/tmp/"):
                assert needle not in m.data, f"{m.path} holds the build path {needle!r}"
    assert wheels[0] == wheels[1]
    assert shas[0] == shas[1]


def test_a_c_sdist_that_fails_to_compile_names_the_interpreter_and_headers(
        tmp_path: Path, python312: str, hermetic_pip: Path) -> None:
    wh = tmp_path / "wheelhouse"
    sdist = make_c_sdist(wh)
    with tarfile.open(sdist) as tf:  # the same sdist, with C that does not compile
        members = [(m, tf.extractfile(m).read()) for m in tf]  # type: ignore[union-attr]
    with tarfile.open(sdist, "w:gz") as tf:
        for m, data in members:
            if m.name.endswith(".c"):
                data = b"#error only for this test\n" + data
                m.size = len(data)
            tf.addfile(m, io.BytesIO(data))
    with pytest.raises(SdistBuildError) as err:
        build(BuildOptions(source=_source(tmp_path / "src"), output=tmp_path / "a.tar.gz", target_interpreter=python312,
                           wheelhouses=(wh,), index=IndexConfig(find_links=(str(wh),), offline=True)))
    msg = err.value.message
    assert f"CPython 3.12 ({python312}, headers " in msg and "python3.12" in msg.split("headers ", 1)[1]
    assert "only for this test" in msg
    assert not (tmp_path / "a.tar.gz").exists()


def test_an_extension_needing_a_library_the_target_lacks_is_warned_about(tmp_path: Path, hermetic_pip: Path) -> None:
    """A host-only wheel (as a wheel built here from an sdist is) links a library that is neither
    inside it nor on the manylinux policy's list: the build says which, and for which distribution."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    (tmp_path / "dep.c").write_text("int ignite_dep(void) { return 1; }\n")
    (tmp_path / "ext.c").write_text("int ignite_dep(void);\nint ext(void) { return ignite_dep(); }\n")
    subprocess.run([cc, "-shared", "-fPIC", "-Wl,-soname,libignitedep.so.3", "-o", str(tmp_path / "libignitedep.so"),
                    str(tmp_path / "dep.c")], check=True)
    subprocess.run([cc, "-shared", "-fPIC", "-o", str(tmp_path / "ext.so"), str(tmp_path / "ext.c"),
                    f"-L{tmp_path}", "-lignitedep", "-lz"], check=True)
    wh = tmp_path / "wheelhouse"
    make_wheel(wh, "linked", "1.0", tag="cp312-cp312-linux_x86_64", files={
        "linked/__init__.py": "", "linked/_ext.cpython-312-x86_64-linux-gnu.so": (tmp_path / "ext.so").read_bytes()})
    src = tmp_path / "src"
    src.mkdir()
    (src / "handler.py").write_text("def handler(payload, ctx):\n    return 1\n")
    (src / "requirements.txt").write_text("linked==1.0\n")
    result = build(BuildOptions(source=src, output=tmp_path / "a.tar.gz", wheelhouses=(wh,),
                                index=IndexConfig(find_links=(str(wh),), offline=True)))
    found = [w for w in result.warnings if "libignitedep.so.3" in w]
    assert len(found) == 1, result.warnings
    assert "linked 1.0" in found[0] and "linked/_ext.cpython-312-x86_64-linux-gnu.so" in found[0]
    assert "manylinux_2_36" in found[0]
    assert not any("libz.so.1" in w or "libc.so.6" in w for w in result.warnings)  # allowed by the policy


def test_an_sdist_build_keeps_its_temp_files_inside_its_mapped_work_directory(
        tmp_path: Path, python312: str, hermetic_pip: Path) -> None:
    """Build requirements' headers live in the build's isolated environment under TMPDIR: that must be
    the work directory whose path is mapped away, not the run's shared temp directory."""
    from tests.wheelhouse import make_sdist

    wh = tmp_path / "wheelhouse"
    make_sdist(wh, "tmpprobe", "1.0", setup_py=(
        "import os\nfrom setuptools import setup\n"
        "os.makedirs('tmpprobe', exist_ok=True)\n"
        "open('tmpprobe/__init__.py', 'w').write('TMPDIR = %r\\n' % os.environ.get('TMPDIR', ''))\n"
        "setup(name='tmpprobe', version='1.0', packages=['tmpprobe'])\n"))
    src = tmp_path / "src"
    src.mkdir()
    (src / "handler.py").write_text("def handler(payload, ctx):\n    return 1\n")
    (src / "requirements.txt").write_text("tmpprobe==1.0\n")
    out = tmp_path / "a.tar.gz"
    build(BuildOptions(source=src, output=out, target_interpreter=python312, wheelhouses=(wh,),
                       index=IndexConfig(find_links=(str(wh),), offline=True)))
    (recorded,) = [m.data.decode() for m in iter_members(out) if m.path == "vendor/tmpprobe/__init__.py"]
    tmpdir = recorded.split("=", 1)[1].strip().strip("'")
    assert "ignite-sdist-" in tmpdir and tmpdir.endswith("/tmp"), recorded
