"""Local I/O faults are named, never "internal error … this is a bug" (issue 31 item 11).

Full disks come from a small tmpfs mounted in the test (root only; skipped otherwise), other
users from ``setpriv``; each mount is undone in the test's teardown.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

import pytest

from tests.conftest import run_cli
from tests.wheelhouse import LoopbackIndex, make_wheel

HANDLER = "def handler(payload, ctx):\n    return 1\n"


@pytest.fixture
def tmpfs() -> Iterator[Callable[..., Path]]:
    """mount(path, size='64k', ro=False): a tmpfs at *path*, unmounted after the test."""
    mounted: list[Path] = []

    def mount(path: Path, size: str = "64k", ro: bool = False, fill_to: int = 0) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                           capture_output=True, text=True, timeout=30, check=False)
        if r.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
        mounted.append(path)
        if fill_to:  # leave about *fill_to* bytes free
            st = os.statvfs(path)
            free = st.f_bavail * st.f_frsize
            (path / ".fill").write_bytes(b"\0" * max(0, free - fill_to))
        if ro:
            subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True, timeout=30)
        return path

    yield mount
    for path in reversed(mounted):
        subprocess.run(["umount", "-l", str(path)], check=False, timeout=30)


def _src(tmp_path: Path, requirements: str = "") -> Path:
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    (src / "handler.py").write_text(HANDLER)
    if requirements:
        (src / "requirements.txt").write_text(requirements)
    return src


def _error(r: subprocess.CompletedProcess[str]) -> dict[str, object]:
    assert "Traceback" not in r.stdout + r.stderr and "this is a bug" not in r.stdout + r.stderr, r.stderr
    return dict(json.loads(r.stdout)["error"])


def test_enospc_on_the_output_is_an_artifact_error(tmp_path: Path, tmpfs: Callable[..., Path]) -> None:
    out_dir = tmpfs(tmp_path / "out", "64k")
    r = run_cli("build", str(_src(tmp_path)), "-o", str(out_dir / "fn.tar.gz"), "--json",
                "--cache-dir", str(tmp_path / "cache"))
    err = _error(r)
    assert r.returncode == 10 and err["error"] == "artifact", r.stdout
    assert "No space left on device (ENOSPC)" in str(err["message"]) and str(out_dir) in str(err["where"])
    assert "free space" in str(err["hint"])
    assert [p.name for p in out_dir.iterdir()] == []  # no half-written temp file left behind


def test_enospc_while_cached_segments_are_copied_is_an_artifact_error(
        tmp_path: Path, tmpfs: Callable[..., Path], hermetic_pip: Path) -> None:
    """A warm build copies its cached segments with the kernel (another filesystem here: the
    copy is refused with EXDEV, or done, depending on the kernel); a full output is still named."""
    wh = tmp_path / "wh"
    make_wheel(wh, "bulky", "1.0", files={"bulky/blob.bin": os.urandom(200_000)})
    src = _src(tmp_path, "bulky\n")
    args = ["--wheelhouse", str(wh), "--offline", "--json", "--cache-dir", str(tmp_path / "cache")]
    warm = run_cli("build", str(src), "-o", str(tmp_path / "first.tar.gz"), *args)
    assert warm.returncode == 0, warm.stdout + warm.stderr
    out_dir = tmpfs(tmp_path / "out", "128k")
    r = run_cli("build", str(src), "-o", str(out_dir / "fn.tar.gz"), *args)
    err = _error(r)
    assert r.returncode == 10 and err["error"] == "artifact", r.stdout
    assert "No space left on device (ENOSPC)" in str(err["message"]) and str(out_dir) in str(err["where"])
    assert [p.name for p in out_dir.iterdir()] == []


def test_a_read_only_output_directory_is_an_artifact_error(tmp_path: Path, tmpfs: Callable[..., Path]) -> None:
    out_dir = tmpfs(tmp_path / "ro-out", "1m", ro=True)
    r = run_cli("build", str(_src(tmp_path)), "-o", str(out_dir / "fn.tar.gz"), "--json",
                "--cache-dir", str(tmp_path / "cache"))
    err = _error(r)
    assert r.returncode == 10 and "Read-only file system (EROFS)" in str(err["message"]), r.stdout
    assert "writable" in str(err["hint"])


def test_enospc_on_the_cache_names_the_cache(tmp_path: Path, tmpfs: Callable[..., Path], hermetic_pip: Path) -> None:
    wh = tmp_path / "wh"
    make_wheel(wh, "bigdep", "1.0", files={"bigdep.py": "X = 1\n", "bigdep.dat": os.urandom(256 * 1024)})
    cache = tmpfs(tmp_path / "cache", "128k")
    r = run_cli("build", str(_src(tmp_path, "bigdep\n")), "-o", str(tmp_path / "fn.tar.gz"), "--json",
                "--cache-dir", str(cache), "--wheelhouse", str(wh), "--offline")
    err = _error(r)
    assert r.returncode == 24 and err["error"] == "local-io", r.stdout
    assert "the cache" in str(err["message"]) and "ENOSPC" in str(err["message"])
    assert str(cache) in str(err["where"]) and "--cache-dir" in str(err["hint"])


def test_a_full_tmpdir_is_not_an_unreachable_index(tmp_path: Path, tmpfs: Callable[..., Path],
                                                   hermetic_pip: Path) -> None:
    files = tmp_path / "files"
    make_wheel(files, "demo", "1.0", files={"demo.py": "X = 1\n", "demo.dat": os.urandom(64 * 1024)})
    tmp = tmpfs(tmp_path / "tmp", "256k", fill_to=12 * 1024)
    with LoopbackIndex(files) as index:
        r = run_cli("build", str(_src(tmp_path, "demo\n")), "-o", str(tmp_path / "fn.tar.gz"), "--json",
                    "--index-url", index.url, "--resolver", "pip", "--cache-dir", str(tmp_path / "cache"),
                    env={"TMPDIR": str(tmp)})
    err = _error(r)
    assert r.returncode == 24 and err["error"] == "local-io", r.stdout
    assert "No space left on device" in str(err["message"]) and err["where"] == str(tmp)
    assert "TMPDIR" in str(err["hint"])


def test_a_read_only_cache_builds_without_it_with_one_warning(tmp_path: Path, tmpfs: Callable[..., Path]) -> None:
    cache = tmpfs(tmp_path / "ro-cache", "1m", ro=True)
    r = run_cli("build", str(_src(tmp_path)), "-o", str(tmp_path / "fn.tar.gz"), "--cache-dir", str(cache))
    assert r.returncode == 0, r.stderr
    warnings = [line for line in r.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and str(cache) in warnings[0] and "Read-only file system" in warnings[0], r.stderr


def test_another_users_cache_and_no_home_build_without_a_cache(tmp_path: Path, hermetic_pip: Path) -> None:
    """As in a container running an arbitrary uid: HOME unset, or the cache owned by someone else (0600)."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to run as another user")
    base = Path(tempfile.mkdtemp(prefix="ignite-foreign-", dir="/tmp"))  # tmp_path is root's alone (0700)
    try:
        os.chmod(base, 0o777)
        src = _src(base)
        os.chmod(src, 0o755)
        os.chmod(src / "handler.py", 0o644)
        cache = base / "cache"
        r = run_cli("build", str(src), "-o", str(base / "root.tar.gz"), "--cache-dir", str(cache))
        assert r.returncode == 0, r.stderr
        for p in cache.rglob("*"):
            os.chmod(p, 0o700 if p.is_dir() else 0o600)
        env = {k: v for k, v in os.environ.items() if k not in ("HOME", "XDG_CACHE_HOME", "IGNITE_CACHE_DIR")}
        nobody = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups"]
        # This interpreter may live where that user cannot go (/root/.pyenv): the system's of the
        # same version then, with this environment's packages.
        site = [p for p in sys.path if p.endswith("site-packages")]
        env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parent.parent), *site])
        python = next((p for p in (sys.executable, f"/usr/bin/python{sys.version_info[0]}.{sys.version_info[1]}")
                       if subprocess.run([*nobody, p, "-c", "import click, packaging"], env=env, timeout=60,
                                         capture_output=True, check=False).returncode == 0), None)
        if python is None:
            pytest.skip("no interpreter with this environment's packages that another user may run")
        for extra in (["--cache-dir", str(cache)], []):
            r = subprocess.run([*nobody, python, "-m", "packager", "build", str(src),
                                "-o", str(base / "fn.tar.gz"), *extra], env=env, capture_output=True, text=True,
                               timeout=300, check=False, cwd=base)
            assert r.returncode == 0, r.stderr
            warnings = [line for line in r.stderr.splitlines() if line.startswith("warning:")]
            assert len(warnings) == 1 and "building without it" in warnings[0], r.stderr
            assert "Traceback" not in r.stderr
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_a_cache_entry_replaced_by_a_directory_is_repaired(tmp_path: Path, hermetic_pip: Path) -> None:
    wh = tmp_path / "wh"
    make_wheel(wh, "demo", "1.0")
    cache = tmp_path / "cache"
    args = ["build", str(_src(tmp_path, "demo\n")), "--cache-dir", str(cache), "--wheelhouse", str(wh), "--offline"]
    assert run_cli(*args, "-o", str(tmp_path / "a.tar.gz")).returncode == 0
    entries = [*(cache / "resolutions").iterdir(), *(cache / "wheels").iterdir(), *(cache / "segments").iterdir()]
    for entry in entries:
        entry.unlink()
        (entry / "x").mkdir(parents=True)
    r = run_cli(*args, "-o", str(tmp_path / "b.tar.gz"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "a.tar.gz").read_bytes() == (tmp_path / "b.tar.gz").read_bytes()
    assert all(e.is_file() for e in entries if e.suffix in (".json", ".whl"))  # made again, as files


def test_a_cache_error_under_the_output_folder_is_named_the_cache_not_the_output(tmp_path: Path) -> None:
    """-o ~/fn.tar.gz with the cache in ~/.cache: the deepest place holding the path is the one named."""
    import errno

    from packager.errors import ArtifactError, LocalIOError, io_error

    home = tmp_path / "home"
    cache = home / ".cache" / "ignite-packager"
    err = io_error(PermissionError(errno.EACCES, "Permission denied", str(cache / "wheels" / "x.whl")),
                   output=home / "fn.tar.gz", cache=cache)
    assert isinstance(err, LocalIOError) and err.details["place"] == "the cache"
    err = io_error(PermissionError(errno.EACCES, "Permission denied", str(home / "fn.tar.gz")),
                   output=home / "fn.tar.gz", cache=cache)
    assert isinstance(err, ArtifactError) and err.details["place"] == "the artifact's output"
