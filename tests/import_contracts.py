"""A custom import-linter contract: *modules* import only their own package and the standard library.

import-linter's ``forbidden`` contract can only list the packages it forbids; the
launcher's rule is the opposite (anything outside the standard library is
forbidden, including a package nobody has thought of yet), so it is checked
here against the interpreter's own list of standard-library modules.
Used by ``.importlinter`` (``type = stdlib_only``); lint-imports puts the
repository root on ``sys.path``, which makes ``tests.import_contracts`` importable.
"""

from __future__ import annotations

import sys

import grimp
from importlinter import Contract, ContractCheck, fields, output


def is_stdlib(top_level: str) -> bool:
    """Whether *top_level* is a standard-library module (import-linter itself needs Python 3.10+)."""
    return top_level in sys.stdlib_module_names or top_level == "__future__"


class StdlibOnlyContract(Contract):
    """Every module under ``modules`` imports only modules of its own root package or the stdlib."""

    type_name = "stdlib_only"
    modules = fields.ListField(subfield=fields.ModuleField())

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        bad: list[dict[str, object]] = []
        for root in self.modules:  # type: ignore[attr-defined]
            own = root.name.split(".")[0]
            for importer in sorted(graph.find_descendants(root.name) | {root.name}):
                for imported in sorted(graph.find_modules_directly_imported_by(importer)):
                    top = imported.split(".")[0]
                    if top == own or is_stdlib(top):
                        continue
                    for detail in graph.get_import_details(importer=importer, imported=imported) or [
                        {"line_number": 0, "line_contents": f"import {imported}"}
                    ]:
                        bad.append({"importer": importer, "imported": imported,
                                    "line": detail["line_number"], "code": detail["line_contents"]})
        return ContractCheck(kept=not bad, metadata={"bad": bad})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for b in check.metadata["bad"]:
            output.print_error(f"{b['importer']} is not allowed to import {b['imported']} "
                               f"(not in the standard library):", bold=True)
            output.new_line()
            output.indent_cursor()
            output.print_error(f"{b['importer']}:{b['line']}: {b['code']}", bold=False)
            output.new_line()
