"""Resolution wiring: the resolver for a build or a lock, and the one started before the checks end.

Kept apart from :mod:`packager.dependencies` (fetch, install, compress) so that a
build can start resolving (a subprocess that mostly waits on the network) before
it imports what only the later stages need: the main thread imports those while
the resolver runs.
"""

from __future__ import annotations

import queue
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from packager import prestart
from packager.cache import Cache
from packager.deps.profile import TargetProfile
from packager.deps.requirements import Requirements
from packager.deps.resolve import Resolution, resolve
from packager.errors import FetchError, IgniteError, IndexFailure, ResolveError, SdistBuildError
from packager.options import BuildOptions
from packager.tomlparser import parser

if TYPE_CHECKING:
    from packager.deps.fetch import BuildsSdists
    from packager.deps.sdistbuilder import SdistBuilderImpl

Progress = Callable[[str, str], None]


def sdist_builder(profile: TargetProfile, options: BuildOptions, cache: Cache, progress: Progress,
                  ) -> SdistBuilderImpl:
    from packager.deps.sdistbuilder import SdistBuilderImpl
    from packager.deps.uvresolve import choose

    return SdistBuilderImpl(profile, options.index, cache, options.target_python, progress,
                            uv=lambda: choose(options.resolver, options.index)[0])


class LaterSdistBuilder:
    """:func:`sdist_builder`'s builder, made when the first sdist is built: a warm build builds
    none, and importing the builder (packager.deps.sdistbuilder) is ~5 ms of it."""

    def __init__(self, profile: TargetProfile, options: BuildOptions, cache: Cache, progress: Progress) -> None:
        self._args = (profile, options, cache, progress)
        self._made: Optional[SdistBuilderImpl] = None

    def __call__(self, spec: str, hashes: Sequence[str] = ()) -> Path:
        if self._made is None:
            self._made = sdist_builder(*self._args)
        return self._made(spec, hashes)


def _warm_up() -> None:
    """While the resolver's subprocess runs (it was not in the cache, so neither, most likely,
    are the wheels): what comes after its answer, on other threads. The downloads' TLS context
    and HTTP client, the TOML parser uv's answer is read with (~3 ms), and the wheel installer
    (``installer``: ~20 ms of imports the first install would otherwise wait for, after the
    first wheel lands)."""
    from packager.deps.fetch import warm_up

    warm_up()
    threading.Thread(target=_import_later_stages, name="ignite-later-imports", daemon=False).start()


def _import_later_stages() -> None:
    parser()
    import packager.deps.install  # noqa: F401


def resolve_for(reqs: Requirements, profile: TargetProfile, options: BuildOptions,
                progress: Progress, early: bool = False, sdist_first: str = "",
                on_resolving: Optional[Callable[[], None]] = None,
                ) -> tuple[Resolution, Cache, BuildsSdists]:
    """Resolve; ``early`` (before the checks passed) never builds an sdist, it gives up instead.

    ``sdist_first``: the requirement an early resolution found no wheel for; built before
    resolving, so the resolution does not fail on it a second time. ``on_resolving``: called
    just before the resolver's subprocess starts (default: make the TLS context for the
    downloads meanwhile).
    """
    cache = options.cache().ensure()
    builder = None if early else sdist_builder(profile, options, cache, progress)
    if sdist_first and builder is not None:
        try:
            builder(sdist_first)
        except IgniteError:
            pass  # only a head start: the resolution below meets it again and reports it in context
    with named_by(reqs):
        resolution = resolve(reqs, profile, index=options.index, cache=cache,
                             build_sdist=builder if builder is not None else _refuse_sdist,
                             vendor_anyway=options.vendor_anyway, refresh=options.refresh,
                             resolver=options.resolver, progress=progress, on_resolving=on_resolving or _warm_up)
    prestart.stop()  # a resolution started before the CLI that this one did not take (cached, pip): no use now
    return resolution, cache, builder or LaterSdistBuilder(profile, options, cache, progress)


@contextmanager
def named_by(reqs: Requirements) -> Iterator[None]:
    """Errors of the later stages (sdist builds, downloads) that name no file name *reqs*' file, at the
    line of the distribution they are about when it is a direct one (they used to say requirements.txt
    whatever the build used)."""
    try:
        yield
    except (FetchError, ResolveError, SdistBuildError, IndexFailure) as exc:
        names = {r.name for r in reqs.lines}
        if (exc.where in ("requirements.txt", None, "fetch") or exc.where in names) and reqs.path != exc.where:
            said = exc.message.lower()
            line = next((r.line for r in reqs.lines
                         if re.search(rf"(^|[^a-z0-9_.-]){re.escape(r.name)}([^a-z0-9_.-]|$)",
                                      said.replace("_", "-"))), None)
            exc.where = f"{reqs.path}:{line}" if line else reqs.path
        raise


class _NotBeforeChecks(Exception):
    """An sdist would be built: that waits until the upload passed its checks."""


def _refuse_sdist(spec: str) -> Path:
    raise _NotBeforeChecks(spec)


class EarlyResolution:
    """The resolution started while the handler is still being checked (it is mostly waiting on the network).

    It resolves the requirements of the build's one :class:`~packager.deps.inputs.DependencySource`;
    a check failure still wins, since it is raised before this is asked for its result.
    Its progress lines are handed to the caller's thread (the CLI's output settings live
    there) whenever the caller waits.
    """

    def __init__(self, reqs: Requirements, profile: TargetProfile, options: BuildOptions, progress: Progress):
        self.reqs = reqs
        #: the requirement whose sdist the resolution needs (built once the checks passed)
        self.sdist_first = ""
        self._progress = progress
        self._said: queue.SimpleQueue[tuple[str, str]] = queue.SimpleQueue()
        self._result: Optional[tuple[Resolution, Cache, BuildsSdists]] = None
        self._error: Optional[BaseException] = None
        #: set when the resolver's subprocess is about to start, or when there is none (cached, failed)
        self._launched = threading.Event()
        self._resolving = False

        def launching() -> None:
            self._resolving = True
            self._launched.set()

        def run() -> None:
            try:
                self._result = resolve_for(reqs, profile, options, lambda s, m: self._said.put((s, m)), early=True,
                                           on_resolving=launching)
            except _NotBeforeChecks as stop:
                self.sdist_first = str(stop)  # the normal path builds it first, then resolves
            except BaseException as exc:  # handed to the thread that asks for the result
                self._error = exc
            finally:
                self._launched.set()

        self._thread = threading.Thread(target=run, name="ignite-early-resolve", daemon=True)
        self._thread.start()

    def get_ready(self, timeout: float = 1.0) -> None:
        """Let the resolver's subprocess start before this thread competes for the GIL (imports,
        checks); then make the downloads' TLS context while the resolver runs."""
        self._launched.wait(timeout)
        if self._resolving:
            _warm_up()

    def wait(self) -> None:
        """Until it is done, passing its progress on (also when the build stops early: temp files go)."""
        while self._thread.is_alive():
            self._thread.join(0.05)
            self._pass_on()
        self._pass_on()

    def _pass_on(self) -> None:
        while True:
            try:
                stage, message = self._said.get_nowait()
            except queue.Empty:
                return
            self._progress(stage, message)

    def result(self) -> Optional[tuple[Resolution, Cache, BuildsSdists]]:
        """Its resolution (None when it stopped before an sdist build: the normal path builds it first)."""
        self.wait()
        if self._error is not None:
            raise self._error
        return self._result


def start_early_resolution(reqs: Requirements, profile: TargetProfile, options: BuildOptions,
                           progress: Progress) -> Optional[EarlyResolution]:
    """Start resolving the build's requirements before the checks finish (nothing to do for a lock)."""
    if reqs.is_lock or not reqs.lines:
        return None
    return EarlyResolution(reqs, profile, options, progress)
