"""Shared libraries a vendored extension needs that the target may not have.

A wheel from the index was checked by auditwheel when it was made: what its extensions link
is either inside the wheel (``<dist>.libs/``) or on the manylinux policy's list of libraries
every such system has. A wheel built here from an sdist (or a host-only ``linux_*`` wheel
from a wheelhouse) was not: psycopg2 built from its sdist links the build host's
``libpq.so.5``, which the python:3.12 image does not have, and the import fails on the
platform. Each ELF file's ``DT_NEEDED`` entries (read with pyelftools) are checked against
the wheel's own files and the target's policy (auditwheel's policy data, the maintained
list); what is in neither is named with its distribution and file.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Iterable
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

from packaging.tags import Tag

from packager.records import record

_ELF_MAGIC = b"\x7fELF"
_POLICY_OF_TAG = re.compile(r"(manylinux_[0-9]+_[0-9]+|manylinux[0-9]+)_")


@record
class MissingLibrary:
    distribution: str
    member: str
    library: str
    policy: str

    def warning(self) -> str:
        return (f"{self.distribution}: {self.member} needs {self.library}, which is neither in the wheel "
                f"nor allowed by {self.policy}: the target image must provide it, or importing it fails "
                f"(build a wheel that bundles it with auditwheel repair, or install it in the image)")


@lru_cache(maxsize=1)
def _policies() -> dict[str, frozenset[str]]:
    """``{policy name: allowed libraries}`` from auditwheel's manylinux policy data."""
    raw = json.loads(files("auditwheel").joinpath("policy/manylinux-policy.json").read_text("utf-8"))
    out: dict[str, frozenset[str]] = {}
    for p in raw:
        for name in (p["name"], *p.get("aliases", ())):
            out[name] = frozenset(p.get("lib_whitelist", ()))
    return out


def target_policy(tags: Iterable[Tag]) -> str:
    """The best manylinux policy among the target's tags (``manylinux_2_36``), or ``manylinux_2_17``."""
    known = _policies()
    for tag in tags:
        m = _POLICY_OF_TAG.match(tag.platform)
        if m and m.group(1) in known:
            return m.group(1)
    return "manylinux_2_17"


def _needed(data: bytes) -> list[str]:
    from elftools.common.exceptions import ELFError
    from elftools.elf.dynamic import DynamicSection
    from elftools.elf.elffile import ELFFile

    try:
        elf = ELFFile(io.BytesIO(data))
        for section in elf.iter_sections():
            if isinstance(section, DynamicSection):
                return [str(t.needed) for t in section.iter_tags("DT_NEEDED")]
    except (ELFError, ValueError, KeyError):
        return []
    return []


def missing_libraries(wheel: Path, distribution: str, policy: str) -> list[MissingLibrary]:
    """Every (ELF member, library) of *wheel* that is neither in the wheel nor allowed by *policy*."""
    allowed = _policies().get(policy, frozenset())
    out: list[MissingLibrary] = []
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        inside = {n.rsplit("/", 1)[-1] for n in names}
        for name in sorted(names):
            if not (name.endswith(".so") or ".so." in name.rsplit("/", 1)[-1]):
                continue
            data = zf.read(name)
            if not data.startswith(_ELF_MAGIC):
                continue
            for lib in _needed(data):
                if lib not in inside and lib not in allowed and not lib.startswith(("libpython", "ld-linux")):
                    out.append(MissingLibrary(distribution, name, lib, policy))
    return out
