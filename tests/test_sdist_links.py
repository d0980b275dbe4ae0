"""sdists from the index are read as tarfile's ``data`` filter (PEP 706) reads them (issue 28).

A link that resolves inside the sdist (simple-crypt ships ``README.txt -> README.md``) is
followed; an absolute link or one leaving the tree is refused, naming the member.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from packager.build import build
from packager.deps.indexconfig import IndexConfig
from packager.errors import SdistBuildError
from packager.options import BuildOptions
from tests.wheelhouse import make_sdist

HANDLER = "import linky\n\ndef handler(payload, ctx):\n    return linky.ANSWER\n"

#: setup.py reads the linked README, as simple-crypt's does: the link must be there as a file.
SETUP = ("from setuptools import setup\n"
         "setup(name='linky', version='1.0', py_modules=['linky'], long_description=open('README.txt').read())\n")


def _build(tmp_path: Path, wheelhouse: Path) -> BuildOptions:
    src = tmp_path / "src"
    src.mkdir()
    (src / "handler.py").write_text(HANDLER)
    (src / "requirements.txt").write_text("linky==1.0\n")
    return BuildOptions(source=src, output=tmp_path / "a.tar.gz", cache_dir=tmp_path / "cache",
                        index=IndexConfig(find_links=(str(wheelhouse),), offline=True), wheelhouses=(wheelhouse,))


def test_a_link_inside_the_sdist_is_followed_and_the_sdist_built(tmp_path: Path, hermetic_pip: Path) -> None:
    wh = tmp_path / "wh"
    make_sdist(wh, "linky", "1.0", module_source="ANSWER = 42\n", setup_py=SETUP,
               extra_files={"README.md": "# linky\n", "docs/a.txt": "a\n"},
               links={"README.txt": "README.md", "more/docs": "../docs"})
    result = build(_build(tmp_path, wh))
    [dist] = result.manifest.vendored
    assert dist.name == "linky" and dist.built_from_sdist
    with tarfile.open(tmp_path / "a.tar.gz") as tf:
        assert tf.extractfile("vendor/linky.py").read() == b"ANSWER = 42\n"  # type: ignore[union-attr]


@pytest.mark.parametrize(("target", "why"), [("../../etc/passwd", "leaves the archive"),
                                             ("/etc/passwd", "absolute path")])
def test_a_link_leaving_the_sdist_is_refused_naming_the_member(tmp_path: Path, hermetic_pip: Path,
                                                                target: str, why: str) -> None:
    wh = tmp_path / "wh"
    make_sdist(wh, "linky", "1.0", setup_py=SETUP, extra_files={"README.md": "x\n"},
               links={"README.txt": target})
    with pytest.raises(SdistBuildError) as err:
        build(_build(tmp_path, wh))
    assert "linky-1.0/README.txt" in err.value.message and why in err.value.message
    assert not (tmp_path / "a.tar.gz").exists()


def test_uploads_still_refuse_every_link(tmp_path: Path) -> None:
    from packager.errors import ArchiveError
    from packager.source.intake import read_source

    sdist = make_sdist(tmp_path, "linky", "1.0", extra_files={"README.md": "x\n"}, links={"README.txt": "README.md"})
    with pytest.raises(ArchiveError, match="symbolic link"):
        read_source(sdist)
