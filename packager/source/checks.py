"""Checks: is this source a function the target can run?

handler.py (or the chosen entry module) at the root, UTF-8, valid Python of the target's version,
the entry function bound at module level, no clash with the artifact's reserved
names. Every failure names the file and line and says how to fix it.
"""

from __future__ import annotations

import ast
import json
import re
import sys

from packager.errors import HandlerError, UsageError
from packager.records import field, record
from packager.runtime import clean_env, resolve_python
from packager.source import conventions
from packager.source.intake import SourceFile, SourceTree

TYPE_CHECKING = False  # (typing's import is ~3 ms of a build that needs it only for mypy)
if TYPE_CHECKING:
    from typing import Any, Optional

    from packager.runtime import PythonRef

#: Top-level names the artifact itself uses; user source may not contain them.
RESERVED_TOP_LEVEL = ("__ignite__", "manifest.json", "vendor")
TARGET_SYNTAX = (3, 12)


@record
class EntryPoint:
    """``module:function`` that the launcher imports and calls."""

    module: str = "handler"
    function: str = "handler"

    @classmethod
    def parse(cls, spec: str) -> EntryPoint:
        """Parse ``module:function`` (or just ``module``) as given to ``--entry``."""
        module, sep, function = spec.partition(":")
        module = module.strip()
        function = function.strip() if sep else "handler"
        if module.endswith(".py"):
            module = module[:-3].replace("/", ".")
        ok = bool(module) and all(p.isidentifier() for p in module.split("."))
        if not ok or not function.isidentifier():
            raise UsageError(
                f"invalid entry {spec!r}", where="--entry",
                hint="use module:function, e.g. handler:handler or app.main:handle",
            )
        return cls(module=module, function=function)

    @property
    def candidates(self) -> tuple[str, str]:
        """The two files that can hold the module: ``a/b.py`` or ``a/b/__init__.py``."""
        base = self.module.replace(".", "/")
        return (f"{base}.py", f"{base}/__init__.py")

    def __str__(self) -> str:
        return f"{self.module}:{self.function}"


@record
class CheckedSource:
    """A source that passed every check, with what the later stages need."""

    tree: SourceTree
    entry: EntryPoint
    entry_file: str
    warnings: tuple[str, ...] = field(default=())
    #: Positional parameter names of the entry function, when statically known.
    signature: Optional[tuple[str, ...]] = None
    is_async: bool = False


def decode_utf8(f: SourceFile) -> str:
    """Decode a source file as UTF-8, or say exactly where it is not."""
    try:
        text = f.data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = f.data.count(b"\n", 0, exc.start) + 1
        col = exc.start - (f.data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise HandlerError(
            f"not valid UTF-8 (byte 0x{f.data[exc.start]:02x} at line {line}, column {col})",
            where=f"{f.path}:{line}",
            hint="save the file as UTF-8; Python 3 source must be UTF-8",
        ) from exc
    return text[1:] if text.startswith("\ufeff") else text


def version_tuple(version: str) -> tuple[int, int]:
    """``"3.13"`` -> ``(3, 13)``: a profile's ``python_version`` as ``ast.parse`` takes it."""
    major, _, minor = version.partition(".")
    return int(major), int(minor.split(".")[0])


def _dotted(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}"


def _syntax_error(f: SourceFile, exc: SyntaxError, version: tuple[int, int] = TARGET_SYNTAX) -> HandlerError:
    line = exc.lineno or 0
    where = f"{f.path}:{line}" if line else f.path
    snippet = (exc.text or "").strip()
    msg = f"invalid Python {_dotted(version)} syntax: {exc.msg}"
    if snippet:
        msg += f" -> {snippet[:120]}"
    return HandlerError(msg, where=where, hint=f"fix the syntax error; the target runs CPython {_dotted(version)}")


_CHECK_SYNTAX = (
    "import sys, json\n"
    "src = sys.stdin.buffer.read()\n"
    "try:\n"
    "    compile(src, sys.argv[1], 'exec', dont_inherit=True)\n"
    "except SyntaxError as e:\n"
    "    print(json.dumps([e.msg, e.lineno, e.text])); sys.exit(1)\n"
)


def parse_for_target(f: SourceFile, text: str, target_interpreter: PythonRef = None,
                     version: tuple[int, int] = TARGET_SYNTAX) -> ast.Module:
    """Parse *text* as Python *version* (the target profile's: 3.12, 3.13).

    On a host older than the target, ``ast`` cannot know newer syntax (PEP 696's
    ``def f[T = int]()`` on a 3.12 host for a 3.13 target); when it fails there and
    the target's interpreter is at hand, that interpreter has the last word.
    """
    host_is_older = sys.version_info[:2] < version
    try:
        if not host_is_older:
            return ast.parse(text, filename=f.path, feature_version=version)
        return ast.parse(text, filename=f.path)
    except SyntaxError as exc:
        host_error = exc
    except ValueError as exc:
        # Python < 3.12 reports NUL bytes as ValueError; 3.12 as a SyntaxError.
        host_error = SyntaxError(str(exc))
    except (RecursionError, MemoryError):
        # CPython's parser gives up on absurd nesting ("-" * 100_000 + "1", "a" + ".a" * 10**5)
        # with these instead of a SyntaxError; the target's parser would too.
        raise HandlerError(
            "too deeply nested for the Python parser", where=f.path,
            hint=f"simplify the expression nesting; CPython {_dotted(version)} cannot compile this file",
        ) from None
    py = resolve_python(target_interpreter) if host_is_older else None
    if py:
        import subprocess  # (only on a host older than the target, for a file its parser refused)

        try:
            proc = subprocess.run(
                [py, "-I", "-c", _CHECK_SYNTAX, f.path],
                input=f.data, capture_output=True, timeout=60, check=False, env=clean_env(),
            )
        except (OSError, subprocess.SubprocessError):
            raise _syntax_error(f, host_error, version) from None  # the host's verdict stands
        if proc.returncode == 0:
            # Valid target syntax the host cannot parse: accept with no AST.
            return ast.Module(body=[], type_ignores=[])
        try:  # the target's own message and line
            msg, lineno, line_text = json.loads(proc.stdout)
            host_error = SyntaxError(msg, (f.path, lineno, None, line_text))
        except (ValueError, TypeError):
            pass
    raise _syntax_error(f, host_error, version)


def _bound_names(body: list[ast.stmt]) -> tuple[dict[str, ast.stmt], bool]:
    """Names bound at module level (descending into if/try/with), and whether a star-import exists."""
    names: dict[str, ast.stmt] = {}
    star = False
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names[node.name] = node
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                for n in ast.walk(target):
                    if isinstance(n, ast.Name):
                        names[n.id] = node
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)) and isinstance(node.target, ast.Name):
            if not isinstance(node, ast.AnnAssign) or node.value is not None:
                names[node.target.id] = node
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name == "*":
                    star = True
                else:
                    names[alias.asname or alias.name.split(".")[0]] = node
        else:
            inner: list[ast.stmt] = []
            for attr in ("body", "orelse", "finalbody"):
                inner.extend(getattr(node, attr, []) or [])
            for handler in getattr(node, "handlers", []) or []:
                inner.extend(handler.body)
            if inner:
                sub, sub_star = _bound_names(inner)
                names.update(sub)
                star = star or sub_star
    return names, star


def _nested_hint(tree: SourceTree, filename: str) -> Optional[str]:
    nested = [p for p in tree.paths if p.endswith("/" + filename)]
    if not nested:
        return None
    first = nested[0]
    folder = first[: -len(filename) - 1]
    if tree.kind in ("directory", "file"):  # nothing was archived: the folder is the user's layout
        return f"found {first}: build the folder {folder}/ itself (`ignite-pack build {folder}`)"
    return (
        f"found {first}: the archive has an extra top-level folder. Archive the *contents* "
        f"of {folder}/ instead (e.g. `cd {folder} && zip -r ../function.zip .`)"
    )


def _module_defs(f: SourceFile) -> dict[str, tuple[str, ...]]:
    """Module-level functions of *f* and their positional parameter names ({} when it does not parse)."""
    try:
        module = ast.parse(f.data.decode("utf-8", "replace"), filename=f.path)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return {}
    return {
        n.name: tuple(a.arg for a in [*n.args.posonlyargs, *n.args.args])
        for n in module.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
    }


def _convention_for(tree: SourceTree, path: str, function: str, conv: conventions.Convention) -> Optional[str]:
    """The convention whose handler ``function`` in *path* looks like (by its parameter names)."""
    f = tree.get(path)
    if f is None or len(f.data) > 1_000_000:
        return None
    sig = _module_defs(f).get(function)
    module = path[:-3].replace("/", ".")
    return conventions.suggest(sig, conv.name, function, module) if sig is not None else None


def _suggest_from_handlers(tree: SourceTree, conv: conventions.Convention) -> Optional[str]:
    """A Python file at the root (or one folder down) defining another convention's handler by
    its documented name and parameters: SAM's app.py:lambda_handler, Yandex's index.py:handler."""
    candidates = [p for p in tree.paths if p.endswith(".py") and p.count("/") <= 1
                  and not p.rsplit("/", 1)[-1].startswith(("test_", "conftest"))][:40]
    for path in sorted(candidates, key=lambda p: (p.count("/"), p)):
        f = tree.get(path)
        if f is None or len(f.data) > 1_000_000:
            continue
        for name, sig in _module_defs(f).items():
            other = conventions.suggest(sig, conv.name, name, path[:-3].replace("/", "."))
            if not other or not any(fn == name for _, fn in conventions.get(other).entries):
                continue
            folder, _, filename = path.rpartition("/")
            entry = f"{filename[:-3]}:{name}"
            where = f"build the folder {folder}/ " if folder else "build "
            return (f"{path} defines `{name}({', '.join(sig)})`, the {other} convention's handler: "
                    f"{where}with --convention {other} --entry {entry}")
    return None


def check_source(
    tree: SourceTree,
    entry: Optional[EntryPoint] = None,
    *,
    target_interpreter: PythonRef = None,
    convention: str = conventions.DEFAULT,
    init: Optional[str] = None,
    init_params: tuple[tuple[str, Any], ...] = (),
    target_version: tuple[int, int] = TARGET_SYNTAX,
) -> CheckedSource:
    """Run every handler check of DESIGN.md §5 and return the checked source.

    Without *entry*, the *convention*'s default entry is used (packager/source/conventions.py).
    *init* names the digitalhub init function (``--init``), checked like the entry.
    """
    conv = conventions.get(convention)
    if init is not None and conv.name not in conventions.INIT_OPTION:
        raise UsageError(
            f"--init is for the {', '.join(conventions.INIT_OPTION)} convention, not {conv.name!r}",
            where="--init",
            hint=("nuclio calls init_context(context) by itself: define it in the entry module"
                  if conv.name == "nuclio" else "drop --init, or build with --convention digitalhub"),
        )
    if init is not None and not init.isidentifier():
        raise UsageError(f"--init {init!r} is not a Python function name", where="--init",
                         hint="name a function defined at module level in the entry module, e.g. --init init")
    if init_params and init is None:
        raise UsageError("--init-param is given without --init", where="--init-param",
                         hint="name the init function that takes these parameters with --init NAME")
    entry = entry or default_entry(tree, conv)
    warnings: list[str] = []

    for path in tree.paths:
        top = path.split("/", 1)[0]
        if top in RESERVED_TOP_LEVEL:
            raise HandlerError(
                f"{top!r} is reserved for the artifact's own use", where=path,
                hint=(
                    f"rename {top!r} in your source"
                    + (" (dependencies go in requirements.txt)" if top == "vendor" else "")
                ),
            )

    entry_file = next((c for c in entry.candidates if tree.get(c) is not None), None)
    if entry_file is None:
        filename = entry.candidates[0].rsplit("/", 1)[-1]
        hint = _nested_hint(tree, filename)
        if hint and tree.get("function/handler.py") is not None:
            # an OpenFaaS template tree: which template, by the parameters of its handle()
            fits = _convention_for(tree, "function/handler.py", "handle", conv)
            if fits is None and conv.name not in ("openfaas", "openfaas-http", "openfaas-flask"):
                fits = "openfaas"
            if fits:
                hint = (f"an OpenFaaS template's function folder (function/handler.py): build the whole tree "
                        f"with --convention {fits} ({conventions.get(fits).summary}); or, {hint}")
        if hint:
            raise HandlerError(
                f"{entry.candidates[0]} is not at the root of the source", where=entry.candidates[0],
                hint=hint,
            )
        py = [p for p in tree.paths if p.endswith(".py") and "/" not in p]
        if tree.kind == "file" and py:
            hint = (
                f"the file is named {py[0]}: rename it to {entry.candidates[0]}, "
                f"or pass --entry {py[0][:-3]}:{entry.function}"
            )
        elif py:
            hint = (
                f"add {entry.candidates[0]} at the root, or pass --entry MODULE:FUNCTION "
                f"(Python files at the root: {', '.join(py[:5])})"
            )
        else:
            hint = f"add {entry.candidates[0]} defining `{conv.describe_signature(entry.function)}` at the root"
        other = _suggest_from_files(tree, conv) or _suggest_from_handlers(tree, conv)
        if other:
            hint += f"; {other}"
        raise HandlerError(f"{entry.candidates[0]} not found", where=entry.candidates[0], hint=hint)

    handler = tree.get(entry_file)
    assert handler is not None
    text = decode_utf8(handler)
    module = parse_for_target(handler, text, target_interpreter, target_version)

    # Other Python files: syntax errors there are warnings, since they may never be imported.
    for f in tree.files:
        if f.path.endswith(".py") and f.path != entry_file:
            try:
                parse_for_target(f, decode_utf8(f), target_interpreter, target_version)
            except HandlerError as exc:
                warnings.append(f"{exc.where}: {exc.message}")

    signature: Optional[tuple[str, ...]] = None
    is_async = False
    if module.body:
        names, star = _bound_names(module.body)
        node = names.get(entry.function)
        if node is None and not star:
            defs = sorted(
                n for n, v in names.items()
                if isinstance(v, (ast.FunctionDef, ast.AsyncFunctionDef))
            )
            hint = f"define `{conv.describe_signature(entry.function)}:` at module level"
            if defs:
                hint += f", or pass --entry {entry.module}:NAME (functions here: {', '.join(defs[:8])})"
            other = _suggest_from_defs(names, conv, entry.module)
            if other:
                hint += f"; {other}"
            raise HandlerError(
                f"entry function {entry.function!r} is not defined at module level",
                where=entry_file, hint=hint,
            )
        if node is None:
            warnings.append(
                f"{entry_file}: {entry.function!r} may come from a star-import; not checked"
            )
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            is_async = isinstance(node, ast.AsyncFunctionDef)
            _check_arity(node, conv, entry_file)
            args = node.args
            signature = tuple(a.arg for a in [*args.posonlyargs, *args.args])
            other = conventions.suggest(signature, conv.name, entry.function, entry.module)
            if other:  # names alone are ambiguous: a warning, never an error
                warnings.append(
                    f"{entry_file}: `{entry.function}({', '.join(signature)})` looks like the "
                    f"{other} convention ({conventions.get(other).summary}); if it is, build with "
                    f"--convention {other}"
                )
        elif node is not None and isinstance(node, ast.ClassDef):
            warnings.append(f"{entry_file}: {entry.function!r} is a class, not a function")
        if conv.name == "nuclio":
            _check_init_hook(names, star, "init_context", entry_file, required=False, warnings=warnings)
        if init is not None:
            _check_init_hook(names, star, init, entry_file, required=True, warnings=warnings,
                             params=tuple(n for n, _ in init_params))

    # Which file declares the dependencies (and what to say about the others) is decided once,
    # before the checks, by packager.deps.inputs.
    if tree.ignored:
        warnings.append(f"ignored {len(tree.ignored)} cache/VCS file(s) (e.g. {tree.ignored[0]})")

    return CheckedSource(
        tree=tree,
        entry=entry,
        entry_file=entry_file,
        warnings=tuple(warnings),
        signature=signature,
        is_async=is_async,
    )


def takes_positional(args: ast.arguments, count: int) -> bool:
    """Whether a function with these parameters can be called with *count* positional arguments."""
    positional = [*args.posonlyargs, *args.args]
    required = len(positional) - len(args.defaults)
    if required > count or (len(positional) < count and args.vararg is None):
        return False
    return all(d is not None for d in args.kw_defaults)  # no required keyword-only parameter


def digitalhub_unfilled(args: ast.arguments) -> list[str]:
    """Parameters digitalhub's serve call leaves without a value: required ones that are not
    reserved names, and reserved names that cannot be passed by keyword (positional-only)."""
    positional = [*args.posonlyargs, *args.args]
    required = positional[: len(positional) - len(args.defaults)]
    required += [a for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is None]
    posonly = {a.arg for a in args.posonlyargs}
    return [a.arg for a in required if a.arg not in conventions.DIGITALHUB_RESERVED or a.arg in posonly]


def _decorated(node: ast.FunctionDef | ast.AsyncFunctionDef, conv: conventions.Convention) -> bool:
    """A decorator may change the signature; digitalhub's own ``@handler(outputs=...)`` does not."""
    for d in node.decorator_list:
        target = d.func if isinstance(d, ast.Call) else d
        name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
        if not (conv.name == "digitalhub" and name == "handler"):
            return True
    return False


def _check_arity(node: ast.FunctionDef | ast.AsyncFunctionDef, conv: conventions.Convention,
                 entry_file: str) -> None:
    """The entry function can take the arguments the convention's call passes, or the build fails."""
    if _decorated(node, conv):
        return
    params = ast.unparse(node.args)
    where = f"{entry_file}:{node.lineno}"
    call = conv.describe_call(node.name)
    if conv.signature is None:  # digitalhub: reserved names by keyword only
        unfilled = digitalhub_unfilled(node.args)
        if unfilled:
            raise HandlerError(
                f"{node.name}({params}) cannot be called as the digitalhub convention calls it: "
                f"{call}; nothing fills {', '.join(unfilled)}",
                where=where,
                hint=("the digitalhub serve runtime takes no parameters from the request: give "
                      f"{', '.join(unfilled)} a default, or read the request from `event` (event.body)"),
            )
        return
    if takes_positional(node.args, len(conv.signature)):
        return
    sig = tuple(a.arg for a in [*node.args.posonlyargs, *node.args.args])
    fits = [c.name for c in conventions.CONVENTIONS.values()
            if c.name != conv.name and c.signature is not None and takes_positional(node.args, len(c.signature))]
    named = [n for n in fits if any(f == node.name for _, f in conventions.get(n).entries)]
    other = conventions.suggest(sig, conv.name, node.name) or (named[0] if named else None)
    hint = f"define it as `{'async ' if isinstance(node, ast.AsyncFunctionDef) else ''}def {call}:`"
    if other:
        hint += f", or, if it is written for {conventions.get(other).summary}, build with --convention {other}"
    raise HandlerError(
        f"{node.name}({params}) cannot be called as the {conv.name} convention calls it: {call}",
        where=where, hint=hint,
    )


def takes_one_argument(args: ast.arguments) -> bool:
    """Whether a function with these parameters can be called as ``f(context)``."""
    positional = [*args.posonlyargs, *args.args]
    required = len(positional) - len(args.defaults)
    if required > 1:
        return False
    if not positional and args.vararg is None:
        return False
    return all(d is not None for d in args.kw_defaults)  # no required keyword-only parameter


def _check_init_hook(
    names: dict[str, ast.stmt], star: bool, name: str, entry_file: str, *, required: bool, warnings: list[str],
    params: tuple[str, ...] = (),
) -> None:
    """An init hook the launcher calls once at start as ``name(context)`` (issue 20)."""
    node = names.get(name)
    if node is None:
        if required and not star:
            defs = sorted(n for n, v in names.items() if isinstance(v, (ast.FunctionDef, ast.AsyncFunctionDef)))
            raise HandlerError(
                f"init function {name!r} is not defined at module level", where=entry_file,
                hint=f"define `def {name}(context):` in {entry_file}"
                     + (f", or pass --init NAME (functions here: {', '.join(defs[:8])})" if defs else ""),
            )
        if required:
            warnings.append(f"{entry_file}: init function {name!r} may come from a star-import; not checked")
        return
    if isinstance(node, ast.ClassDef):
        raise HandlerError(f"init function {name!r} is a class, not a function", where=f"{entry_file}:{node.lineno}",
                           hint=f"define `def {name}(context):`")
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        warnings.append(f"{entry_file}: {name!r} is not a def; its signature was not checked")
        return
    if params:
        _check_init_params(node, name, entry_file, params)
        return
    if not takes_one_argument(node.args):
        raise HandlerError(
            f"{name}({ast.unparse(node.args)}) cannot be called with one argument: the launcher calls {name}(context) "
            "once at start, with the handler's context",
            where=f"{entry_file}:{node.lineno}",
            hint=f"define it as `{'async ' if isinstance(node, ast.AsyncFunctionDef) else ''}def {name}(context):` "
                 "(other parameters need defaults, or --init-param NAME=VALUE)",
        )


def _check_init_params(node: ast.FunctionDef | ast.AsyncFunctionDef, name: str, entry_file: str,
                       params: tuple[str, ...]) -> None:
    """``--init-param`` names are keyword arguments of the init function, which gets them all
    (digitalhub's compose_init: an unknown name or a missing required parameter is an error)."""
    args = node.args
    positional = [*args.posonlyargs, *args.args]
    if not positional and args.vararg is None:
        raise HandlerError(
            f"init function {name}({ast.unparse(args)}) cannot take the context: the launcher calls "
            f"{name}(context, ...) once at start", where=f"{entry_file}:{node.lineno}",
            hint=f"define it as `def {name}(context, ...):`",
        )
    by_name = [a.arg for a in args.args[max(0, 1 - len(args.posonlyargs)):]] + [a.arg for a in args.kwonlyargs]
    unknown = [p for p in params if p not in by_name] if args.kwarg is None else []
    required = [a.arg for a in positional[1: len(positional) - len(args.defaults)]]
    required += [a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is None]
    missing = [p for p in required if p not in params]
    if unknown or missing:
        problem = (f"has no parameter {', '.join(unknown)}" if unknown
                   else f"needs {', '.join(missing)}, which no --init-param gives")
        raise HandlerError(
            f"init function {name}({ast.unparse(args)}) {problem}: the launcher calls "
            f"{name}(context{''.join(f', {p}=...' for p in params)})",
            where=f"{entry_file}:{node.lineno}",
            hint="pass one --init-param NAME=VALUE per parameter of the init function after context",
        )


def default_entry(tree: SourceTree, conv: conventions.Convention) -> EntryPoint:
    """The convention's first default entry whose module exists in *tree* and defines it.

    Else the first whose module exists (the checks then say what is missing), else
    the first.  "Defines" is a textual ``def NAME(`` at the start of a line: enough to
    choose between ``handler:lambda_handler`` and ``handler:handler``.
    """
    entries = [EntryPoint(module=m, function=f) for m, f in conv.entries]
    existing: list[tuple[EntryPoint, SourceFile]] = []
    for e in entries:
        found = next((f for f in map(tree.get, e.candidates) if f is not None), None)
        if found is not None:
            existing.append((e, found))
    for e, f in existing:
        if re.search(rb"^(async[ \t]+)?def[ \t]+" + re.escape(e.function.encode()) + rb"[ \t]*\(", f.data, re.M):
            return e
    return existing[0][0] if existing else entries[0]


def _suggest_from_files(tree: SourceTree, conv: conventions.Convention) -> Optional[str]:
    """Other conventions whose first default entry file is in *tree* (e.g. lambda_function.py)."""
    by_file: dict[str, list[str]] = {}
    for other in conventions.CONVENTIONS.values():
        first = EntryPoint(module=other.entries[0][0], function=other.entries[0][1])
        found = next((c for c in first.candidates if tree.get(c) is not None), None)
        if other.name != conv.name and found:
            by_file.setdefault(found, []).append(other.name)
    if not by_file:
        return None
    return "; ".join(
        f"{path} is the default entry of --convention {' or '.join(names)}" for path, names in by_file.items()
    )


def _suggest_from_defs(names: dict[str, ast.stmt], conv: conventions.Convention, module: str) -> Optional[str]:
    """A module-level def that is another convention's documented default entry, as a hint."""
    for name, node in names.items():
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or node.name != name:
            continue
        sig = tuple(a.arg for a in [*node.args.posonlyargs, *node.args.args])
        other = conventions.suggest(sig, conv.name, name, module)
        if other and any(f == name for _, f in conventions.get(other).entries):
            return f"`{name}({', '.join(sig)})` looks like the {other} convention: build with --convention {other}"
    return None
