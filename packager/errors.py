"""One exception hierarchy for the whole core.

Every error says *what* failed, *where* (a file, line, archive member or
requirement), and a *hint* on how to fix it. Each class has its own exit code so
CI scripts can tell failures apart; the CLI is the only place that turns these
into output and an exit status.
"""

from __future__ import annotations

import re
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
    """An artifact does not match its manifest, or is not an artifact at all."""

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


#: Exit code for an unexpected exception: a bug in the packager, not in the input.
INTERNAL_ERROR_EXIT = 70

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
    )
}
