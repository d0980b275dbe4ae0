"""End to end: build an artifact, then run it with the embedded launcher under CPython 3.12."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from pathlib import Path

from tests.conftest import FIXTURES, run_cli

HELLO = FIXTURES / "python-hello"


def _invoke(artifact: Path, python312: str, *extra: str) -> tuple[int, str, str]:
    r = run_cli("invoke", str(artifact), "--python", python312, "--runtime", "bare", *extra, timeout=120)
    return r.returncode, r.stdout, r.stderr


def test_hello_from_file_zip_and_targz(tmp_path: Path, python312: str) -> None:
    handler = (HELLO / "handler.py").read_bytes()
    zpath = tmp_path / "hello.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("handler.py", handler)
    tpath = tmp_path / "hello.tar.gz"
    with tarfile.open(tpath, "w:gz") as tf:
        ti = tarfile.TarInfo("handler.py")
        ti.size = len(handler)
        tf.addfile(ti, io.BytesIO(handler))
    for src in (HELLO / "handler.py", zpath, tpath):
        out = tmp_path / f"{src.name}.artifact.tar.gz"
        r = run_cli("build", str(src), "-o", str(out))
        assert r.returncode == 0, r.stderr
        code, stdout, stderr = _invoke(out, python312, "-p", '{"name":"world"}')
        assert code == 0, stderr
        body = json.loads(stdout)
        assert body["greeting"] == "Hello, world!"
        assert len(body["execution_id"]) == 36  # a fresh UUID
        assert body["function_id"] == "local/function"


def test_invoke_json_shows_status_headers_and_ctx(tmp_path: Path, python312: str) -> None:
    src = tmp_path / "fn"
    src.mkdir()
    (src / "handler.py").write_text(
        "def handler(payload, ctx):\n"
        "    print('user output')\n"
        "    return {'keys': sorted(ctx), 'payload': payload.decode()}\n"
    )
    out = tmp_path / "a.tar.gz"
    assert run_cli("build", str(src), "-o", str(out)).returncode == 0
    code, stdout, stderr = _invoke(out, python312, "-p", "raw body", "--json",
                                   "-H", "X-Ignite-Execution-Id: exec-123")
    assert code == 0, stderr
    doc = json.loads(stdout)
    assert doc["status"] == 200
    assert doc["headers"]["content-type"].startswith("application/json")
    assert doc["headers"]["x-ignite-execution-id"] == "exec-123"
    assert doc["body"] == {"keys": ["execution_id", "function_id", "organization_id"], "payload": "raw body"}
    assert "user output" in doc["logs"]


def test_handler_exception_exits_nonzero_with_error_body(tmp_path: Path, python312: str) -> None:
    src = tmp_path / "fn"
    src.mkdir()
    (src / "handler.py").write_text("def handler(payload, ctx):\n    raise ValueError('bad input')\n")
    out = tmp_path / "a.tar.gz"
    assert run_cli("build", str(src), "-o", str(out)).returncode == 0
    code, stdout, stderr = _invoke(out, python312)
    assert code == 14
    body = json.loads(stdout)
    assert body["type"] == "ValueError" and body["error"] == "bad input" and "Traceback" in body["traceback"]
    assert "HTTP 500" in stderr


def test_entry_option_is_recorded_and_used(tmp_path: Path, python312: str) -> None:
    src = tmp_path / "fn"
    (src / "app").mkdir(parents=True)
    (src / "app" / "__init__.py").write_text("")
    (src / "app" / "main.py").write_text("def run(payload, ctx):\n    return 'from app.main:run'\n")
    out = tmp_path / "a.tar.gz"
    r = run_cli("build", str(src), "-o", str(out), "--entry", "app.main:run")
    assert r.returncode == 0, r.stderr
    code, stdout, stderr = _invoke(out, python312)
    assert code == 0, stderr
    assert stdout.strip() == "from app.main:run"


def test_import_error_is_reported_by_invoke(tmp_path: Path, python312: str) -> None:
    src = tmp_path / "fn"
    src.mkdir()
    (src / "handler.py").write_text("import not_installed_anywhere\n\ndef handler(p, c):\n    return 1\n")
    out = tmp_path / "a.tar.gz"
    assert run_cli("build", str(src), "-o", str(out)).returncode == 0
    code, stdout, _ = _invoke(out, python312)
    assert code == 14
    assert "not_installed_anywhere" in stdout and "ModuleNotFoundError" in stdout
