"""``--compile``: the target's bytecode for the source and vendor/, as unchecked-hash pycs.

A pyc's bytes depend on the interpreter that writes it (the magic number and
``marshal``), so they are produced by a real CPython of the target's version
(3.12, 3.13) running :mod:`py_compile` -- the host's own ``compile()`` would be
wrong on any other version, and an interpreter of another version is refused.
PEP 552 unchecked-hash pycs carry a hash of the source instead of its
mtime and are never re-validated at import, so a read-only container imports
them as-is. ``dfile`` is the artifact-relative path, so nothing about the build
directory ends up in the output; files are compiled in sorted order in one
fresh ``-I`` process, which makes the output reproducible.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from packager.artifact.manifest import LAUNCHER_DIR, cache_tag, pyc_path
from packager.artifact.tarball import CompressedSegment, Entry, Segment, end_of_archive
from packager.errors import ArtifactError, RuntimeNotFound
from packager.records import record

if TYPE_CHECKING:
    from packager.artifact.tarball import AnySegment

# Runs under the target interpreter: reads a JSON list of relative paths on stdin,
# compiles IN/<rel> to OUT/<rel's pycache path>, prints the list of failures.
_SCRIPT = r"""
import ast, importlib._bootstrap_external as ext, importlib.util, json, os, py_compile, sys
src_root, out_root, strip = sys.argv[1], sys.argv[2], sys.argv[3] == "strip"
DOC_OWNERS = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)

def without_docstrings(source, rel):
    tree = ast.parse(source, rel)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, DOC_OWNERS) and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.copy_location(ast.Pass(), body[0])]
    return compile(tree, rel, "exec", dont_inherit=True)

failed = []
for rel in json.load(sys.stdin):
    d, _, name = rel.rpartition("/")
    cfile = os.path.join(out_root, d, "__pycache__", name[:-3] + "." + sys.implementation.cache_tag + ".pyc")
    try:
        if strip:
            with open(os.path.join(src_root, rel), "rb") as f:
                source = f.read()
            data = ext._code_to_hash_pyc(without_docstrings(source, rel), importlib.util.source_hash(source), False)
            os.makedirs(os.path.dirname(cfile), exist_ok=True)
            with open(cfile, "wb") as f:
                f.write(data)
        else:
            py_compile.compile(os.path.join(src_root, rel), cfile=cfile, dfile=rel, doraise=True,
                               invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    except (py_compile.PyCompileError, SyntaxError, ValueError, RecursionError, MemoryError) as e:
        failed.append([rel, str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__])
json.dump(failed, sys.stdout)
"""


@record
class Compiled:
    segment: Segment
    skipped: tuple[str, ...]  # "path: reason" for files the target cannot compile (left as source)


def segment_entries(seg: AnySegment) -> tuple[Entry, ...]:
    """The entries of a segment, decompressing a cached one when needed."""
    if isinstance(seg, Segment):
        return seg.entries
    assert isinstance(seg, CompressedSegment)
    import io
    import tarfile  # (only --compile and inspection inflate a cached segment: not on every build's path)

    tar = zlib.decompressobj(-zlib.MAX_WBITS).decompress(seg.data())
    out: list[Entry] = []
    with tarfile.open(fileobj=io.BytesIO(tar + end_of_archive(len(tar))), mode="r:") as tf:
        for info in tf:
            fh = tf.extractfile(info)
            if fh is not None:
                out.append(Entry(info.name, fh.read(), info.mode & 0o777))
    return tuple(out)


def compile_segment(
    segments: Sequence[AnySegment],
    target_interpreter: Optional[str],
    *,
    include_launcher: bool = False,
    version: str = "3.12",
    strip_docstrings: bool = False,
    debug_ranges: bool = True,
) -> Compiled:
    """One segment of ``__pycache__/*.cpython-3XY.pyc`` for every ``.py`` in *segments*.

    *target_interpreter* is the target's interpreter: a CPython *version*.
    *strip_docstrings* compiles with every docstring removed (asserts kept, unlike ``-OO``),
    for code that never reads ``__doc__``: the launcher, whose pycs are in every artifact.
    ``debug_ranges=False`` leaves out the column positions (``-X no_debug_ranges``): tracebacks
    keep file and line and lose only the ``^^^`` markers; the launcher's pycs deflate to 59 KB
    instead of 80 KB (CPython 3.12).
    """
    if not target_interpreter:
        raise RuntimeNotFound(
            f"--compile needs a CPython {version} (the target's Python) to write the bytecode, and none was found",
            where="--compile",
            hint=f"install CPython {version}, pass --python PATH (or IGNITE_PYTHON), or build without --compile",
        )
    import subprocess
    import tempfile

    tag = cache_tag(version)
    sources: dict[str, bytes] = {}
    for seg in segments:
        if seg.name == "launcher" and not include_launcher:
            continue  # (a cached launcher segment would be inflated for nothing)
        for e in segment_entries(seg):
            if not e.path.endswith(".py") or (not include_launcher and e.path.startswith(f"{LAUNCHER_DIR}/")):
                continue
            sources[e.path] = e.data
    rels = sorted(sources)
    with tempfile.TemporaryDirectory(prefix="ignite-compile-") as tmp:
        src_root, out_root = Path(tmp) / "src", Path(tmp) / "out"
        for rel in rels:
            p = src_root / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(sources[rel])
        try:
            proc = subprocess.run(
                [target_interpreter, "-I", "-B", *([] if debug_ranges else ["-X", "no_debug_ranges"]),
                 "-c", _SCRIPT, str(src_root), str(out_root), "strip" if strip_docstrings else "keep"],
                input=json.dumps(rels).encode(), capture_output=True, timeout=1800, check=False,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise RuntimeNotFound(f"{target_interpreter} could not run: {exc}", where="--compile",
                                  hint=f"pass a working CPython {version} with --python") from exc
        if proc.returncode != 0:
            raise ArtifactError(
                f"compiling with {target_interpreter} failed: {proc.stderr.decode('utf-8', 'replace').strip()[-500:]}",
                where="--compile", hint="build without --compile and report this",
            )
        failed = {rel: why for rel, why in json.loads(proc.stdout or b"[]")}
        entries = []
        for rel in rels:
            if rel in failed:
                continue
            pyc = pyc_path(rel, tag)
            if not (out_root / pyc).is_file():
                raise RuntimeNotFound(
                    f"{target_interpreter} did not write {tag} bytecode: it is not CPython {version}", where="--compile",
                    hint=f"pass a CPython {version} with --python (the target runs {version})",
                )
            entries.append(Entry(pyc, (out_root / pyc).read_bytes(), 0o644))
    return Compiled(
        Segment("compiled", tuple(sorted(entries, key=lambda e: e.path))),
        tuple(f"{rel}: {why}" for rel, why in sorted(failed.items())),
    )
