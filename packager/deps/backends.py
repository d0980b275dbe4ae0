"""The resolver backend for ``--resolver pip|uv|auto``, chosen once per resolution.

``pip`` (or no usable uv under ``auto``): :class:`~packager.deps.pipresolve.PipResolver`.
``uv`` and ``auto`` with uv: :class:`~packager.deps.uvresolve.UvResolver`, with pip behind it
for whatever uv cannot answer. ``--resolver uv`` without uv is an error (:func:`choose`).
"""

from __future__ import annotations

from packager.deps.indexconfig import IndexConfig
from packager.deps.record import ResolutionRecord
from packager.deps.resolver import Progress, Resolver, ResolveRequest
from packager.deps.uvresolve import UvResolver, choose


class PipResolverWhenAsked:
    """pip's resolver (:class:`~packager.deps.pipresolve.PipResolver`), imported when it is asked:
    behind uv it is asked only for what uv cannot answer, and its module is ~4 ms of imports
    that would otherwise come before uv's subprocess starts."""

    def resolve(self, request: ResolveRequest) -> ResolutionRecord:
        from packager.deps.pipresolve import PipResolver

        return PipResolver().resolve(request)


def choose_resolver(resolver: str, index: IndexConfig, progress: Progress) -> Resolver:
    """The backend that resolves for *resolver* (``pip``, ``uv`` or ``auto``), saying why not uv when it matters."""
    uv, why_not = choose(resolver, index)
    if uv is None:
        if resolver == "auto" and why_not not in ("uv is not installed", "offline"):
            progress("resolve", f"not using uv: {why_not}")
        from packager.deps.pipresolve import PipResolver

        return PipResolver()
    return UvResolver(uv, fallback=PipResolverWhenAsked())
