"""The install stage: a wheel into ``vendor/`` entries, each file checked against RECORD on the way."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from packager.deps.install import install_wheel
from packager.errors import FetchError
from tests.wheelhouse import make_wheel


def _rewrite(wheel: Path, change: dict[str, bytes]) -> Path:
    """The same wheel with members replaced or added (RECORD left as it was)."""
    out = wheel.with_name("x-" + wheel.name)
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info, change.pop(info.filename, b"") or src.read(info))
        for name, data in change.items():
            dst.writestr(name, data)
    out.replace(wheel)
    return wheel


def test_a_valid_wheel_installs_with_its_files_and_a_rewritten_record(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, "small", "1.0", files={"small/__init__.py": "X = 1\n", "small/data.bin": b"\0" * 5000})
    dist = install_wheel(wheel)
    paths = [e.path for e in dist.entries]
    assert "vendor/small/__init__.py" in paths and "vendor/small/data.bin" in paths
    assert dist.name == "small" and dist.version == "1.0"


@pytest.mark.parametrize("change, says", [
    ({"small/__init__.py": b"X = 2\n"}, "didn't match RECORD"),  # same size, other bytes
    ({"small/__init__.py": b"X = 1  # longer\n"}, "didn't match RECORD"),
    ({"small/extra.py": b"Y = 1\n"}, "not mentioned in RECORD"),
])
def test_a_file_that_does_not_match_record_fails_the_install(tmp_path: Path, change: dict[str, bytes],
                                                             says: str) -> None:
    wheel = _rewrite(make_wheel(tmp_path, "small", "1.0", files={"small/__init__.py": "X = 1\n"}), change)
    with pytest.raises(FetchError, match="wheel cannot be installed") as ei:
        install_wheel(wheel)
    assert says in str(ei.value) and ei.value.where == wheel.name


def test_record_signatures_are_not_expected_in_record(tmp_path: Path) -> None:
    """RECORD.jws / RECORD.p7s are never listed in RECORD (as installer's validate_record)."""
    wheel = _rewrite(make_wheel(tmp_path, "small", "1.0", files={"small/__init__.py": "X = 1\n"}),
                     {"small-1.0.dist-info/RECORD.jws": b"{}"})
    dist = install_wheel(wheel)
    assert "vendor/small/__init__.py" in [e.path for e in dist.entries]


def _record_with(wheel: Path, algorithm: str, corrupt: str = "") -> Path:
    """The wheel with RECORD's hashes in *algorithm* (the hash of *corrupt*'s member made wrong)."""
    import base64
    import hashlib

    with zipfile.ZipFile(wheel) as src:
        record = next(n for n in src.namelist() if n.endswith(".dist-info/RECORD"))
        rows = []
        for name in src.namelist():
            if name == record:
                rows.append(f"{name},,")
                continue
            data = src.read(name)
            wrong = data + (b"!" if name == corrupt else b"")
            value = base64.urlsafe_b64encode(hashlib.new(algorithm, wrong).digest()).decode().rstrip("=")
            rows.append(f"{name},{algorithm}={value},{len(data)}")
    return _rewrite(wheel, {record: "\n".join(rows).encode() + b"\n"})


def test_record_hashed_with_another_algorithm_is_checked_with_it(tmp_path: Path) -> None:
    files = {"small/__init__.py": "X = 1\n"}
    dist = install_wheel(_record_with(make_wheel(tmp_path / "a", "small", "1.0", files=files), "sha512"))
    assert "vendor/small/__init__.py" in [e.path for e in dist.entries]
    wheel = _record_with(make_wheel(tmp_path / "b", "small", "1.0", files=files), "sha512", corrupt="small/__init__.py")
    with pytest.raises(FetchError, match="didn't match RECORD"):
        install_wheel(wheel)


def test_each_file_is_hashed_once_and_every_record_names_its_bytes(tmp_path: Path) -> None:
    """The sha256 computed while checking RECORD is the one the installed RECORD and the
    manifest carry: each must still be the sha256 of the bytes that ship."""
    import base64
    import hashlib

    wheel = make_wheel(tmp_path, "small", "1.0", files={"small/__init__.py": "X = 1\n", "small/data.bin": b"\1" * 5000})
    dist = install_wheel(wheel)
    by_path = {e.path: e for e in dist.entries}
    for e in dist.entries:
        assert e.record().sha256 == hashlib.sha256(e.data).hexdigest(), e.path
    record = next(e for p, e in by_path.items() if p.endswith(".dist-info/RECORD"))
    for row in record.data.decode().splitlines():
        path, hash_, size = row.rsplit(",", 2)
        if not hash_:
            continue
        data = by_path[f"vendor/{path}"].data
        assert hash_ == "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode().rstrip("=")
        assert int(size) == len(data)
    assert any(p.endswith(".dist-info/INSTALLER") for p in by_path)
