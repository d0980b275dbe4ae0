"""uv is a default dependency where it has wheels (issue 36: cold builds 1.3-2.4x faster with it,
same pins), never where pip would have to build it from Rust source; its lower bound is tested."""

from __future__ import annotations

import sys
from pathlib import Path

from packaging.requirements import Requirement

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]


def _uv() -> Requirement:
    deps = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))["project"]["dependencies"]
    found = [Requirement(d) for d in deps if Requirement(d).name == "uv"]
    assert len(found) == 1, "uv is a default dependency (issue 36)"
    return found[0]


def test_uv_is_installed_by_default_on_the_hosts_it_has_wheels_for() -> None:
    marker = _uv().marker
    assert marker is not None
    for sys_platform, machine in [("linux", "x86_64"), ("linux", "aarch64"), ("darwin", "arm64"),
                                  ("darwin", "x86_64"), ("win32", "AMD64")]:
        assert marker.evaluate({"sys_platform": sys_platform, "platform_machine": machine}), (sys_platform, machine)
    for sys_platform, machine in [("linux", "riscv64"), ("freebsd14", "amd64"), ("linux", "loongarch64")]:
        assert not marker.evaluate({"sys_platform": sys_platform, "platform_machine": machine}), (sys_platform, machine)


def test_its_lower_bound_is_the_lowest_pin() -> None:
    (spec,) = list(_uv().specifier)
    assert spec.operator == ">="
    assert f"uv=={spec.version}.0" in (REPO / ".ci" / "lowest.txt").read_text() or \
        f"uv=={spec.version}" in (REPO / ".ci" / "lowest.txt").read_text()
