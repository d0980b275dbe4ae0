"""Init hooks through the packager (issue 20): built with ignite-pack, run under CPython 3.12.

nuclio's ``init_context`` is found by itself; digitalhub's init function is named
with ``--init`` (or ``init = "..."`` in the configuration) and recorded in the manifest.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from packager.artifact.tarball import read_manifest, unpack
from packager.errors import HandlerError, UsageError
from packager.source.checks import check_source, takes_one_argument
from packager.source.intake import read_source
from tests.conftest import FIXTURES, run_cli
from tests.launcher_harness import running_launcher

CONV = FIXTURES / "conventions"


def build(src: Path, out: Path, *args: str) -> Path:
    r = run_cli("build", str(src), "-o", str(out), *args)
    assert r.returncode == 0, r.stderr
    return out


def unpacked(artifact: Path, dest: Path) -> Path:
    dest.mkdir(parents=True)
    unpack(artifact, dest)
    return dest


def source(tmp_path: Path, text: str, name: str = "main.py") -> Path:
    src = tmp_path / "src"
    src.mkdir()
    (src / name).write_text(text, encoding="utf-8")
    return src


# ------------------------------------------------------------------ end to end


def test_nuclio_init_context_example_answers_loaded_once(python312: str, tmp_path: Path) -> None:
    artifact = build(CONV / "nuclio-init", tmp_path / "a.tar.gz", "--convention", "nuclio", "--no-config")
    root = unpacked(artifact, tmp_path / "root")
    with running_launcher(python312, root) as srv:
        answers = [srv.post("/", b"") for _ in range(3)]
        assert [(a[0], a[2]) for a in answers] == [(200, b"loaded-once")] * 3
        status, _, body = srv.post("/init-calls", b"")
        assert (status, json.loads(body)) == (200, {"init_calls": 1})


def test_nuclio_raising_init_context_is_ready_503_and_post_500(python312: str, tmp_path: Path) -> None:
    src = source(tmp_path, "def init_context(context):\n    raise OSError('model.bin missing')\n\n"
                           "def handler(context, event):\n    return 'never'\n")
    root = unpacked(build(src, tmp_path / "a.tar.gz", "--convention", "nuclio", "--no-config"), tmp_path / "root")
    with running_launcher(python312, root) as srv:
        status, _, body = srv.get("/_/ready")
        ready = json.loads(body)
        assert (status, ready["status"], ready["type"], ready["error"]) == (503, "failed", "OSError", "model.bin missing")
        status, _, body = srv.post("/", b"")
        err = json.loads(body)
        assert (status, err["type"], err["error"]) == (500, "OSError", "model.bin missing")
        assert "init_context" in err["traceback"]


def test_digitalhub_init_function_built_with_the_init_option(python312: str, tmp_path: Path) -> None:
    artifact = build(CONV / "digitalhub-init", tmp_path / "a.tar.gz", "--convention", "digitalhub",
                     "--entry", "main:predict", "--init", "init", "--no-config")
    manifest = read_manifest(artifact)
    assert manifest.entry_init == "init"
    assert manifest.entry() == {"module": "main", "function": "predict", "init": "init"}
    root = unpacked(artifact, tmp_path / "root")
    with running_launcher(python312, root) as srv:
        for _ in range(3):
            status, _, body = srv.post("/", b'{"a": 1, "b": 10}', {"Content-Type": "application/json"})
            assert status == 200, body
            assert json.loads(body) == {"score": {"value": 32, "init_calls": 1}}


def test_init_from_the_config_file_is_recorded(tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(CONV / "digitalhub-init", src)
    (src / "ignite.toml").write_text('convention = "digitalhub"\nentry = "main:predict"\ninit = "init"\n')
    r = run_cli("build", str(src), "-o", str(tmp_path / "a.tar.gz"), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert (out["init"], out["convention"]) == ("init", "digitalhub")
    assert read_manifest(tmp_path / "a.tar.gz").entry_init == "init"


def test_a_build_without_init_keeps_the_manifest_entry_as_before(tmp_path: Path) -> None:
    artifact = build(CONV / "nuclio-init", tmp_path / "a.tar.gz", "--convention", "nuclio", "--no-config")
    m = read_manifest(artifact)
    assert m.entry_init is None
    assert m.entry() == {"module": "main", "function": "handler"}


# ------------------------------------------------------------------ build-time checks


@pytest.mark.parametrize(
    "params",
    ["", "context, event", "*, context", "context, *, verbose"],
)
def test_nuclio_init_context_that_cannot_take_one_argument_is_a_build_error(tmp_path: Path, params: str) -> None:
    src = source(tmp_path, f"def init_context({params}):\n    pass\n\ndef handler(context, event):\n    return 1\n")
    r = run_cli("build", str(src), "-o", str(tmp_path / "a.tar.gz"), "--convention", "nuclio", "--no-config", "--json")
    assert r.returncode == HandlerError.exit_code, r.stderr
    err = json.loads(r.stdout)["error"]
    assert "init_context" in err["message"] and "one argument" in err["message"]
    assert err["where"] == "main.py:1"
    assert "def init_context(context)" in err["hint"]
    assert not (tmp_path / "a.tar.gz").exists()


@pytest.mark.parametrize(
    "params",
    ["context", "ctx", "context, extra=1", "*args", "context, /", "context, *, verbose=False", "context=None"],
)
def test_nuclio_init_context_signatures_that_work_build(tmp_path: Path, params: str) -> None:
    src = source(tmp_path, f"async def init_context({params}):\n    pass\n\ndef handler(context, event):\n    return 1\n")
    checked = check_source(read_source(src), convention="nuclio")
    assert checked.entry.function == "handler"


def test_takes_one_argument_matches_python(tmp_path: Path) -> None:
    import ast

    for params, ok in [("a", True), ("", False), ("a, b", False), ("a, b=1", True), ("*a", True),
                       ("**k", False), ("a, *, k", False), ("a, *, k=1", True), ("a=1", True)]:
        fn = ast.parse(f"def f({params}): pass").body[0]
        assert isinstance(fn, ast.FunctionDef)
        ns: dict[str, object] = {}
        exec(f"def f({params}): pass", ns)
        try:
            ns["f"](object())  # type: ignore[operator]
            runs = True
        except TypeError:
            runs = False
        assert takes_one_argument(fn.args) is ok is runs, params


def test_init_option_names_a_missing_function(tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(CONV / "digitalhub-init", src)
    with pytest.raises(HandlerError) as exc:
        check_source(read_source(src), None, convention="digitalhub", init="setup")
    assert "'setup' is not defined" in exc.value.message
    assert exc.value.hint is not None and "init" in exc.value.hint  # lists the functions there


def test_init_option_is_only_for_digitalhub(tmp_path: Path) -> None:
    src = source(tmp_path, "def init(context):\n    pass\n\ndef handler(context, event):\n    return 1\n")
    with pytest.raises(UsageError) as exc:
        check_source(read_source(src), None, convention="nuclio", init="init")
    assert exc.value.hint is not None and "init_context" in exc.value.hint
    r = run_cli("build", str(src), "-o", str(tmp_path / "a.tar.gz"), "--init", "init", "--no-config")
    assert r.returncode == UsageError.exit_code
    assert "--init" in r.stderr


def test_digitalhub_init_function_that_cannot_take_the_context_is_a_build_error(tmp_path: Path) -> None:
    src = source(tmp_path, "def init():\n    pass\n\ndef handler(event):\n    return event.body\n", name="handler.py")
    r = run_cli("build", str(src), "-o", str(tmp_path / "a.tar.gz"), "--convention", "digitalhub",
                "--init", "init", "--no-config")
    assert r.returncode == HandlerError.exit_code
    assert "init() cannot be called with one argument" in r.stderr


def test_lock_checks_the_init_option_like_build(tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(CONV / "digitalhub-init", src)
    r = run_cli("lock", str(src), "--convention", "digitalhub", "--entry", "main:predict", "--init", "setup",
                "--no-config")
    assert r.returncode == HandlerError.exit_code
    assert "'setup' is not defined" in r.stderr
