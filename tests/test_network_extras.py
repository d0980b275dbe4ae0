"""Issue 22 against the real package index: extras of the image's packages, and --vendor-anyway's closure.

The versions vendored must be those that pip, run natively by CPython 3.12 with
the image's pins as constraints, picks. Marked ``network`` (`make test-all`).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from packager.deps.profile import load_profile
from tests.conftest import run_cli

pytestmark = pytest.mark.network

HANDLER = (
    "import email_validator, h2\n"
    "def handler(payload, ctx):\n"
    "    return {'email_validator': email_validator.__name__, 'h2': h2.__version__}\n"
)


def _native_picks(python312: str, requirements: list[str], tmp_path: Path) -> set[tuple[str, str]]:
    """What native pip (CPython 3.12) installs besides the image's pins, with the pins as constraints."""
    profile = load_profile()
    constraints = tmp_path / "image-pins.txt"
    constraints.write_text("".join(f"{n}=={v}\n" for n, v in sorted(profile.preinstalled.items())))
    report = tmp_path / "native-report.json"
    subprocess.run([python312, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
                    "--report", str(report), "-c", str(constraints), *requirements],
                   check=True, capture_output=True, timeout=600)
    items = json.loads(report.read_text())["install"]
    return {(i["metadata"]["name"].lower().replace("_", "-"), i["metadata"]["version"]) for i in items
            if i["metadata"]["name"].lower().replace("_", "-") not in profile.preinstalled}


def _build(tmp_path: Path, requirements: str, *extra: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    (src / "handler.py").write_text(HANDLER)
    (src / "requirements.txt").write_text(requirements)
    out = tmp_path / "fn.tar.gz"
    return run_cli("build", str(src), "-o", str(out), "--cache-dir", str(tmp_path / "cache"), "--json", *extra,
                   timeout=900), out


def test_extras_of_preinstalled_packages_are_vendored_and_import(tmp_path: Path, python312: str) -> None:
    r, out = _build(tmp_path, "pydantic[email]\nhttpx[http2]\n")
    assert r.returncode == 0, r.stderr
    vendored = {(v["name"], v["version"]) for v in json.loads(r.stdout)["vendored"]}
    assert {n for n, _ in vendored} == {"email-validator", "dnspython", "h2", "hpack", "hyperframe"}
    assert vendored == _native_picks(python312, ["pydantic[email]", "httpx[http2]"], tmp_path)
    r = run_cli("invoke", str(out), "--runtime", "image", "--python", python312, "-p", "{}", timeout=1800)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["email_validator"] == "email_validator"


def test_postgrest_vendors_what_httpx_http2_adds(tmp_path: Path, python312: str) -> None:
    r, _ = _build(tmp_path, "postgrest\n")
    assert r.returncode == 0, r.stderr
    vendored = {(v["name"], v["version"]) for v in json.loads(r.stdout)["vendored"]}
    assert {"h2", "hpack", "hyperframe"} <= {n for n, _ in vendored}
    assert vendored == _native_picks(python312, ["postgrest"], tmp_path)


def test_an_old_boto3_names_botocore_and_vendor_anyway_moves_it(tmp_path: Path) -> None:
    r, _ = _build(tmp_path, "boto3==1.35.0\n")
    assert r.returncode == 7, r.stderr
    err = json.loads(r.stdout)["error"]
    text = f"{err['where']}: {err['message']} / {err['hint']}"
    assert err["where"] == "requirements.txt:1"
    assert "botocore" in text and "boto3==1.35.0 → botocore<1.36.0,>=1.35.0" in text
    assert "ignite-resolve" not in text and "/tmp/" not in text
    r, _ = _build(tmp_path, "boto3==1.35.0\n", "--vendor-anyway", "boto3")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    vendored = {v["name"]: v["version"] for v in doc["vendored"]}
    assert vendored["boto3"] == "1.35.0" and vendored["botocore"].startswith("1.35.")
    for name in vendored:
        assert any(w.startswith(f"{name} {vendored[name]} is vendored and will shadow") for w in doc["warnings"])


def test_the_committed_profile_is_what_the_generator_writes(tmp_path: Path) -> None:
    """The profile is generated, never edited by hand: regenerating it with its own pins changes nothing."""
    from packager.deps.profile import _builtin_path
    from packager.deps.profiles import generate

    committed = _builtin_path("python3.12")
    assert committed is not None
    fresh = tmp_path / "python3.12.toml"
    fresh.write_bytes(committed.read_bytes())  # its pins are kept as constraints
    assert generate.main(["--name", "python3.12", "--image", "python:3.12", "--python", "3.12.12", "--glibc", "2.36",
                          "--arch", "x86_64", "--roots", *load_profile().preinstalled_roots, "-o", str(fresh)]) == 0
    assert fresh.read_text() == committed.read_text()
