"""Target profiles: what the function will run on, as data (TOML).

A profile names the interpreter, the wheel tags the target accepts (in
priority order, as pip would rank them), the marker environment used to
evaluate ``; python_version < "3.12"`` style markers *for the target*, and the
distributions the image preinstalls, pinned with their whole dependency closure.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from pathlib import Path

from packager.errors import ConfigError
from packager.profilefiles import DEFAULT_PROFILE, profiles_dir, read_twin
from packager.records import field, record
from packager.tomlparser import parser

TYPE_CHECKING = False  # (typing's import is ~3 ms of a build that needs it only for mypy)
if TYPE_CHECKING:
    from typing import Any, Optional

    from packaging.tags import Tag
    from packaging.utils import NormalizedName

#: A name already in PEP 503 normal form (what canonicalize_name returns for it unchanged): the
#: built-in profiles' names all are, so loading one needs no import of packaging (~5 ms, which a
#: build without requirements does not otherwise pay).
_CANONICAL = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


def _canonical(name: str) -> NormalizedName:
    if _CANONICAL.fullmatch(name):
        return name  # type: ignore[return-value]
    from packaging.utils import canonicalize_name

    return canonicalize_name(name)


@record
class TargetProfile:
    """The target interpreter and image, as the resolver and installer need it."""

    name: str
    python_version: str  # "3.12"
    python_full_version: str  # "3.12.8"
    implementation: str  # "cp"
    abi: str  # "cp312"
    platforms: tuple[str, ...]  # manylinux_2_36_x86_64 ... linux_x86_64
    image: str
    markers: dict[str, str]
    preinstalled: dict[NormalizedName, str]  # closure: name -> pinned version
    preinstalled_roots: tuple[str, ...]
    #: Each preinstalled distribution's dependencies within the closure.
    preinstalled_requires: dict[NormalizedName, tuple[NormalizedName, ...]] = field(default_factory=dict)
    #: Each preinstalled distribution's extras: extra -> the Requires-Dist lines it adds on the target
    #: (generated from the distribution's metadata by packager.deps.profiles.generate).
    preinstalled_extras: dict[NormalizedName, dict[str, tuple[str, ...]]] = field(default_factory=dict)
    digest: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def tags(self) -> list[Tag]:
        """Compatible wheel tags, most specific first (the order pip ranks them in)."""
        from packaging.tags import Tag

        py = self.python_version.replace(".", "")
        minor = int(self.python_version.split(".")[1])
        out: list[Tag] = []
        interp = f"{self.implementation}{py}"
        for plat in self.platforms:
            out.append(Tag(interp, self.abi, plat))
            out.append(Tag(interp, "abi3", plat))
            out.append(Tag(interp, "none", plat))
        for m in range(minor - 1, 1, -1):  # older abi3 wheels
            for plat in self.platforms:
                out.append(Tag(f"{self.implementation}3{m}", "abi3", plat))
        for plat in self.platforms:
            out.append(Tag(f"py{py}", "none", plat))
            out.append(Tag("py3", "none", plat))
        out.append(Tag(interp, "none", "any"))
        out.append(Tag(f"py{py}", "none", "any"))
        out.append(Tag("py3", "none", "any"))
        for m in range(minor - 1, -1, -1):
            out.append(Tag(f"py3{m}", "none", "any"))
        return out

    @property
    def machine(self) -> str:
        """The target's CPU architecture as ``platform.machine()`` names it there (x86_64, aarch64)."""
        return self.markers.get("platform_machine", "x86_64")

    @property
    def pyc_tag(self) -> str:
        """The ``__pycache__`` tag of the target interpreter (``cpython-312``)."""
        return f"cpython-{self.python_version.replace('.', '')}"

    def rank_tags(self, tags: Iterable[Tag]) -> Optional[int]:
        """Rank of a wheel's tag set (lower is better), or None when the target cannot use it."""
        ranks = self._ranks()
        best = [ranks[t] for t in tags if t in ranks]
        return min(best) if best else None

    def wheel_tag_rank(self, filename_or_tags: str) -> Optional[int]:
        """Like :meth:`rank_tags`, for a wheel file name or a ``py-abi-plat`` tag string."""
        from packaging.tags import parse_tag

        text = filename_or_tags[:-4] if filename_or_tags.endswith(".whl") else filename_or_tags
        return self.rank_tags(parse_tag("-".join(text.split("-")[-3:])))

    def _ranks(self) -> dict[Tag, int]:
        cached: Optional[dict[Tag, int]] = self.extra.get("_ranks")
        if cached is None:
            cached = {t: i for i, t in enumerate(self.tags)}
            self.extra["_ranks"] = cached
        return cached

    def preinstalled_closure(self, names: Iterable[str]) -> list[NormalizedName]:
        """*names* and everything they pull in from the image, sorted."""
        todo = [_canonical(n) for n in names]
        seen: set[NormalizedName] = set()
        while todo:
            n = todo.pop()
            if n in seen or n not in self.preinstalled:
                continue
            seen.add(n)
            todo.extend(self.preinstalled_requires.get(n, ()))
        return sorted(seen)

    def summary(self) -> dict[str, Any]:
        """What the manifest records about the target."""
        return {
            "profile": self.name,
            "python": self.python_version,
            "implementation": self.implementation,
            "abi": self.abi,
            "machine": self.machine,
            "platforms": list(self.platforms),
            "image": self.image,
            "profile_digest": self.digest,
        }


def _profiles_dir() -> Path:
    return profiles_dir()


def builtin_profiles() -> list[str]:
    """Names of the profiles shipped with the packager (``--profile NAME``)."""
    return sorted(p.stem for p in _profiles_dir().glob("*.toml"))


def _builtin_path(name: str) -> Optional[Path]:
    if "/" in name or "\\" in name or name.startswith("."):
        return None
    path = _profiles_dir() / f"{name}.toml"
    return path if path.is_file() else None


def load_profile(name_or_path: Optional[str] = None) -> TargetProfile:
    """Load a built-in profile by name, or a profile TOML file by path."""
    spec = name_or_path or DEFAULT_PROFILE
    path = _builtin_path(spec)
    builtin = path is not None
    if path is None:
        path = Path(spec)
        if not path.is_file():
            raise ConfigError(
                f"unknown target profile {spec!r}", where="--profile",
                hint=f"use one of {', '.join(builtin_profiles())} or the path of a profile .toml file",
            )
    raw = path.read_bytes()
    known = _LOADED.get((str(path), raw))
    if known is not None:
        return known  # (a build reads its profile twice: the --python probe's version, then the build's)
    try:
        data = (_twin_document(path, raw) if builtin else None) or parser().loads(raw.decode("utf-8"))
        py = data["python"]
        pre = data.get("preinstalled", {})
        profile = TargetProfile(
            name=data.get("name", path.stem),
            python_version=py["version"],
            python_full_version=py.get("full_version", py["version"] + ".0"),
            implementation=py.get("implementation", "cp"),
            abi=py.get("abi", "cp" + py["version"].replace(".", "")),
            platforms=tuple(data["platform"]["tags"]),
            image=data.get("image", ""),
            markers={k: str(v) for k, v in data["markers"].items()},
            preinstalled={_canonical(k): str(v) for k, v in pre.get("pins", {}).items()},
            preinstalled_roots=tuple(pre.get("roots", [])),
            preinstalled_requires={
                _canonical(k): tuple(_canonical(x) for x in v)
                for k, v in pre.get("requires", {}).items()
            },
            preinstalled_extras={
                _canonical(k): {str(e): tuple(str(r) for r in lines) for e, lines in v.items()}
                for k, v in pre.get("extras", {}).items()
            },
            digest=hashlib.sha256(raw).hexdigest(),
        )
    except (KeyError, TypeError, ValueError) as exc:  # (TOMLDecodeError is a ValueError)
        raise ConfigError(
            f"invalid target profile: {exc}", where=str(path),
            hint="see packager/deps/profiles/python3.12.toml for the expected keys",
        ) from exc
    _LOADED[(str(path), raw)] = profile
    return profile


def profile_twin(raw: bytes) -> bytes:
    """The JSON twin of a profile's TOML bytes (see :data:`packager.profilefiles.TWIN_SUFFIX`)."""
    import json

    doc = {"toml_sha256": hashlib.sha256(raw).hexdigest(), "document": parser().loads(raw.decode("utf-8"))}
    return (json.dumps(doc, indent=1) + "\n").encode("utf-8")  # (the TOML's key order)


def _twin_document(path: Path, raw: bytes) -> Optional[dict[str, Any]]:
    """The TOML document of *path* from its twin, when the twin was made from exactly *raw*."""
    doc = read_twin(path)
    if doc is None or doc.get("toml_sha256") != hashlib.sha256(raw).hexdigest():
        return None
    document: dict[str, Any] = doc["document"]
    return document


#: Profiles already parsed in this process, by path and content (tomllib is pure Python: ~2 ms).
_LOADED: dict[tuple[str, bytes], TargetProfile] = {}
