"""Vendoring's output as the artifact stage consumes it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from packager.records import field, record

if TYPE_CHECKING:
    from packager.artifact.manifest import SkippedDist, VendoredDist
    from packager.artifact.tarball import AnySegment


@record
class VendorOutput:
    """Segments to add under ``vendor/`` and what the manifest says about them."""

    segments: tuple[AnySegment, ...] = ()
    vendored: tuple[VendoredDist, ...] = ()
    skipped: tuple[SkippedDist, ...] = ()
    requirements: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    #: slim settings and, per distribution, what they left out (empty without slim)
    slim: dict[str, Any] = field(default_factory=dict)
