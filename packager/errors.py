"""One exception hierarchy for the whole core.

Every error says *what* failed, *where* (a file, line, archive member or
requirement), and a *hint* on how to fix it. Each class has its own exit code so
CI scripts can tell failures apart; the CLI is the only place that turns these
into output and an exit status.
"""

from __future__ import annotations

import errno
import os
import re
import signal
import tempfile
from pathlib import Path

TYPE_CHECKING = False  # (typing's import is ~3 ms of a build that needs it only for mypy)
if TYPE_CHECKING:
    from typing import Any, ClassVar, Optional

_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@]+@")


def redact(text: str) -> str:
    """Every URL's userinfo replaced: ``https://ci:TOKEN@host/`` -> ``https://****@host/``.

    Applied to every error's text and every line the CLI prints, so an index
    credential that reaches a message (pip's output, a URL) never leaves.
    """
    return _USERINFO.sub(lambda m: m.group("scheme") + "****@", text)


def _redact_any(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redact_any(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redact_any(v) for v in value]
    return value


class IgniteError(Exception):
    """Base class of every error the packager raises on purpose."""

    exit_code: ClassVar[int] = 1
    code: ClassVar[str] = "error"
    #: A machine-readable cause within the class (``--json``'s ``reason``); None when the code says it all.
    reason: ClassVar[Optional[str]] = None

    def __init__(
        self,
        message: str,
        *,
        where: Optional[str] = None,
        hint: Optional[str] = None,
        details: Optional[dict[str, Any]] = None,
    ) -> None:
        message = redact(message)
        super().__init__(message)
        self.message = message
        self.where = redact(where) if where else where
        self.hint = redact(hint) if hint else hint
        self.details = _redact_any(details or {})

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message

    def to_dict(self) -> dict[str, Any]:
        """The machine-readable form printed by ``--json``."""
        out: dict[str, Any] = {
            "error": self.code,
            "message": self.message,
            "where": self.where,
            "hint": self.hint,
            "exit_code": self.exit_code,
        }
        if self.reason:
            out["reason"] = self.reason
        if self.details:
            out["details"] = self.details
        return out


class UsageError(IgniteError):
    """Bad options or a bad combination of them."""

    exit_code = 2
    code = "usage"


class SourceError(IgniteError):
    """The source cannot be read: missing, unreadable, of an unknown kind, too big."""

    exit_code = 3
    code = "source"


class ArchiveError(SourceError):
    """An archive member breaks the input policy (links, traversal, bombs...)."""

    exit_code = 4
    code = "archive"


class HandlerError(IgniteError):
    """handler.py is missing, nested, not UTF-8, not valid Python of the target's version, or unbound."""

    exit_code = 5
    code = "handler"


class RequirementsError(IgniteError):
    """requirements.txt breaks the policy or cannot be parsed."""

    exit_code = 6
    code = "requirements"


class ResolveError(IgniteError):
    """Requirements cannot be satisfied for the target (conflict, unknown, no wheel)."""

    exit_code = 7
    code = "resolve"


class FetchError(IgniteError):
    """A distribution could not be downloaded or failed its hash check."""

    exit_code = 8
    code = "fetch"


class SdistBuildError(IgniteError):
    """An sdist could not be built into a wheel for the target."""

    exit_code = 9
    code = "sdist-build"


class ArtifactError(IgniteError):
    """The artifact could not be written (size budget, I/O)."""

    exit_code = 10
    code = "artifact"


class VerifyError(IgniteError):
    """An artifact does not match its manifest (or its rebuild), or is not an artifact at all."""

    exit_code = 11
    code = "verify"


class RuntimeNotFound(IgniteError):
    """No usable interpreter for the target's CPython (3.12, 3.13), or the artifact is for another CPU architecture."""

    exit_code = 12
    code = "runtime"


class InvokeError(IgniteError):
    """The launcher did not start, or did not answer in time."""

    exit_code = 13
    code = "invoke"


class HandlerFailed(IgniteError):
    """The function answered with a 5xx: the body is the handler's error."""

    exit_code = 14
    code = "handler-failed"


class ConfigError(IgniteError):
    """pyproject.toml [tool.ignite] or ignite.toml is invalid."""

    exit_code = 15
    code = "config"


class SbomError(IgniteError):
    """The SBOM cannot be written: its library is missing (the [sbom] extra) or the format is unknown."""

    exit_code = 16
    code = "sbom"


class RequestRefused(IgniteError):
    """The function answered with a 4xx: it refused the request; the body says why."""

    exit_code = 17
    code = "request-refused"


class IndexFailure(IgniteError):
    """A package index failed: the base of the index errors below (never raised itself)."""

    exit_code = 18
    code = "index"
    reason = "index-error"


class IndexAuthError(IndexFailure):
    """A package index refused the credentials (HTTP 401/403), or wanted some and got none."""

    exit_code = 18
    code = "index-auth"
    reason = "auth"


class IndexUnreachable(IndexFailure):
    """A package index could not be reached: connection refused, DNS failure, timeout."""

    exit_code = 19
    code = "index-unreachable"
    reason = "unreachable"


class IndexTLSError(IndexFailure):
    """TLS verification with a package index failed (its certificate is not trusted here)."""

    exit_code = 20
    code = "index-tls"
    reason = "tls"


class IndexServerError(IndexFailure):
    """A package index answered with a server error (HTTP 5xx)."""

    exit_code = 21
    code = "index-error"
    reason = "index-error"


class ProjectNotOnIndex(ResolveError):
    """Every package index asked answered, and none has the project (HTTP 404 for its page)."""

    exit_code = 22
    code = "not-found"
    reason = "not-found"


class ToolchainError(IgniteError):
    """ignite-pack's own environment cannot run a step: pip is missing or older than the floor."""

    exit_code = 23
    code = "toolchain"


class NotInArtifact(IgniteError):
    """`inspect --why NAME`: NAME is not vendored in the artifact nor a preinstalled package it relies on."""

    exit_code = 26
    code = "not-in-artifact"


class SizeBudgetExceeded(IgniteError):
    """`diff --max-growth`: the new artifact grew past the size budget."""

    exit_code = 27
    code = "size-budget"


class CacheError(IgniteError):
    """The shared cache cannot be used as asked: a bad --cache-url, no s3 extra, or a store cache info/prune cannot use."""

    exit_code = 29
    code = "cache"


class LocalIOError(IgniteError):
    """A local file or directory (the cache, TMPDIR, a wheelhouse) could not be read or written."""

    exit_code = 24
    code = "local-io"


class Interrupted(IgniteError):
    """Stopped by SIGINT (Ctrl-C): children stopped, temp files removed, nothing written."""

    exit_code = 130
    code = "interrupted"


class TerminatedError(Interrupted):
    """Stopped by SIGTERM (SIGHUP: 129), likewise."""

    exit_code = 143
    code = "terminated"


def stopped_by(signum: int) -> Interrupted:
    """The error of a command stopped by *signum*; its exit status is 128 + *signum*, as shells say."""
    name = signal.Signals(signum).name
    error = (Interrupted if signum == signal.SIGINT else TerminatedError)(
        f"stopped by {name}: nothing was written, temporary files were removed")
    error.exit_code = 128 + signum  # type: ignore[misc]
    return error


#: Exit code for an unexpected exception: a bug in the packager, not in the input.
INTERNAL_ERROR_EXIT = 70

_IO_FIXES = {
    errno.ENOSPC: "free space on that filesystem, or point {what} at another one",
    errno.EDQUOT: "the disk quota is exhausted: free space, or point {what} at another filesystem",
    errno.EROFS: "the filesystem is read-only: point {what} at a writable directory",
    errno.EACCES: "this user may not use it: fix its owner or permissions, or point {what} elsewhere",
    errno.EPERM: "this user may not use it: fix its owner or permissions, or point {what} elsewhere",
    errno.EISDIR: "a directory is where a file belongs: remove it, or point {what} elsewhere",
    errno.ENOTDIR: "a file is where a directory belongs: remove it, or point {what} elsewhere",
    errno.EMFILE: "too many open files: raise the limit (`ulimit -n`)",
    errno.ENFILE: "the system ran out of open files: try again when fewer are open",
}


def os_words(exc: OSError) -> str:
    """The errno's words and name: "No space left on device (ENOSPC)"."""
    if exc.errno is None:
        return str(exc)
    return f"{os.strerror(exc.errno)} ({errno.errorcode.get(exc.errno, exc.errno)})"


def _under(path: str, root: Path) -> bool:
    try:
        Path(os.path.abspath(path)).relative_to(os.path.abspath(root))
        return True
    except ValueError:
        return False


def _almost_full(root: Path) -> bool:
    try:
        st = os.statvfs(root if root.is_dir() else root.parent)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < 1024 * 1024


def io_error(exc: OSError, *, output: Optional[Path] = None, cache: Optional[Path] = None) -> IgniteError:
    """An OSError met on the way, classified: the artifact's output (exit 10), else the cache, TMPDIR or
    another local path (exit 24); with the path, the errno's words and the fix.

    Which place it was comes from the error's path, else (a full disk reports none) from which
    of them has no space left.
    """
    places: list[tuple[str, Path, str]] = []
    if output is not None:
        places.append(("the artifact's output", Path(output).absolute().parent, "-o"))
    if cache is not None:
        places.append(("the cache", Path(cache), "--cache-dir (or IGNITE_CACHE_DIR)"))
    tmp = Path(tempfile.gettempdir())
    tmp = tmp.parent if tmp.name.startswith("ignite-tmp-") else tmp  # the run's private one: TMPDIR is the fix
    places.append(("the temporary directory", tmp, "TMPDIR"))
    path = exc.filename if isinstance(exc.filename, str) else None
    # The deepest place holding the path: -o ~/fn.tar.gz puts the cache (~/.cache/...) under -o's folder.
    holding = [p for p in places if path and _under(path, p[1])]
    found = max(holding, key=lambda p: len(p[1].parts), default=None)
    if found is None and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        found = next((p for p in places if _almost_full(p[1])), None)
    what, root, option = found or ("a local file", Path(path or "."), "the build")
    where = path or str(root)
    fix = _IO_FIXES.get(exc.errno or 0, "check that path, then build again").format(what=option)
    details = {"path": where, "errno": errno.errorcode.get(exc.errno or 0, exc.errno), "place": what}
    message = f"{what} could not be written or read: {os_words(exc)}"
    if found is not None and found[2] == "-o":
        return ArtifactError(message, where=where, hint=fix + "; nothing was written to -o", details=details)
    return LocalIOError(message, where=where, hint=fix, details=details)


EXIT_CODES: dict[str, int] = {
    cls.code: cls.exit_code
    for cls in (
        IgniteError,
        UsageError,
        SourceError,
        ArchiveError,
        HandlerError,
        RequirementsError,
        ResolveError,
        FetchError,
        SdistBuildError,
        ArtifactError,
        VerifyError,
        RuntimeNotFound,
        InvokeError,
        HandlerFailed,
        ConfigError,
        SbomError,
        RequestRefused,
        IndexAuthError,
        IndexUnreachable,
        IndexTLSError,
        IndexServerError,
        ProjectNotOnIndex,
        ToolchainError,
        NotInArtifact,
        SizeBudgetExceeded,
        CacheError,
        LocalIOError,
        Interrupted,
        TerminatedError,
    )
}
