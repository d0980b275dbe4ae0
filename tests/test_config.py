"""Configuration files next to the source, and flags winning over them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from packager.artifact.tarball import DEFAULT_LEVEL, read_manifest
from packager.config import find_config, load_config
from packager.errors import ConfigError
from tests.ci_helpers import source, validate
from tests.conftest import run_cli

ALT = "def handler(payload, ctx):\n    return 'ok'\n\ndef alt(payload, ctx):\n    return 'alt'\n"


def _src(tmp_path: Path) -> Path:
    src = source(tmp_path)
    (src / "handler.py").write_text(ALT)
    return src


def test_ignite_toml_settings_apply(tmp_path: Path) -> None:
    src = _src(tmp_path)
    (src / "ignite.toml").write_text('entry = "handler:alt"\nlevel = 1\noutput = "../from-config.tar.gz"\n')
    r = run_cli("build", str(src), "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    doc = json.loads(r.stdout)
    validate(doc, "build")
    out = tmp_path / "from-config.tar.gz"  # relative to the configuration file
    assert Path(doc["output"]).resolve() == out.resolve() and out.is_file()
    assert doc["config"] == str(src / "ignite.toml")
    m = read_manifest(out)
    assert m.entry_function == "alt" and m.compression["level"] == 1


def test_flags_win_over_the_config_file(tmp_path: Path) -> None:
    src = _src(tmp_path)
    (src / "pyproject.toml").write_text('[project]\nname = "fn"\n\n[tool.ignite]\nentry = "handler:alt"\nlevel = 1\n')
    out = tmp_path / "o.tar.gz"
    r = run_cli("build", str(src), "-o", str(out), "--level", "9", "--entry", "handler:handler")
    assert r.returncode == 0, r.stderr
    m = read_manifest(out)
    assert m.compression["level"] == 9 and m.entry_function == "handler"
    # A flag given only for one setting leaves the others to the file.
    r = run_cli("build", str(src), "-o", str(out), "--level", "9")
    m = read_manifest(out)
    assert m.compression["level"] == 9 and m.entry_function == "alt"
    # A flag equal to the default still counts as given.
    r = run_cli("build", str(src), "-o", str(out), "--level", str(DEFAULT_LEVEL))
    assert read_manifest(out).compression["level"] == DEFAULT_LEVEL
    # --no-config: the file is not read at all.
    r = run_cli("build", str(src), "-o", str(out), "--no-config")
    m = read_manifest(out)
    assert m.compression["level"] == DEFAULT_LEVEL and m.entry_function == "handler"


def test_ignite_toml_wins_over_pyproject(tmp_path: Path) -> None:
    src = _src(tmp_path)
    (src / "pyproject.toml").write_text('[tool.ignite]\nlevel = 2\n')
    (src / "ignite.toml").write_text('level = 3\n')
    assert find_config(src) == src / "ignite.toml"
    assert load_config(src).get("level") == 3
    (src / "ignite.toml").unlink()
    assert load_config(src).get("level") == 2
    (src / "pyproject.toml").write_text('[project]\nname = "x"\n')  # no [tool.ignite]: no config
    assert find_config(src) is None and load_config(src).values == {}


def test_config_next_to_a_single_file_source(tmp_path: Path) -> None:
    (tmp_path / "handler.py").write_text(ALT)
    (tmp_path / "ignite.toml").write_text('entry = "handler:alt"\nmax_size = "1KB"\n')
    r = run_cli("build", str(tmp_path / "handler.py"), "-o", str(tmp_path / "o.tar.gz"), "--json")
    assert r.returncode == 10, r.stdout  # the budget from the file applies
    assert not (tmp_path / "o.tar.gz").exists()
    r = run_cli("build", str(tmp_path / "handler.py"), "-o", str(tmp_path / "o.tar.gz"), "--max-size", "10MB")
    assert r.returncode == 0, r.stderr
    assert read_manifest(tmp_path / "o.tar.gz").entry_function == "alt"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('levle = 3\n', "unknown key 'levle'"),
        ('level = 12\n', "level must be an integer from 1 to 9"),
        ('compile = "yes"\n', "compile must be true or false"),
        ('vendor-anyway = [1]\n', "vendor-anyway must be a string or a list of strings"),
        ('level = \n', "invalid TOML"),
    ],
)
def test_invalid_config_is_a_config_error(tmp_path: Path, text: str, message: str) -> None:
    src = _src(tmp_path)
    (src / "ignite.toml").write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(src)
    r = run_cli("build", str(src), "-o", str(tmp_path / "o.tar.gz"), "--json")
    assert r.returncode == 15, r.stdout
    doc = json.loads(r.stdout)
    validate(doc, "error")
    assert doc["error"]["error"] == "config" and message in doc["error"]["message"]
    assert not (tmp_path / "o.tar.gz").exists()


def test_explicit_config_file_and_list_values(tmp_path: Path) -> None:
    src = _src(tmp_path)
    cfg = tmp_path / "ci" / "ignite.toml"
    cfg.parent.mkdir()
    cfg.write_text('vendor_anyway = "six"\nextra-index-url = ["http://a.invalid/simple"]\nwheelhouse = "wh"\n')
    c = load_config(src, cfg)
    assert c.get("vendor_anyway") == ("six",)
    assert c.get("extra_index_urls") == ("http://a.invalid/simple",)
    assert c.get("wheelhouses") == (str(cfg.parent / "wh"),)
    r = run_cli("build", str(src), "--config", str(tmp_path / "missing.toml"))
    assert r.returncode == 15 and "configuration file not found" in r.stderr


def test_config_values_go_through_the_flags_own_types(tmp_path: Path) -> None:
    src = _src(tmp_path)
    (src / "ignite.toml").write_text('lock = "."\n')  # --lock takes a file, not a directory
    r = run_cli("build", str(src), "-o", str(tmp_path / "o.tar.gz"), "--json")
    assert r.returncode == 15, r.stdout
    err = json.loads(r.stdout)["error"]
    assert err["where"] == f"{src / 'ignite.toml'}: lock" and "directory" in err["message"]
    assert "--lock" in err["hint"]
