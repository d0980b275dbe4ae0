"""Generate a target profile: the image's pins, each pin's dependencies and its extras.

The stub wheels that stand in for the image's packages during resolution
(:func:`packager.deps.stubs.ensure_stubs`) must declare the real extras of each
pinned distribution, or ``pydantic[email]`` silently resolves to nothing. Those
facts come from each distribution's metadata for the target, so they are
generated here, never written by hand: pip resolves the roots for the target
(tags and markers of the target, not of this host) and its installation report
carries each pinned distribution's metadata (PEP 658 metadata or the wheel's
METADATA).

Usage (see ``make profiles``)::

    python -m packager.deps.profiles.generate --name python3.12 --image python:3.12 \\
        --python 3.12.12 --glibc 2.36 --arch x86_64 \\
        --roots numpy pandas requests httpx pydantic boto3 cloudpickle \\
        -o packager/deps/profiles/python3.12.toml

An existing output file's pins are kept (used as constraints) unless ``--upgrade``.
``--pins-from OTHER.toml`` also takes another profile's pins as constraints: the
arm64 and 3.13 profiles are made with the default profile's pins (the same image
release on another architecture or Python), so ``make profiles`` moves them together.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Optional

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

from packager.deps.piprun import last_error, run_pip, target_args
from packager.deps.profile import TargetProfile, profile_twin
from packager.errors import ResolveError
from packager.profilefiles import TWIN_SUFFIX, shipped_stubs_dir, shipped_stubs_root
from packager.records import record
from packager.tomlparser import parser

#: manylinux aliases of PEP 600 tags (PEP 513/571/599), listed right after their glibc version.
_LEGACY = {(2, 17): "manylinux2014", (2, 12): "manylinux2010", (2, 5): "manylinux1"}


def platform_tags(glibc: str, arch: str) -> list[str]:
    """Every tag a glibc *glibc* / *arch* Linux accepts, best first (pip does not expand them itself)."""
    major, minor = (int(x) for x in glibc.split("."))
    tags: list[str] = []
    for m in range(minor, 4, -1):
        tags.append(f"manylinux_{major}_{m}_{arch}")
        legacy = _LEGACY.get((major, m))
        if legacy and (arch in ("x86_64", "i686") or legacy == "manylinux2014"):
            tags.append(f"{legacy}_{arch}")
    tags.append(f"linux_{arch}")
    return tags


def target_markers(full_version: str, arch: str) -> dict[str, str]:
    """PEP 508 marker environment of CPython *full_version* on Linux *arch*."""
    short = ".".join(full_version.split(".")[:2])
    return {
        "implementation_name": "cpython",
        "implementation_version": full_version,
        "os_name": "posix",
        "platform_machine": arch,
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_system": "Linux",
        "platform_version": "",
        "python_full_version": full_version,
        "python_version": short,
        "sys_platform": "linux",
    }


@record
class Target:
    """What a profile describes besides its pins."""

    name: str
    image: str
    python_full_version: str
    platforms: tuple[str, ...]
    markers: dict[str, str]

    @property
    def python_version(self) -> str:
        return ".".join(self.python_full_version.split(".")[:2])

    @property
    def abi(self) -> str:
        return "cp" + self.python_version.replace(".", "")

    def profile(self) -> TargetProfile:
        """A pin-less profile, enough to run pip for this target."""
        return TargetProfile(
            name=self.name, python_version=self.python_version, python_full_version=self.python_full_version,
            implementation="cp", abi=self.abi, platforms=self.platforms, image=self.image,
            markers=self.markers, preinstalled={}, preinstalled_roots=(),
        )


@record
class PinnedDist:
    """One pinned distribution of the image, with what its metadata says for the target."""

    name: NormalizedName
    version: str
    requires: tuple[NormalizedName, ...]
    #: extra -> the Requires-Dist lines (markers kept, ``extra == ...`` included) it adds on the target
    extras: dict[str, tuple[str, ...]]


def _applies(req: Requirement, markers: dict[str, str], extra: str) -> bool:
    return req.marker is None or req.marker.evaluate({**markers, "extra": extra})


def describe(metadata: dict[str, Any], markers: dict[str, str]) -> PinnedDist:
    """A distribution's base dependencies and extras for the target, from its core metadata (JSON form)."""
    reqs = [Requirement(r) for r in metadata.get("requires_dist", []) or []]
    base = sorted({canonicalize_name(r.name) for r in reqs if _applies(r, markers, "")})
    extras: dict[str, tuple[str, ...]] = {}
    for extra in metadata.get("provides_extra", []) or []:
        added = [str(r) for r in reqs if r.marker is not None
                 and _applies(r, markers, extra) and not _applies(r, markers, "")]
        extras[extra] = tuple(dict.fromkeys(added))
    return PinnedDist(canonicalize_name(metadata["name"]), str(metadata["version"]), tuple(base), extras)


def resolve_image(target: Target, roots: Sequence[str], constraints: dict[str, str],
                  pip_args: Sequence[str]) -> list[PinnedDist]:
    """Resolve *roots* for the target and read every resolved distribution's metadata."""
    profile = target.profile()
    with tempfile.TemporaryDirectory(prefix="ignite-profile-") as tmp:
        work = Path(tmp)
        (work / "constraints.txt").write_text("".join(f"{n}=={v}\n" for n, v in sorted(constraints.items())))
        res = run_pip("pip", [
            "install", "--dry-run", "--ignore-installed", "--quiet", "--report", str(work / "report.json"),
            "-c", str(work / "constraints.txt"), *target_args(profile), *pip_args, *roots,
        ], profile)
        if res.returncode != 0:
            raise ResolveError("could not resolve the image's packages:\n" + last_error(res.stderr),
                               where=", ".join(roots), hint="check the roots, the pins and the index")
        report = json.loads((work / "report.json").read_text("utf-8"))
    dists = [describe(item["metadata"], target.markers) for item in report.get("install", [])]
    pinned = {d.name for d in dists}
    return sorted((PinnedDist(d.name, d.version, tuple(n for n in d.requires if n in pinned), d.extras)
                   for d in dists), key=lambda d: d.name)


def _s(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a valid TOML basic string


def _key(text: str) -> str:
    return text if re.fullmatch(r"[A-Za-z0-9_-]+", text) else _s(text)


def _list(items: Iterable[str]) -> str:
    return "[" + ", ".join(_s(i) for i in items) + "]"


def render(target: Target, roots: Sequence[str], dists: Sequence[PinnedDist]) -> str:
    """The profile TOML, deterministic for the same inputs."""
    out = [
        f"# Target profile: CPython {target.python_version} on the {target.image} image, "
        f"{target.markers['platform_system'].lower()} {target.markers['platform_machine']}.",
        "# GENERATED by `make profiles` (python -m packager.deps.profiles.generate): do not edit by hand.",
        "# The preinstalled set is pinned with its whole dependency closure, as the image",
        "# ships it; the resolver uses the pins as constraints and never vendors them.",
        f"name = {_s(target.name)}",
        f"image = {_s(target.image)}",
        "",
        "[python]",
        f"version = {_s(target.python_version)}",
        f"full_version = {_s(target.python_full_version)}",
        'implementation = "cp"',
        f"abi = {_s(target.abi)}",
        "",
        "[platform]",
        "# Every tag the target accepts, best first. pip does not expand one manylinux tag",
        "# to the older ones, so all are listed.",
        "tags = [",
        *(f"    {_s(t)}," for t in target.platforms),
        "]",
        "",
        "[markers]",
        "# PEP 508 marker environment of the target (not of the host running the build).",
        *(f"{k} = {_s(v)}" for k, v in sorted(target.markers.items())),
        "",
        "[preinstalled]",
        f"roots = {_list(roots)}",
        "",
        "[preinstalled.pins]",
        *(f"{d.name} = {_s(d.version)}" for d in dists),
        "",
        "[preinstalled.requires]",
        "# Each preinstalled distribution's own dependencies (markers evaluated for the target):",
        "# a requirement that reaches one of them skips its whole closure.",
        *(f"{d.name} = {_list(d.requires)}" for d in dists),
        "",
        "# Each preinstalled distribution's extras (Provides-Extra) and the Requires-Dist lines",
        "# each adds on the target, from its metadata: the stub wheels declare them, so",
        "# `pydantic[email]` vendors email-validator while pydantic stays the image's.",
        "[preinstalled.extras]",
    ]
    for d in dists:
        if d.extras:
            out += ["", f"[preinstalled.extras.{d.name}]"]
            out += [f"{_key(e)} = {_list(lines)}" for e, lines in sorted(d.extras.items())]
    return "\n".join(out) + "\n"


def _existing_pins(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    data = parser().loads(path.read_text("utf-8"))
    return {str(k): str(v) for k, v in data.get("preinstalled", {}).get("pins", {}).items()}


def write_twin(toml_path: Path) -> Path:
    """Write the JSON twin the loader reads instead of the TOML (packager.profilefiles.TWIN_SUFFIX)."""
    twin = toml_path.with_suffix(TWIN_SUFFIX)
    twin.write_bytes(profile_twin(toml_path.read_bytes()))
    return twin


def write_stubs(toml_path: Path) -> Path:
    """Write the metadata stubs shipped for a built-in profile (packager.deps.stubs.ensure_stubs)."""
    import hashlib

    from packager.deps.profile import load_profile
    from packager.deps.stubs import stub_wheels

    folder = shipped_stubs_dir(hashlib.sha256(toml_path.read_bytes()).hexdigest())
    folder.mkdir(parents=True, exist_ok=True)
    wheels = stub_wheels(load_profile(str(toml_path)))
    for stale in folder.iterdir():
        if stale.name not in wheels:
            stale.unlink()
    for name, data in wheels.items():
        (folder / name).write_bytes(data)
    return folder


def main(argv: Optional[Sequence[str]] = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if list(argv) == ["--twins"]:  # the built-in profiles' twins and stubs, from their TOML (offline)
        made = set()
        for toml_path in sorted(Path(__file__).resolve().parent.glob("*.toml")):
            print(write_twin(toml_path))
            stubs = write_stubs(toml_path)
            made.add(stubs)
            print(stubs)
        for old in sorted(shipped_stubs_root().iterdir()):
            if old not in made:  # (stubs of a TOML that changed since)
                shutil.rmtree(old)
        return 0
    ap = argparse.ArgumentParser(prog="python -m packager.deps.profiles.generate", description=__doc__.split("\n\n")[0])
    ap.add_argument("--name", required=True, help="profile name, e.g. python3.12")
    ap.add_argument("--image", required=True, help="the image the profile describes, e.g. python:3.12")
    ap.add_argument("--python", required=True, help="the image's full CPython version, e.g. 3.12.12")
    ap.add_argument("--arch", default="x86_64", help="machine: x86_64, aarch64, ...")
    ap.add_argument("--glibc", default="2.36", help="the image's glibc version (manylinux tags)")
    ap.add_argument("--platform", action="append", default=[], help="explicit platform tags (replace --glibc)")
    ap.add_argument("--roots", nargs="+", required=True, help="what the image installs")
    ap.add_argument("--pin", action="append", default=[], metavar="NAME==VERSION", help="extra constraints")
    ap.add_argument("--pins-from", action="append", default=[], type=Path, metavar="PROFILE.toml",
                    help="also constrain to another profile's pins (same image release, another target)")
    ap.add_argument("--upgrade", action="store_true", help="ignore the output file's current pins")
    ap.add_argument("--index-url")
    ap.add_argument("--find-links", action="append", default=[])
    ap.add_argument("--no-index", action="store_true")
    ap.add_argument("-o", "--output", required=True, type=Path)
    ns = ap.parse_args(argv)
    target = Target(ns.name, ns.image, ns.python, tuple(ns.platform or platform_tags(ns.glibc, ns.arch)),
                    target_markers(ns.python, ns.arch))
    constraints = {} if ns.upgrade else _existing_pins(ns.output)
    for other in ns.pins_from:  # the profile it follows wins over its own older pins
        constraints.update(_existing_pins(other))
    for pin in ns.pin:
        name, _, version = pin.partition("==")
        constraints[name] = version
    pip_args = (["--no-index"] if ns.no_index else []) + (["--index-url", ns.index_url] if ns.index_url else [])
    for fl in ns.find_links:
        pip_args += ["--find-links", fl]
    try:
        dists = resolve_image(target, ns.roots, constraints, pip_args)
    except ResolveError as exc:
        print(f"error: {exc}\nhint: {exc.hint}", file=sys.stderr)
        return 1
    ns.output.write_text(render(target, ns.roots, dists), "utf-8")
    write_twin(ns.output)
    print(f"{ns.output}: {len(dists)} pins, {sum(len(d.extras) for d in dists)} extras", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
