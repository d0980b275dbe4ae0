"""The launcher's source as artifacts carry it: without comments and docstrings, line for line.

Every artifact carries the launcher's source next to its bytecode (tracebacks show its lines;
an interpreter without committed bytecode runs it). Its comments and docstrings were ~40 % of
that source: 47 KB of deflate in every artifact, 28 KB without them. Stripped here, once, when
``make launcher-pyc`` writes the bytecode (packager.artifact.embed.regenerate_pycs), and kept
line for line: each removed line stays as an empty line, so a traceback's file and line number
point at the same statement in the artifact and in ignite-packager's ``launcher/``, which keeps
the comments. The bytecode was already compiled without docstrings; it is now compiled from
this source. :func:`strip_source` refuses a result that does not compile to the same code
(docstrings removed, line numbers included) as the original.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from types import CodeType

from packager.errors import ArtifactError

_DOC_OWNERS = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
#: PEP 263's coding declaration: a comment that must stay.
_CODING = re.compile(r"^[ \t\f]*#.*?coding[:=][ \t]*[-\w.]+")


def _newline(line: str) -> str:
    return line[len(line.rstrip("\r\n")):]


def _without_comments(text: str) -> list[str]:
    lines = text.splitlines(keepends=True)
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type != tokenize.COMMENT:
            continue
        row, col = tok.start
        line = lines[row - 1]
        if (row == 1 and line.startswith("#!")) or (row <= 2 and _CODING.match(line)):
            continue
        lines[row - 1] = line[:col].rstrip() + _newline(line)
    return lines


def _docstring(node: ast.AST) -> ast.Expr | None:
    body = getattr(node, "body", None)
    if isinstance(node, _DOC_OWNERS) and body and isinstance(body[0], ast.Expr) \
            and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
        return body[0]
    return None


def _whole_lines(lines: list[str], doc: ast.Expr) -> bool:
    """Whether *doc* is alone on its lines (ast's columns are UTF-8 byte offsets)."""
    first = lines[doc.lineno - 1].encode("utf-8")
    last = lines[(doc.end_lineno or doc.lineno) - 1].encode("utf-8")
    return not first[:doc.col_offset].strip() and not last[doc.end_col_offset or 0:].strip()


def without_docstrings(tree: ast.Module) -> ast.Module:
    """*tree* with every docstring removed (a body left empty gets a ``pass`` in its place), as the
    launcher's bytecode is compiled (packager.artifact.compile)."""
    for node in ast.walk(tree):
        doc = _docstring(node)
        if doc is not None:
            node.body = node.body[1:] or [ast.copy_location(ast.Pass(), doc)]  # type: ignore[attr-defined]
    return tree


def _shape(code: CodeType) -> tuple[object, ...]:
    """What a code object runs and the lines it reports, recursively (no column positions)."""
    consts = tuple(_shape(c) if isinstance(c, CodeType) else (type(c).__name__, repr(c)) for c in code.co_consts)
    # (co_lines from 3.10 on; 3.9 keeps the same line numbers in co_lnotab)
    lines = tuple(code.co_lines()) if hasattr(code, "co_lines") else code.co_lnotab
    return (code.co_name, code.co_code, consts, code.co_names, code.co_varnames, code.co_freevars,
            code.co_cellvars, code.co_flags, code.co_argcount, code.co_kwonlyargcount, code.co_firstlineno,
            lines)


def strip_source(source: bytes, path: str, note: str) -> bytes:
    """*source* without comments and docstrings, every line kept (see the module docstring); the
    module docstring's first line becomes the comment ``# <note>``."""
    text = source.decode("utf-8")
    lines = _without_comments(text)
    tree = ast.parse("".join(lines), path)
    for node in ast.walk(tree):
        doc = _docstring(node)
        if doc is None or not _whole_lines(lines, doc):
            continue
        first, last = doc.lineno - 1, (doc.end_lineno or doc.lineno) - 1
        indent = lines[first][:len(lines[first]) - len(lines[first].lstrip())]
        for i in range(first, last + 1):
            lines[i] = _newline(lines[i]) or "\n"
        if len(node.body) == 1:  # type: ignore[attr-defined]
            lines[first] = f"{indent}pass{_newline(lines[first])}"
        elif isinstance(node, ast.Module):
            lines[first] = f"# {note}{_newline(lines[first])}"
    stripped = "".join(lines)
    want = compile(without_docstrings(ast.parse(text, path)), path, "exec", dont_inherit=True)
    got = compile(without_docstrings(ast.parse(stripped, path)), path, "exec", dont_inherit=True)
    if _shape(want) != _shape(got) or stripped.count("\n") != text.count("\n"):
        raise ArtifactError(f"stripping {path} changed its code or its lines", where=path,
                            hint="report this; ship the launcher unstripped meanwhile")
    return stripped.encode("utf-8")
