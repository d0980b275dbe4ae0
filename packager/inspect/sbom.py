"""Software bill of materials of an artifact: CycloneDX JSON or SPDX JSON, offline.

Everything comes from the artifact itself: the manifest (vendored distributions
with their wheel's sha256, the preinstalled ones left to the image, the target)
and each vendored ``*.dist-info/METADATA`` (license, summary). The documents are
written by the formats' own libraries (``cyclonedx-python-lib``, the SPDX
project's ``spdx-tools``), installed with the ``ignite-packager[sbom]`` extra,
and validated by them before anything is written.

Deterministic: the same artifact gives the same bytes. The serial number (SPDX:
the document namespace) is derived from the artifact's sha256; CycloneDX carries
no timestamp unless ``SOURCE_DATE_EPOCH`` is set (SPDX requires one: the
artifact's own mtime, i.e. the build's ``SOURCE_DATE_EPOCH`` or 1980-01-01,
unless ``SOURCE_DATE_EPOCH`` is set now).
"""

from __future__ import annotations

import importlib.util
import json
import os
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

from packaging.utils import canonicalize_name

from packager import __version__
from packager.artifact.manifest import VENDOR_DIR
from packager.artifact.tarball import atomic_write, source_date_epoch
from packager.errors import SbomError, VerifyError
from packager.inspect.inspection import ArtifactInfo, inspect_artifact
from packager.inspect.metadata import license_of, read_metadata, requires_on_target, target_markers
from packager.records import field, record

FORMATS = ("cyclonedx-json", "spdx-json")
DEFAULT_FORMAT = "cyclonedx-json"
#: Namespace of the serial number / document namespace: uuid5(this, artifact sha256).
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:ignite-packager:sbom")
_LIBRARIES = {"cyclonedx-json": ("cyclonedx", "cyclonedx-python-lib"), "spdx-json": ("spdx_tools", "spdx-tools")}


def require_library(fmt: str) -> None:
    """Raise :class:`SbomError` naming the extra to install when *fmt*'s library is missing.

    Called before a build starts, so ``build --sbom`` fails before any work.
    """
    if fmt not in FORMATS:
        raise SbomError(f"unknown SBOM format {fmt!r}", where="--format", hint="use " + " or ".join(FORMATS))
    module, dist = _LIBRARIES[fmt]
    if importlib.util.find_spec(module) is None:
        raise SbomError(
            f"writing {fmt} needs {dist}, which is not installed", where="--format",
            hint="install the extra: pip install 'ignite-packager[sbom]'"
                 + (" (spdx-tools needs Python 3.10 or newer)" if fmt == "spdx-json" else ""),
        )


@record
class Dist:
    """One distribution as the SBOM lists it."""

    name: str
    version: str
    purl: str
    sha256: Optional[str] = None
    wheel: Optional[str] = None
    summary: Optional[str] = None
    #: ("expression", "BSD-3-Clause") or ("name", "BSD License"); None when unknown
    license: Optional[tuple[str, str]] = None
    properties: tuple[tuple[str, str], ...] = ()
    #: canonical names of what its Requires-Dist pulls in on the target (extras not counted)
    requires: tuple[str, ...] = ()


@record
class SbomInput:
    """What both formats are written from."""

    info: ArtifactInfo
    name: str
    image: str
    vendored: tuple[Dist, ...]
    preinstalled: tuple[Dist, ...]
    timestamp: Optional[datetime]
    root_properties: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    @property
    def serial(self) -> uuid.UUID:
        return uuid.uuid5(_NAMESPACE, self.info.sha256)


def purl(name: str, version: str) -> str:
    """``pkg:pypi/<name>@<version>``, the name normalized as the purl spec says for PyPI."""
    from packageurl import PackageURL

    return str(PackageURL(type="pypi", name=canonicalize_name(name), version=version).to_string())


def collect(path: Path, name: Optional[str] = None, env: Optional[dict[str, str]] = None) -> SbomInput:
    """Read the artifact (manifest + vendored METADATA) into :class:`SbomInput`."""
    info = inspect_artifact(path)
    m = info.manifest
    metas = read_metadata(path)
    markers = target_markers(m.target)
    known = {canonicalize_name(v.name) for v in m.vendored} | {canonicalize_name(s.name) for s in m.skipped}
    vendored = []
    slim_dropped = (m.slim or {}).get("dropped", {})
    for v in sorted(m.vendored, key=lambda v: canonicalize_name(v.name)):
        meta = metas.get(canonicalize_name(v.name))
        if meta is None:
            raise VerifyError(f"vendored {v.name} {v.version} has no .dist-info/METADATA", where=f"{VENDOR_DIR}/",
                              hint="the artifact was modified after it was built; rebuild it")
        props = [("ignite:wheel", v.wheel), ("ignite:vendored-files", str(v.files)),
                 ("ignite:vendored-bytes", str(v.size))]
        if v.built_from_sdist:
            props.append(("ignite:built-from-sdist", "true"))
        dropped = slim_dropped.get(v.name)
        if dropped:
            props += [("ignite:slim-dropped-files", str(dropped.get("files", 0))),
                      ("ignite:slim-dropped-bytes", str(dropped.get("bytes", 0)))]
        summary = meta.get("summary")
        vendored.append(Dist(
            name=v.name, version=v.version, purl=purl(v.name, v.version), sha256=v.wheel_sha256, wheel=v.wheel,
            summary=str(summary).strip() if summary else None, license=license_of(meta),
            properties=tuple(sorted(props)),
            requires=tuple(r for r in requires_on_target(meta, markers) if r in known),
        ))
    image = str(m.target.get("image") or "python:3.12")
    pre = tuple(
        Dist(name=s.name, version=s.version, purl=purl(s.name, s.version),
             properties=(("ignite:provided-by", f"{image} image"), ("ignite:reason", s.reason)))
        for s in sorted(m.skipped, key=lambda s: canonicalize_name(s.name))
    )
    env_ = env if env is not None else dict(os.environ)
    ts = (datetime.fromtimestamp(source_date_epoch(env_), tz=timezone.utc)
          if env_.get("SOURCE_DATE_EPOCH", "").strip() else None)
    stem = path.name[: -len(".tar.gz")] if path.name.endswith(".tar.gz") else path.stem
    root_props = (
        ("ignite:convention", m.convention),
        ("ignite:entry", f"{m.entry_module}:{m.entry_function}"),
        ("ignite:packager-version", m.packager_version),
        ("ignite:target", str(m.target.get("profile", ""))),
        ("ignite:tree-digest", m.tree_digest),
    )
    return SbomInput(info=info, name=name or stem, image=image, vendored=tuple(vendored), preinstalled=pre,
                     timestamp=ts, root_properties=root_props)


def render(data: SbomInput, fmt: str = DEFAULT_FORMAT) -> bytes:
    """The SBOM document's bytes in *fmt*, validated by the format's library."""
    require_library(fmt)
    return _cyclonedx(data) if fmt == "cyclonedx-json" else _spdx(data)


def write_sbom(artifact: Path, out: Path, fmt: str = DEFAULT_FORMAT, name: Optional[str] = None,
               env: Optional[dict[str, str]] = None) -> bytes:
    """Render the SBOM of *artifact* and write it atomically to *out*; return the bytes."""
    require_library(fmt)
    doc = render(collect(artifact, name, env), fmt)
    atomic_write(Path(out), [doc])
    return doc


# ---------------------------------------------------------------- CycloneDX


def _cyclonedx(data: SbomInput) -> bytes:
    from cyclonedx.factory.license import LicenseFactory
    from cyclonedx.model import HashAlgorithm, HashType, Property
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component, ComponentScope, ComponentType
    from cyclonedx.output.json import JsonV1Dot6
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator
    from packageurl import PackageURL

    lf = LicenseFactory()

    def props(pairs: tuple[tuple[str, str], ...]) -> list[Property]:
        return [Property(name=k, value=v) for k, v in pairs]

    def component(d: Dist, ref: str) -> Component:
        licenses: list[Any] = []
        if d.license is not None:
            kind, value = d.license
            if kind == "expression":
                try:
                    licenses = [lf.make_with_expression(value)]
                except ValueError:  # not a valid SPDX expression: keep it as a name
                    licenses = [lf.make_with_name(value)]
            else:
                licenses = [lf.make_from_string(value)]
        return Component(
            type=ComponentType.LIBRARY, name=d.name, version=d.version, bom_ref=ref,
            purl=PackageURL.from_string(d.purl), description=d.summary, scope=ComponentScope.REQUIRED,
            hashes=[HashType(alg=HashAlgorithm.SHA_256, content=d.sha256)] if d.sha256 else [],
            licenses=licenses, properties=props(d.properties),
        )

    root = Component(
        type=ComponentType.APPLICATION, name=data.name, bom_ref="function",
        description="serverless function artifact built by ignite-pack",
        hashes=[HashType(alg=HashAlgorithm.SHA_256, content=data.info.sha256)],
        properties=props(data.root_properties),
    )
    image_name, _, image_tag = data.image.partition(":")
    pre = [component(d, f"image:{d.purl}") for d in data.preinstalled]
    image = Component(
        type=ComponentType.CONTAINER, name=image_name, version=image_tag or None, bom_ref=f"image:{data.image}",
        purl=PackageURL(type="docker", name=image_name, version=image_tag or None),
        description=f"the {data.image} image the function runs on; it provides the preinstalled packages",
        scope=ComponentScope.REQUIRED, components=pre,
        properties=props((("ignite:provided-by", f"{data.image} image"),)),
    )
    vendored = [component(d, d.purl) for d in data.vendored]
    tool = Component(type=ComponentType.APPLICATION, name="ignite-packager", version=__version__,
                     bom_ref="tool:ignite-packager")
    bom = Bom(serial_number=data.serial)
    bom.metadata.component = root
    bom.metadata.tools.components.add(tool)
    bom.metadata.properties.add(Property(name="ignite:artifact-sha256", value=data.info.sha256))
    if data.timestamp is not None:
        bom.metadata.timestamp = data.timestamp
    else:
        bom.metadata.timestamp = None  # type: ignore[assignment]  # no wall clock in a reproducible document
    bom.components.update([*vendored, image])
    bom.register_dependency(root, [*vendored, image])
    bom.register_dependency(image, pre)
    by_name: dict[str, Component] = {canonicalize_name(d.name): c for d, c in zip((*data.vendored, *data.preinstalled), (*vendored, *pre))}
    for d, c in zip(data.vendored, vendored):
        bom.register_dependency(c, [by_name[r] for r in d.requires if r in by_name])
    for c in pre:
        bom.register_dependency(c, [])
    text = JsonV1Dot6(bom).output_as_string(indent=2)
    doc = json.loads(text)
    out = json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(out)
    if error is not None:  # a bug here, not bad input: the library rejected our own document
        raise SbomError(f"the CycloneDX document does not validate: {error}", where=str(data.info.path),
                        hint="this is a bug in ignite-packager; please report it")
    return out.encode("utf-8")


# ---------------------------------------------------------------- SPDX


def _spdx(data: SbomInput) -> bytes:
    from license_expression import ExpressionError, get_spdx_licensing
    from spdx_tools.spdx.jsonschema.document_converter import DocumentConverter
    from spdx_tools.spdx.model import (
        Actor,
        ActorType,
        Checksum,
        ChecksumAlgorithm,
        CreationInfo,
        Document,
        ExternalPackageRef,
        ExternalPackageRefCategory,
        Package,
        PackagePurpose,
        Relationship,
        RelationshipType,
        SpdxNoAssertion,
    )
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    licensing = get_spdx_licensing()
    created = data.timestamp or datetime.fromtimestamp(data.info.manifest.mtime, tz=timezone.utc)
    ids: dict[str, int] = {}

    def spdx_id(prefix: str, name: str) -> str:
        base = "SPDXRef-" + prefix + "-" + "".join(ch if ch.isalnum() or ch in ".-" else "-" for ch in name)
        n = ids.get(base, 0)
        ids[base] = n + 1
        return base if n == 0 else f"{base}-{n}"

    def package(d: Dist, prefix: str, comment: Optional[str] = None) -> Package:
        declared: Any = SpdxNoAssertion()
        license_comment = None
        if d.license is not None:
            kind, value = d.license
            try:
                parsed = licensing.parse(value, validate=True, strict=True) if kind == "expression" else None
            except ExpressionError:
                parsed = None
            if parsed is not None:
                declared = parsed
            else:
                license_comment = f"declared license: {value}"
        return Package(
            spdx_id=spdx_id(prefix, d.name), name=d.name, version=d.version, download_location=SpdxNoAssertion(),
            file_name=d.wheel, files_analyzed=False,
            checksums=[Checksum(ChecksumAlgorithm.SHA256, d.sha256)] if d.sha256 else [],
            license_concluded=SpdxNoAssertion(), license_declared=declared, license_comment=license_comment,
            copyright_text=SpdxNoAssertion(), summary=d.summary, comment=comment,
            external_references=[ExternalPackageRef(ExternalPackageRefCategory.PACKAGE_MANAGER, "purl", d.purl)],
            primary_package_purpose=PackagePurpose.LIBRARY,
        )

    root = Package(
        spdx_id="SPDXRef-Function", name=data.name, download_location=SpdxNoAssertion(),
        files_analyzed=False, checksums=[Checksum(ChecksumAlgorithm.SHA256, data.info.sha256)],
        license_concluded=SpdxNoAssertion(), license_declared=SpdxNoAssertion(), copyright_text=SpdxNoAssertion(),
        primary_package_purpose=PackagePurpose.APPLICATION,
        comment="; ".join(f"{k}={v}" for k, v in data.root_properties),
    )
    image = Package(
        spdx_id="SPDXRef-Image", name=data.image, download_location=SpdxNoAssertion(), files_analyzed=False,
        license_concluded=SpdxNoAssertion(), license_declared=SpdxNoAssertion(), copyright_text=SpdxNoAssertion(),
        primary_package_purpose=PackagePurpose.CONTAINER,
        comment=f"the {data.image} image the function runs on; it provides the preinstalled packages",
    )
    vendored = [package(d, "Vendored") for d in data.vendored]
    pre = [package(d, "Image", comment=f"provided by the {data.image} image, not in the artifact")
           for d in data.preinstalled]
    rels = [Relationship("SPDXRef-DOCUMENT", RelationshipType.DESCRIBES, root.spdx_id),
            Relationship(root.spdx_id, RelationshipType.DEPENDS_ON, image.spdx_id)]
    rels += [Relationship(root.spdx_id, RelationshipType.CONTAINS, p.spdx_id) for p in vendored]
    rels += [Relationship(image.spdx_id, RelationshipType.CONTAINS, p.spdx_id) for p in pre]
    ids_by_name: dict[str, str] = {canonicalize_name(d.name): p.spdx_id
                   for d, p in zip((*data.vendored, *data.preinstalled), (*vendored, *pre))}
    rels += [Relationship(p.spdx_id, RelationshipType.DEPENDS_ON, ids_by_name[r])
             for d, p in zip(data.vendored, vendored) for r in d.requires if r in ids_by_name]
    doc = Document(
        creation_info=CreationInfo(
            spdx_version="SPDX-2.3", spdx_id="SPDXRef-DOCUMENT", name=data.name,
            document_namespace=f"urn:uuid:{data.serial}",
            creators=[Actor(ActorType.TOOL, f"ignite-packager-{__version__}")], created=created,
        ),
        packages=[root, *vendored, image, *pre], relationships=rels,
    )
    problems = validate_full_spdx_document(doc)
    if problems:
        raise SbomError(f"the SPDX document does not validate: {problems[0].validation_message}",
                        where=str(data.info.path), hint="this is a bug in ignite-packager; please report it")
    out = json.dumps(DocumentConverter().convert(doc), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    return out.encode("utf-8")
