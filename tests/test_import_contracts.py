"""The import contracts (.importlinter) hold on the real tree, and each one fails when broken.

Every case copies packager/ and launcher/ into a scratch directory, adds one module
(or one import) that breaks a single rule, and runs ``lint-imports`` there: the
check must fail and name the broken contract. This is what makes ``make lint``
(and so CI) fail when a change breaks the architecture.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"

# import-linter (acyclic_siblings) needs Python 3.10+; on the 3.9 host run the contracts are
# checked by the main run's `make lint` and these tests, not here.
pytestmark = pytest.mark.skipif(sys.version_info < (3, 10), reason="import-linter needs Python 3.10+")


def lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    assert LINT_IMPORTS.exists(), "import-linter is missing: it is in the [dev] extra (make venv)"
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=cwd, capture_output=True, text=True,
                          timeout=120, check=False)


def broken_contracts(out: str) -> set[str]:
    """The names on lines like ``name BROKEN`` or ``name BROKEN (1 ignored import)``."""
    return {m.group(1) for m in re.finditer(r"^(.+) BROKEN(?: \(.*\))?$", out, re.M)}


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("packager", "launcher"):
        shutil.copytree(REPO / name, tmp_path / name, ignore=ignore)
    (tmp_path / "tests").mkdir()
    for name in ("__init__.py", "import_contracts.py"):
        shutil.copy(REPO / "tests" / name, tmp_path / "tests" / name)
    shutil.copy(REPO / ".importlinter", tmp_path / ".importlinter")
    return tmp_path


def test_the_real_tree_keeps_every_contract() -> None:
    res = lint_imports(REPO)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Contracts: 8 kept, 0 broken." in res.stdout, res.stdout


def test_the_scratch_copy_is_what_gets_checked(scratch: Path) -> None:
    """Sanity for every case below: an unmodified copy passes too."""
    res = lint_imports(scratch)
    assert res.returncode == 0, res.stdout + res.stderr


CASES = {
    # file to write (or append to) -> code, the contract it breaks
    "launcher-imports-packager": ("launcher/scratch.py", "from packager import errors\n",
                                  "launcher imports nothing from packager"),
    "launcher-imports-third-party": ("launcher/scratch.py", "import click\n",
                                     "launcher imports only the standard library"),
    "launcher-lazy-third-party": ("launcher/scratch.py", "def f():\n    import packaging.version\n",
                                  "launcher imports only the standard library"),
    "core-imports-cli": ("packager/deps/scratch.py", "from packager.cli import output\n",
                         "the core never imports packager.cli"),
    "core-imports-click": ("packager/source/scratch.py", "import click\n",
                           "the core never imports packager.cli"),
    # the quick build path (packager.cli.quick) reaching click, directly or through another CLI module
    "quick-path-imports-click": ("packager/cli/values.py", "\n\ndef _scratch():\n    import click\n",
                                 "the quick build path never imports click"),
    "quick-path-reaches-the-group": ("packager/cli/buildrun.py",
                                     "\n\ndef _scratch():\n    from packager.cli.options import json_option\n",
                                     "the quick build path never imports click"),
    "stage-reaches-up": ("packager/artifact/scratch.py", "from packager.source import intake\n",
                         "the pipeline's layers, top to bottom"),
    "module-without-a-layer": ("packager/newstage.py", "from packager import errors\n",
                               "the pipeline's layers, top to bottom"),
    # the cycle issue 19 removed (build <-> dependencies through BuildOptions), put back lazily
    "build-dependencies-cycle": ("packager/dependencies.py", "\n\ndef _scratch():\n    from packager.build import build\n",
                                 "no import cycles inside packager"),
    "cycle-inside-a-stage": ("packager/deps/scratch.py", "from packager.deps import fetch\n",
                             "no import cycles inside packager"),
    "launcher-cycle": ("launcher/scratch.py", "from . import server\n",
                       "no import cycles inside launcher"),
    # what yandex, lambda and openfaas-http did before issue 29: reach into nuclio's adapter
    # for its helpers, installing the nuclio_sdk stand-in as a side effect
    "adapter-imports-adapter": ("launcher/conventions/yandex.py", "from .nuclio import Event\n",
                                "convention adapters do not import each other"),
    "adapter-imports-adapter-lazily": ("launcher/conventions/openfaas.py",
                                       "\n\ndef _scratch():\n    from . import ignite\n",
                                       "convention adapters do not import each other"),
}


def test_every_adapter_is_in_the_independence_contract() -> None:
    """A new adapter module must be listed, or nothing would stop it importing another one."""
    text = (REPO / ".importlinter").read_text()
    section = text.split("[importlinter:contract:adapters-independent]", 1)[1].split("[importlinter:", 1)[0]
    listed = set(re.findall(r"^\s+launcher\.conventions\.(\w+)$", section, re.M))
    adapters = {p.stem for p in (REPO / "launcher" / "conventions").glob("*.py") if not p.stem.startswith("_")}
    assert listed == adapters, f"list these in .importlinter's adapters-independent: {sorted(adapters - listed)}"


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_module_breaking_a_contract_fails_the_check(scratch: Path, case: str) -> None:
    rel, code, contract = CASES[case]
    target = scratch / rel
    target.write_text((target.read_text() if target.exists() else "") + code)
    if case == "cycle-inside-a-stage":  # fetch imports the scratch module back: a cycle within deps/
        fetch = scratch / "packager/deps/fetch.py"
        fetch.write_text(fetch.read_text() + "\n\ndef _scratch():\n    from packager.deps import scratch\n")
    if case == "launcher-cycle":  # server imports it back at top level
        server = scratch / "launcher/server.py"
        server.write_text(server.read_text() + "\nfrom . import scratch\n")
    res = lint_imports(scratch)
    assert res.returncode != 0, res.stdout
    assert contract in broken_contracts(res.stdout), res.stdout
