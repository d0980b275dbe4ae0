"""What a build or a lock is asked to do: :class:`BuildOptions`, read by every stage.

Its own module so that the stages that read it (packager.dependencies,
packager.lock) need not import packager.build, which imports them.
"""

from __future__ import annotations

from pathlib import Path

from packager.artifact import DEFAULT_LEVEL
from packager.deps.indexconfig import IndexConfig
from packager.deps.slim import SlimSettings
from packager.records import field, record, replace
from packager.runtime import optional_python, resolve_python
from packager.source.checks import EntryPoint
from packager.source.intake import Limits

TYPE_CHECKING = False  # (typing's import is ~3 ms of a build that needs it only for mypy)
if TYPE_CHECKING:
    from typing import Any, Optional

    from packager.cache import Cache, Tier
    from packager.deps.inputs import Decision
    from packager.runtime import PythonRef
    from packager.source.intake import SourceTree


@record
class BuildOptions:
    """Everything a build depends on besides the source bytes."""

    source: Path
    output: Path
    entry: Optional[EntryPoint] = None
    convention: str = "ignite"
    #: digitalhub init function called once at start (``--init``; manifest ``entry.init``)
    init: Optional[str] = None
    #: its keyword arguments (``--init-param NAME=VALUE``; manifest ``entry.init_parameters``)
    init_params: tuple[tuple[str, Any], ...] = ()
    #: lambda: the event shape (``--lambda-payload 2.0|1.0|raw``; manifest ``convention_options.payload``)
    lambda_payload: Optional[str] = None
    profile: Optional[str] = None
    #: The target's CPython (3.12 for the default profile, 3.13 for python3.13...) for the checks,
    #: sdist builds and --compile that need one; found lazily when None and auto_python; an
    #: explicit --python is a runtime.PendingPython (probed in the background, see check_python).
    target_interpreter: PythonRef = None
    auto_python: bool = True
    level: int = DEFAULT_LEVEL
    max_size: Optional[int] = None
    env: Optional[dict[str, str]] = None
    limits: Limits = field(default_factory=Limits)
    # dependencies
    index: IndexConfig = field(default_factory=IndexConfig)
    cache_dir: Optional[Path] = None
    #: the shared tier behind the local cache (``--cache-url``; packager.sharedcache), None without one
    cache_tier: Optional[Tier] = field(default=None, compare=False)
    wheelhouses: tuple[Path, ...] = ()
    lock: Optional[Path] = None
    #: the dependency file to use instead of the search (``--requirements``; packager.deps.inputs)
    requirements: Optional[Path] = None
    #: dependency groups to install besides the dependencies (``--group``; pyproject.toml, uv.lock, pylock.toml)
    groups: tuple[str, ...] = ()
    vendor_anyway: frozenset[str] = frozenset()
    refresh: bool = False
    #: refuse index option lines (-i, --extra-index-url, ...) in the upload's requirements instead of skipping them
    strict_requirements: bool = False
    #: "auto" (uv when installed with ignite-pack and fit to stand in for pip), "pip" or "uv"
    resolver: str = "auto"
    #: precompile .py to the target CPython's unchecked-hash pycs (packager.artifact.compile)
    compile: bool = False
    #: leave vendored test suites (and --slim-drop patterns) out of vendor/ (packager.deps.slim)
    slim: SlimSettings = field(default_factory=SlimSettings)

    def cache(self) -> Cache:
        """The build cache: ``--cache-dir``, else the default (IGNITE_CACHE_DIR, XDG_CACHE_HOME, ~/.cache).

        One that cannot be used (read-only, another user's, no home directory) is replaced by a
        private temporary one whose ``degraded`` says why (packager.cache.open_cache).
        """
        from packager.cache import open_cache

        cache = open_cache(Path(self.cache_dir) if self.cache_dir else None)
        return replace(cache, tier=self.cache_tier) if self.cache_tier is not None else cache

    def dependency_source(self, tree: SourceTree, *, declarations_only: bool = False) -> Decision:
        """The one decision of which file declares this build's dependencies (packager.deps.inputs):
        ``--lock`` / ``--requirements``, else the precedence in the convention's folder, then the root."""
        from packager.deps.inputs import decide, entry_folder

        folder = entry_folder(tree, self.convention, str(self.entry) if self.entry else None)
        return decide(tree, folder=folder, requested=self.requirements, lock=self.lock,
                      source_root=Path(self.source), groups=self.groups, declarations_only=declarations_only)

    def target_python(self) -> Optional[str]:
        """The target's CPython, looked up only when a step needs it."""
        if self.target_interpreter or not self.auto_python:
            return resolve_python(self.target_interpreter) or None
        from packager.deps.profile import load_profile

        return optional_python(load_profile(self.profile).python_version)

    def check_python(self) -> None:
        """An explicit --python that is not the target's CPython fails the command, even when
        no step needs an interpreter (it was asked for; its probe ran in the background)."""
        if callable(self.target_interpreter):
            self.target_interpreter()
