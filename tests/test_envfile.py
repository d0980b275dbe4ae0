"""`--env-file FILE` (issue 33): dotenv syntax sets the function's environment; values are never printed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from packager.envfile import load_env_file
from packager.errors import UsageError
from tests.ci_helpers import build_with, source
from tests.conftest import run_cli

SECRET = "s3cr3t-value-never-printed"

ENV_FILE = f"""\
# settings for local runs
GREETING=hello
QUOTED="two words # not a comment"
EXPANDED=${{GREETING}}-world
export EXPORTED=yes   # a trailing comment
TOKEN={SECRET}
EMPTY=
PORT=1
"""

HANDLER = """\
import os

def handler(payload, ctx):
    keys = ["GREETING", "QUOTED", "EXPANDED", "EXPORTED", "EMPTY", "PORT"]
    return {"env": {k: os.environ.get(k) for k in keys}, "token_length": len(os.environ.get("TOKEN", ""))}
"""


def test_load_env_file_dotenv_syntax(tmp_path: Path) -> None:
    f = tmp_path / ".env"
    f.write_text(ENV_FILE)
    env = load_env_file(f)
    assert env["GREETING"] == "hello" and env["QUOTED"] == "two words # not a comment"
    assert env["EXPANDED"] == "hello-world" and env["EXPORTED"] == "yes" and env["EMPTY"] == ""
    assert env["TOKEN"] == SECRET


def test_load_env_file_errors_name_the_line_never_the_value(tmp_path: Path) -> None:
    f = tmp_path / ".env"
    f.write_text(f"GOOD=1\nTOKEN='{SECRET}\n")  # an unterminated quote
    with pytest.raises(UsageError) as exc:
        load_env_file(f)
    assert exc.value.where == f"{f}:2"
    assert SECRET not in json.dumps(exc.value.to_dict())
    with pytest.raises(UsageError, match="does not exist"):
        load_env_file(tmp_path / "missing.env")


def test_invoke_env_file_sets_the_function_environment(tmp_path: Path, python312: str) -> None:
    src = source(tmp_path, files={"handler.py": HANDLER})
    out = tmp_path / "a.tar.gz"
    build_with(src, out)
    env_file = tmp_path / "local.env"
    env_file.write_text(ENV_FILE)

    r = run_cli("invoke", str(out), "--python", python312, "--runtime", "bare", "-p", "{}",
                "--env-file", str(env_file), "--logs", timeout=120)
    assert r.returncode == 0, r.stderr
    body = json.loads(r.stdout)
    assert body["env"] == {"GREETING": "hello", "QUOTED": "two words # not a comment",
                           "EXPANDED": "hello-world", "EXPORTED": "yes", "EMPTY": "", "PORT": body["env"]["PORT"]}
    assert body["env"]["PORT"] != "1"  # ignite-pack sets PORT, as the platform does
    assert body["token_length"] == len(SECRET)
    assert SECRET not in r.stdout + r.stderr
    assert "PORT is ignored" in r.stderr

    r = run_cli("invoke", str(out), "--python", python312, "--runtime", "bare", "-p", "{}", timeout=120)
    assert json.loads(r.stdout)["env"]["GREETING"] is None  # without --env-file: nothing set

    bad = tmp_path / "bad.env"
    bad.write_text(f"A=1\nB='{SECRET}\n")
    r = run_cli("invoke", str(out), "--python", python312, "--env-file", str(bad), "--json", timeout=120)
    assert r.returncode == 2, r.stdout + r.stderr
    assert json.loads(r.stdout)["error"]["where"] == f"{bad}:2"
    assert SECRET not in r.stdout + r.stderr
