"""``ignite-pack exit-codes``: the table of exit statuses, generated from packager.errors."""

from __future__ import annotations

import click

from packager.cli.options import json_option
from packager.cli.output import emit_json
from packager.errors import (
    EXIT_CODES,
    INTERNAL_ERROR_EXIT,
    IgniteError,
)


def _error_classes() -> list[type[IgniteError]]:
    out: list[type[IgniteError]] = []
    todo: list[type[IgniteError]] = [IgniteError]
    while todo:
        cls = todo.pop()
        out.append(cls)
        todo.extend(cls.__subclasses__())
    return out


def exit_code_rows() -> list[tuple[int, str, str]]:
    """(code, name, meaning) for every exit status, generated from packager.errors.EXIT_CODES."""
    docs = {c.code: (c.__doc__ or "").strip().splitlines()[0] for c in _error_classes() if c.__doc__}
    rows = [(0, "ok", "Success. `diff`: the artifacts are identical.")]
    for name, code in sorted(EXIT_CODES.items(), key=lambda kv: (kv[1], kv[0])):
        meaning = docs.get(name, "")
        if code == 1:
            meaning = "`diff`: the artifacts differ. Elsewhere: an error with no more specific class."
        rows.append((code, name, meaning))
    rows.append((2, "click-usage", "Unknown option or missing argument (reported by click)."))
    rows.append((INTERNAL_ERROR_EXIT, "internal", "An unexpected exception: a bug in ignite-packager."))
    return sorted(rows, key=lambda r: (r[0], r[1] == "click-usage"))


def exit_code_table() -> str:
    """The Markdown table of docs/ci.md (a test checks the doc matches)."""
    lines = ["| Exit code | Error | Meaning |", "|---|---|---|"]
    lines += [f"| {code} | `{name}` | {meaning} |" for code, name, meaning in exit_code_rows()]
    return "\n".join(lines) + "\n"


@click.command("exit-codes")
@json_option
def exit_codes(as_json: bool) -> None:
    """Print the table of exit statuses (Markdown, or --json)."""
    if as_json:
        emit_json({"ok": True, "exit_codes": [{"code": c, "error": n, "meaning": m}
                                              for c, n, m in exit_code_rows()]})
        return
    click.echo(exit_code_table(), nl=False)
