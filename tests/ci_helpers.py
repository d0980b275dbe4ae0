"""Helpers shared by the inspect/diff/config/compile/CI tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema

from packager.artifact.tarball import Entry, Segment, iter_members, read_manifest, write_artifact
from packager.build import BuildResult, build
from packager.deps.indexconfig import IndexConfig
from packager.options import BuildOptions
from packager.records import replace
from tests.wheelhouse import make_wheel

REPO = Path(__file__).resolve().parent.parent
SCHEMAS = REPO / "packager" / "schemas"
HANDLER = "def handler(payload, ctx):\n    return 'ok'\n"


def validate(doc: dict[str, Any], name: str) -> None:
    """Validate *doc* against packager/schemas/<name>.json (raises on the first error)."""
    schema = json.loads((SCHEMAS / f"{name}.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(doc)


def source(tmp_path: Path, name: str = "src", requirements: str = "", files: dict[str, str] | None = None) -> Path:
    src = tmp_path / name
    src.mkdir(parents=True)
    (src / "handler.py").write_text(HANDLER)
    if requirements:
        (src / "requirements.txt").write_text(requirements)
    for rel, text in (files or {}).items():
        p = src / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return src


def wheelhouse(tmp_path: Path) -> Path:
    wh = tmp_path / "wheelhouse"
    make_wheel(wh, "small", "1.0")
    make_wheel(wh, "small", "2.0")
    make_wheel(wh, "big", "1.0", files={"big/__init__.py": "X = 1\n", "big/data.py": "D = '" + "x" * 20000 + "'\n"})
    return wh


def offline(wh: Path) -> dict[str, Any]:
    return {"index": IndexConfig(find_links=(str(wh),), offline=True), "wheelhouses": (wh,)}


def build_with(src: Path, out: Path, wh: Path | None = None, **kw: Any) -> BuildResult:
    return build(BuildOptions(source=src, output=out, **(offline(wh) if wh else {}), **kw))


def rewrite(artifact: Path, dest: Path, change: dict[str, bytes]) -> None:
    """Rewrite files AND their manifest records consistently: plain verify still passes."""
    m = read_manifest(artifact)
    entries = []
    for mem in iter_members(artifact):
        if mem.path == "manifest.json":
            continue
        entries.append(Entry(mem.path, change.get(mem.path, mem.data), mem.mode & 0o777))
    records = {e.path: e.record() for e in entries}
    m2 = replace(m, files=tuple(records[f.path] for f in m.files))
    write_artifact(dest, m2, [Segment("all", tuple(entries))])
