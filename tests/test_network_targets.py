"""Other targets against the real package index (issue 17): PyYAML + orjson built from this host
for python3.12-arm64 and python3.13.

Marked ``network``; `make test-all` runs them, `make test` does not.
"""

from __future__ import annotations

import json
import struct
import tarfile
from pathlib import Path

import pytest

from packager.runtime import host_machine
from tests.conftest import FIXTURES, run_cli

pytestmark = pytest.mark.network

SRC = FIXTURES / "yaml-orjson"
#: ELF e_machine values (the ELF specification's EM_X86_64 and EM_AARCH64).
EM_X86_64, EM_AARCH64 = 62, 183


def _elf_machines(artifact: Path) -> dict[str, int]:
    """Every shared object in the artifact -> its ELF e_machine."""
    out: dict[str, int] = {}
    with tarfile.open(artifact) as tf:
        for m in tf:
            if m.isfile() and ".so" in m.name.rsplit("/", 1)[-1]:
                head = tf.extractfile(m).read(20)  # type: ignore[union-attr]
                assert head[:4] == b"\x7fELF", m.name
                out[m.name] = struct.unpack("<H", head[18:20])[0]
    return out


def _build(tmp_path: Path, profile: str, *extra: str) -> tuple[Path, dict[str, object]]:
    out = tmp_path / f"{profile}.tar.gz"
    r = run_cli("build", str(SRC), "--profile", profile, "-o", str(out), "--json",
                "--cache-dir", str(tmp_path / "cache"), *extra, timeout=900)
    assert r.returncode == 0, r.stderr
    return out, json.loads(r.stdout)


def test_arm64_build_vendors_only_aarch64_extensions_and_is_refused_here(tmp_path: Path) -> None:
    out, doc = _build(tmp_path, "python3.12-arm64")
    vendored = {v["name"]: v["wheel"] for v in doc["vendored"]}  # type: ignore[attr-defined]
    assert set(vendored) == {"pyyaml", "orjson"}  # no tomli: its marker asks for x86_64
    assert all("-cp312-cp312-" in w and "aarch64" in w for w in vendored.values()), vendored
    machines = _elf_machines(out)
    assert {n.split("/")[1] for n in machines} == {"yaml", "orjson"}
    assert set(machines.values()) == {EM_AARCH64}, machines
    r = run_cli("inspect", str(out), "--json")
    target = json.loads(r.stdout)["target"]
    assert target["machine"] == "aarch64" and target["profile"] == "python3.12-arm64"
    if host_machine() == "x86_64":
        r = run_cli("invoke", str(out), "-p", "{}", timeout=120)
        assert r.returncode == 12, r.stderr
        assert "aarch64" in r.stderr and "x86_64" in r.stderr and "Traceback" not in r.stderr


def test_313_build_vendors_cp313_extensions_and_runs_under_313(tmp_path: Path, python313: str) -> None:
    out, doc = _build(tmp_path, "python3.13")
    vendored = {v["name"]: v["wheel"] for v in doc["vendored"]}  # type: ignore[attr-defined]
    assert {"pyyaml", "orjson", "tomli"} == set(vendored)  # x86_64: tomli's marker holds
    assert all("-cp313-" in w or "-py3-none-any" in w for w in vendored.values()), vendored
    machines = _elf_machines(out)
    assert machines and set(machines.values()) == {EM_X86_64}
    assert all(".cpython-313-x86_64-linux-gnu.so" in n for n in machines), machines
    with tarfile.open(out) as tf:
        pycs = [n for n in tf.getnames() if n.endswith(".pyc")]
    assert pycs and all(n.endswith(".cpython-313.pyc") for n in pycs)
    r = run_cli("invoke", str(out), "--python", python313, "-p", "{}", timeout=300)
    assert r.returncode == 0, r.stderr
    body = json.loads(r.stdout)
    assert body == {"python": "3.13", "machine": "x86_64", "yaml": {"a": [1, 2]}, "orjson": '{"x":1}',
                    "yaml_c": True}


def test_arm64_lock_records_its_target_and_another_target_refuses_it(tmp_path: Path) -> None:
    lock = tmp_path / "arm.lock"
    r = run_cli("lock", str(SRC), "--profile", "python3.12-arm64", "-o", str(lock),
                "--cache-dir", str(tmp_path / "cache"), timeout=900)
    assert r.returncode == 0, r.stderr
    text = lock.read_text()
    assert "# ignite-profile: python3.12-arm64\n" in text and "orjson==" in text and "tomli" not in text
    out, doc = _build(tmp_path, "python3.12-arm64", "--lock", str(lock))
    assert doc["vendored"] and set(_elf_machines(out).values()) == {EM_AARCH64}
    r = run_cli("build", str(SRC), "--lock", str(lock), "-o", str(tmp_path / "x.tar.gz"),
                "--cache-dir", str(tmp_path / "cache"), timeout=900)
    assert r.returncode == 6, r.stderr
    assert "python3.12-arm64" in r.stderr and "'python3.12'" in r.stderr
    assert not (tmp_path / "x.tar.gz").exists()
