"""What a build without requirements imports (issue 36: such a build within ~50 ms of the
interpreter's start). Each module below costs milliseconds of import that this build does not
need: other commands' modules, the requirement parser, importlib.metadata/resources, the
archive readers of other source kinds. Counted in a fresh interpreter, never timed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FIXTURES
from tests.wheelhouse import make_wheel

REPO = Path(__file__).resolve().parents[1]

#: Imported by a build of a lone handler.py, a directory without dependency files, or --help.
NOT_FOR_A_PLAIN_BUILD = (
    # the other commands (click imports a command's module only when it runs)
    "packager.cli.inspect", "packager.cli.run", "packager.cli.dev", "packager.cli.cache",
    "packager.cli.exit_codes",
    # requirements: packaging is needed only when there is a file to parse or a wheel to rank
    "packaging", "packaging.requirements", "packaging.tags", "packaging.version",
    "packager.deps.requirements", "packager.deps.resolve", "packager.dependencies", "packager.resolution",
    "packager.deps.piprun",  # (the index settings are packager.deps.indexconfig's)
    # the profile is found next to its module; the pinned zlib's version is a constant
    "importlib.resources", "importlib.metadata", "email", "ctypes",
    # archive sources' readers
    "packager.source.intake.tar_reader", "packager.source.intake.zip_reader", "zipfile",
    # --compile's module (the launcher's bytecode paths are the manifest module's)
    "packager.artifact.compile",
    # TOML: the built-in profile is read from its JSON twin, a configuration file only when there is one
    "tomllib", "tomli",
    # the optional parts
    "pathspec", "dotenv", "installer", "build", "piptools", "pip",
)

_PROBE = """
import json, sys
from packager.cli import main
try:
    main(sys.argv[1:], prog_name="ignite-pack")
except SystemExit as exc:
    assert not exc.code, exc.code
print(json.dumps(sorted(sys.modules)))
"""


def _modules_after(tmp_path: Path, *argv: str) -> set[str]:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("PIP_")}, "PIP_CONFIG_FILE": os.devnull,
           "PYTHONPATH": str(REPO), "IGNITE_CACHE_DIR": str(tmp_path / "cache")}
    r = subprocess.run([sys.executable, "-c", _PROBE, *argv], capture_output=True, text=True, env=env,
                       cwd=tmp_path, timeout=120)
    assert r.returncode == 0, r.stderr
    return set(json.loads(r.stdout.splitlines()[-1]))


@pytest.mark.parametrize("kind", ["file", "directory"])
def test_a_build_without_requirements_imports_only_what_it_uses(tmp_path: Path, kind: str) -> None:
    if kind == "file":
        src = tmp_path / "handler.py"
        shutil.copy(FIXTURES / "python-hello" / "handler.py", src)
    else:
        src = tmp_path / "src"
        shutil.copytree(FIXTURES / "python-hello", src)
    out = tmp_path / "out.tar.gz"
    loaded = _modules_after(tmp_path, "build", str(src), "-o", str(out), "-q")
    assert out.is_file()
    assert "packager.build" in loaded and "packager.artifact.tarball" in loaded  # it did build
    assert sorted(m for m in NOT_FOR_A_PLAIN_BUILD if m in loaded) == []
    # once the target interpreter's probe is noted, such a build starts no process at all
    again = _modules_after(tmp_path, "build", str(src), "-o", str(tmp_path / "again.tar.gz"), "-q")
    assert out.read_bytes() == (tmp_path / "again.tar.gz").read_bytes()
    assert sorted(m for m in ("subprocess", "selectors") if m in again) == []


def test_help_lists_every_command_without_running_their_imports(tmp_path: Path) -> None:
    loaded = _modules_after(tmp_path, "--version")
    assert sorted(m for m in loaded if m.startswith("packager.cli.")
                  and m not in ("packager.cli.output", "packager.cli.group")) == []


def test_every_command_is_reachable_by_name() -> None:
    from click.testing import CliRunner

    from packager.cli import COMMANDS, main

    listed = CliRunner().invoke(main, ["--help"])
    assert listed.exit_code == 0
    for name in COMMANDS:
        assert f"  {name} " in listed.output
        r = CliRunner().invoke(main, [name, "--help"])
        assert r.exit_code == 0, (name, r.output)
        assert f"Usage: main {name}" in r.output


def test_a_warm_build_does_not_import_the_installer(tmp_path: Path) -> None:
    """Every wheel's segment comes from the cache: installer (~10 ms of import) is not needed."""
    wh = tmp_path / "wheelhouse"
    make_wheel(wh, "demo", "1.0")
    src = tmp_path / "src"
    shutil.copytree(FIXTURES / "python-hello", src)
    (src / "requirements.txt").write_text("demo\n")
    argv = ("build", str(src), "--offline", "--wheelhouse", str(wh), "-q")
    cold = _modules_after(tmp_path, *argv, "-o", str(tmp_path / "a.tar.gz"))
    assert "installer" in cold  # (the cold build installed the wheel)
    warm = _modules_after(tmp_path, *argv, "-o", str(tmp_path / "b.tar.gz"))
    assert (tmp_path / "a.tar.gz").read_bytes() == (tmp_path / "b.tar.gz").read_bytes()
    assert sorted(m for m in ("installer", "packager.deps.install") if m in warm) == []
    # nothing is downloaded or built: no TLS, HTTP client or distribution metadata (~35 ms of import)
    assert "ssl" in cold or "urllib.request" in cold or "packager.deps.download" in cold
    assert sorted(m for m in ("ssl", "http.client", "urllib.request", "email", "importlib.metadata",
                              "packager.deps.sdistbuilder", "packager.deps.sharedlibs", "packager.deps.backends")
                  if m in warm) == []
