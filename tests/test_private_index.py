"""Private package indexes (issue 15), against a real pypiserver behind basic auth.

Every case asserts the message, the exit code and the --json reason, and
greps every output and file it produced (artifact members, lock, the whole
cache directory, names and contents) for the secret.
"""

from __future__ import annotations

import base64
import http.server
import json
import re
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from packager.errors import EXIT_CODES
from tests.conftest import run_cli
from tests.private_index import USER, PrivateIndex, free_port
from tests.wheelhouse import make_wheel

pytest.importorskip("pypiserver")
pytest.importorskip("passlib")

SECRET = "s3cr3t-Tok3n-7f1d"
WRONG = "wr0ng-Passw0rd-9c2e"
HANDLER = "import demo\n\ndef handler(payload, ctx):\n    return demo.VERSION\n"


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateIndex]:
    work = tmp_path_factory.mktemp("pypiserver")
    packages = work / "packages"
    make_wheel(packages, "demo", "1.0", requires=["helper>=1"])
    make_wheel(packages, "helper", "1.0")
    with PrivateIndex(packages, work, SECRET) as idx:
        yield idx


def _source(tmp_path: Path, requirements: str = "demo==1.0\n") -> Path:
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    (src / "handler.py").write_text(HANDLER)
    (src / "requirements.txt").write_text(requirements)
    return src


def _leaks(secret: str, roots: list[Path], texts: list[str]) -> list[str]:
    """Where *secret* (or its basic-auth form) shows: output texts, file names, file bytes, tar members."""
    needles = [secret.encode(), base64.b64encode(f"{USER}:{secret}".encode())]
    found = [f"output #{i}" for i, t in enumerate(texts) if any(n.decode() in t for n in needles)]
    for root in roots:
        for f in [root, *root.rglob("*")] if root.is_dir() else [root]:
            if secret in str(f):
                found.append(f"name {f}")
            if not f.is_file():
                continue
            data = f.read_bytes()
            if any(n in data for n in needles):
                found.append(str(f))
            if f.name.endswith(".tar.gz"):
                with tarfile.open(f) as tf:
                    for m in tf:
                        blob = tf.extractfile(m).read() if m.isfile() else b""  # type: ignore[union-attr]
                        if any(n in blob for n in needles) or secret in m.name:
                            found.append(f"{f}!{m.name}")
    return found


def _json_error(stdout: str) -> dict[str, object]:
    doc = json.loads(stdout)
    assert doc["ok"] is False
    return doc["error"]  # type: ignore[no-any-return]


def test_build_and_lock_with_credentials_leave_no_secret(tmp_path: Path, index: PrivateIndex,
                                                         hermetic_pip: Path) -> None:
    src = _source(tmp_path)
    url = index.url(SECRET)
    outs: list[str] = []
    b = run_cli("build", str(src), "-o", str(tmp_path / "a.tar.gz"), "--index-url", url, timeout=300)
    assert b.returncode == 0, b.stderr
    lock = tmp_path / "requirements.lock"
    lk = run_cli("lock", str(src), "-o", str(lock), "--index-url", url, "--json", timeout=300)
    assert lk.returncode == 0, lk.stderr
    assert "demo==1.0" in lock.read_text() and "helper==1.0" in lock.read_text()
    # A locked build on a fresh cache: every wheel fetched from the private index again.
    (src / "requirements.lock").write_text(lock.read_text())
    lb = run_cli("build", str(src), "-o", str(tmp_path / "b.tar.gz"), "--index-url", url, "--json",
                 "--cache-dir", str(tmp_path / "cache-2"), timeout=300)
    assert lb.returncode == 0, lb.stderr
    assert json.loads(lb.stdout)["ok"] is True
    with tarfile.open(tmp_path / "b.tar.gz") as tf:
        names = tf.getnames()
    assert any(n.startswith("vendor/demo") for n in names) and any(n.startswith("vendor/helper") for n in names)
    outs += [b.stdout, b.stderr, lk.stdout, lk.stderr, lb.stdout, lb.stderr]
    assert _leaks(SECRET, [tmp_path / "a.tar.gz", tmp_path / "b.tar.gz", lock, hermetic_pip,
                           tmp_path / "cache-2"], outs) == []


def test_wrong_password_is_reported_as_refused_credentials(tmp_path: Path, index: PrivateIndex,
                                                           hermetic_pip: Path) -> None:
    src = _source(tmp_path)
    r = run_cli("build", str(src), "-o", str(tmp_path / "a.tar.gz"), "--index-url", index.url(WRONG), timeout=300)
    assert r.returncode == EXIT_CODES["index-auth"] == 18, r.stderr
    # pypiserver answers a wrong password with 403 (no credentials: 401); either is "refused".
    assert re.search(rf"error: http://\*\*\*\*@127\.0\.0\.1:{index.port}/simple/: the package index refused "
                     r"the credentials \(HTTP 40[13]\) for the page of demo", r.stderr), r.stderr
    assert "~/.netrc" in r.stderr and "PIP_INDEX_URL" in r.stderr  # where credentials can come from
    assert "may not exist" not in r.stderr
    j = run_cli("build", str(src), "-o", str(tmp_path / "a.tar.gz"), "--index-url", index.url(WRONG), "--json",
                timeout=300)
    err = _json_error(j.stdout)
    assert j.returncode == 18 and err["reason"] == "auth" and err["error"] == "index-auth"
    assert _leaks(WRONG, [tmp_path, hermetic_pip], [r.stdout, r.stderr, j.stdout, j.stderr]) == []


def test_no_credentials_says_the_index_wants_some(tmp_path: Path, index: PrivateIndex, hermetic_pip: Path) -> None:
    src = _source(tmp_path)
    r = run_cli("lock", str(src), "-o", str(tmp_path / "x.lock"), "--index-url", index.url(), "--json", timeout=300)
    err = _json_error(r.stdout)
    assert r.returncode == 18 and err["reason"] == "auth"
    assert "requires credentials (HTTP 401) and none were found" in str(err["message"])
    assert not (tmp_path / "x.lock").exists()


def test_project_the_index_lacks_is_named_missing_from_it(tmp_path: Path, index: PrivateIndex,
                                                          hermetic_pip: Path) -> None:
    src = _source(tmp_path, "demo==1.0\nnosuchproject==2.0\n")
    r = run_cli("build", str(src), "-o", str(tmp_path / "a.tar.gz"), "--index-url", index.url(SECRET), timeout=300)
    assert r.returncode == EXIT_CODES["not-found"] == 22, r.stderr
    assert f"nosuchproject is not on the package index http://****@127.0.0.1:{index.port}/simple/" in r.stderr
    j = run_cli("build", str(src), "-o", str(tmp_path / "a.tar.gz"), "--index-url", index.url(SECRET), "--json",
                timeout=300)
    err = _json_error(j.stdout)
    assert err["reason"] == "not-found" and err["details"] == {  # type: ignore[comparison-overlap]
        "project": "nosuchproject", "indexes": [f"http://****@127.0.0.1:{index.port}/simple/"]}
    assert _leaks(SECRET, [tmp_path, hermetic_pip], [r.stdout, r.stderr, j.stdout, j.stderr]) == []


def test_stopped_index_is_unreachable_at_resolve_and_at_locked_fetch(tmp_path: Path, hermetic_pip: Path) -> None:
    packages = tmp_path / "packages"
    make_wheel(packages, "demo", "1.0")
    idx = PrivateIndex(packages, tmp_path, SECRET)
    src = _source(tmp_path)
    with idx:
        lk = run_cli("lock", str(src), "-o", str(tmp_path / "requirements.lock"), "--index-url", idx.url(SECRET),
                     timeout=300)
        assert lk.returncode == 0, lk.stderr
    # The index is stopped now (its port closed).
    env = {"PIP_RETRIES": "1"}  # pip's own retries only add waiting here
    r = run_cli("build", str(src), "-o", str(tmp_path / "a.tar.gz"), "--index-url", idx.url(SECRET), "--json",
                "--cache-dir", str(tmp_path / "fresh-1"), env=env, timeout=300)
    err = _json_error(r.stdout)
    assert r.returncode == EXIT_CODES["index-unreachable"] == 19, r.stderr
    assert err["reason"] == "unreachable"
    assert err["where"] == f"http://****@127.0.0.1:{idx.port}/simple/"
    assert "the package index is unreachable: connection refused" in str(err["message"])
    (src / "requirements.lock").write_text((tmp_path / "requirements.lock").read_text())
    f = run_cli("build", str(src), "-o", str(tmp_path / "b.tar.gz"), "--index-url", idx.url(SECRET),
                "--cache-dir", str(tmp_path / "fresh-2"), env=env, timeout=300)
    assert f.returncode == 19 and "is unreachable: connection refused" in f.stderr, f.stderr
    assert _leaks(SECRET, [tmp_path / "fresh-1", tmp_path / "fresh-2", tmp_path / "requirements.lock",
                           hermetic_pip], [lk.stdout, lk.stderr, r.stdout, r.stderr, f.stdout, f.stderr]) == []


def test_locked_build_with_a_revoked_token_is_an_auth_error(tmp_path: Path, index: PrivateIndex,
                                                            hermetic_pip: Path) -> None:
    src = _source(tmp_path)
    lock = tmp_path / "requirements.lock"
    lk = run_cli("lock", str(src), "-o", str(lock), "--index-url", index.url(SECRET), timeout=300)
    assert lk.returncode == 0, lk.stderr
    (src / "requirements.lock").write_text(lock.read_text())
    r = run_cli("build", str(src), "-o", str(tmp_path / "a.tar.gz"), "--index-url", index.url(WRONG),
                "--cache-dir", str(tmp_path / "fresh"), timeout=300)
    assert r.returncode == 18 and "refused the credentials (HTTP 403)" in r.stderr, r.stderr
    assert _leaks(WRONG, [tmp_path, hermetic_pip], [r.stdout, r.stderr]) == []
    assert _leaks(SECRET, [tmp_path, hermetic_pip], [lk.stdout, lk.stderr, r.stdout, r.stderr]) == []


def test_credentials_from_netrc(tmp_path: Path, index: PrivateIndex, hermetic_pip: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    netrc = tmp_path / "home" / ".netrc"
    netrc.parent.mkdir()
    netrc.write_text(f"machine 127.0.0.1\n  login {USER}\n  password {SECRET}\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("HOME", str(netrc.parent))
    monkeypatch.delenv("NETRC", raising=False)
    src = _source(tmp_path)
    r = run_cli("build", str(src), "-o", str(tmp_path / "a.tar.gz"), "--index-url", index.url(), "--json",
                timeout=300)
    assert r.returncode == 0, r.stderr
    # $NETRC names another file: a wrong password there is refused, and said so.
    other = tmp_path / "other-netrc"
    other.write_text(f"machine 127.0.0.1 login {USER} password {WRONG}\n")
    other.chmod(0o600)
    w = run_cli("build", str(src), "-o", str(tmp_path / "b.tar.gz"), "--index-url", index.url(), "--json",
                "--cache-dir", str(tmp_path / "fresh"), env={"NETRC": str(other)}, timeout=300)
    assert w.returncode == 18 and _json_error(w.stdout)["reason"] == "auth", w.stdout
    assert "refused the credentials" in str(_json_error(w.stdout)["message"])
    assert _leaks(SECRET, [tmp_path / "a.tar.gz", hermetic_pip, tmp_path / "fresh"],
                  [r.stdout, r.stderr, w.stdout, w.stderr]) == []


def test_credentials_from_pip_index_url(tmp_path: Path, index: PrivateIndex, hermetic_pip: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIP_INDEX_URL", index.url(SECRET))
    src = _source(tmp_path)
    r = run_cli("build", str(src), "-o", str(tmp_path / "a.tar.gz"), timeout=300)
    assert r.returncode == 0, r.stderr
    monkeypatch.setenv("PIP_INDEX_URL", index.url(WRONG))
    w = run_cli("build", str(src), "-o", str(tmp_path / "b.tar.gz"), "--cache-dir", str(tmp_path / "fresh"),
                timeout=300)
    assert w.returncode == 18 and "refused the credentials (HTTP 403)" in w.stderr, w.stderr
    assert _leaks(SECRET, [tmp_path / "a.tar.gz", hermetic_pip, tmp_path / "fresh"],
                  [r.stdout, r.stderr, w.stdout, w.stderr]) == []
    assert _leaks(WRONG, [tmp_path, hermetic_pip], [w.stdout, w.stderr]) == []


def test_in_process_downloader_sends_basic_auth_itself(tmp_path: Path, index: PrivateIndex,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The parallel downloader fetches from the authenticated index without handing the URL back to pip."""
    import hashlib

    from packaging.utils import canonicalize_name

    from packager.deps.fetch import download_direct
    from packager.deps.indexconfig import IndexConfig
    from packager.deps.resolve import Pin

    monkeypatch.delenv("PIP_INDEX_URL", raising=False)
    monkeypatch.delenv("PIP_EXTRA_INDEX_URL", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no netrc
    monkeypatch.delenv("NETRC", raising=False)
    wheel = index.packages / "demo-1.0-py3-none-any.whl"
    pin = Pin(canonicalize_name("demo"), "1.0", ("sha256:" + hashlib.sha256(wheel.read_bytes()).hexdigest(),),
              url=f"http://127.0.0.1:{index.port}/packages/{wheel.name}")
    assert download_direct([pin], tmp_path / "none", IndexConfig(index_url=index.url())) == [pin]  # 401
    assert download_direct([pin], tmp_path / "wrong", IndexConfig(index_url=index.url(WRONG))) == [pin]
    assert download_direct([pin], tmp_path / "ok", IndexConfig(index_url=index.url(SECRET))) == []
    assert (tmp_path / "ok" / wheel.name).read_bytes() == wheel.read_bytes()
    # netrc, as pip reads it
    (tmp_path / ".netrc").write_text(f"machine 127.0.0.1 login {USER} password {SECRET}\n")
    assert download_direct([pin], tmp_path / "netrc", IndexConfig(index_url=index.url())) == []


class _Failing(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        return None

    def do_GET(self) -> None:
        self.send_error(503)


def test_a_failing_index_is_an_index_error_and_says_pip_retried(tmp_path: Path, hermetic_pip: Path) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Failing)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        url = f"http://{USER}:{SECRET}@127.0.0.1:{server.server_address[1]}/simple/"
        r = run_cli("build", str(_source(tmp_path)), "-o", str(tmp_path / "a.tar.gz"), "--index-url", url,
                    "--json", env={"PIP_RETRIES": "1"}, timeout=300)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    err = _json_error(r.stdout)
    assert r.returncode == EXIT_CODES["index-error"] == 21, r.stdout
    assert err["reason"] == "index-error"
    assert "failed: HTTP 503 for the page of demo; pip retried it 1 time(s)" in str(err["message"])
    assert _leaks(SECRET, [tmp_path, hermetic_pip], [r.stdout, r.stderr]) == []


def test_nobody_listening_is_unreachable_not_a_missing_package(tmp_path: Path, hermetic_pip: Path) -> None:
    r = run_cli("build", str(_source(tmp_path)), "-o", str(tmp_path / "a.tar.gz"),
                "--index-url", f"http://127.0.0.1:{free_port()}/simple/", env={"PIP_RETRIES": "0"}, timeout=300)
    assert r.returncode == 19 and "is unreachable: connection refused" in r.stderr, r.stderr
    assert "may not exist" not in r.stderr


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    import shutil
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("openssl (the CLI) is needed to make a self-signed certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def test_an_untrusted_certificate_is_a_tls_error_naming_the_ca_settings(tmp_path: Path, hermetic_pip: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import ssl

    # requests lets these win over PIP_CERT: a machine that sets them must put the CA there instead.
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)

    from tests.wheelhouse import LoopbackIndex

    cert, key = _self_signed(tmp_path)
    make_wheel(tmp_path / "files", "demo", "1.0")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    src = _source(tmp_path)
    with LoopbackIndex(tmp_path / "files") as idx:
        idx._server.socket = ctx.wrap_socket(idx._server.socket, server_side=True)
        url = idx.url.replace("http://", f"https://{USER}:{SECRET}@")
        r = run_cli("build", str(src), "-o", str(tmp_path / "a.tar.gz"), "--index-url", url, "--json",
                    env={"PIP_RETRIES": "0"}, timeout=300)
        # The hint's way out works: trust the index's CA through PIP_CERT.
        ok = run_cli("build", str(src), "-o", str(tmp_path / "b.tar.gz"), "--index-url", url,
                     env={"PIP_CERT": str(cert)}, timeout=300)
    err = _json_error(r.stdout)
    assert r.returncode == EXIT_CODES["index-tls"] == 20, r.stdout
    assert err["reason"] == "tls" and "TLS verification with the package index failed" in str(err["message"])
    assert "PIP_CERT" in str(err["hint"]) and "SSL_CERT_FILE" in str(err["hint"])
    assert ok.returncode == 0, ok.stderr
    assert _leaks(SECRET, [tmp_path / "a.tar.gz", tmp_path / "b.tar.gz", hermetic_pip],
                  [r.stdout, r.stderr, ok.stdout, ok.stderr]) == []


def test_credentials_from_keyring_through_pips_keyring_provider(tmp_path: Path, index: PrivateIndex,
                                                                hermetic_pip: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """pip's `--keyring-provider subprocess` with a stand-in `keyring` CLI on PATH (no keyring daemon here)."""
    import inspect
    import os
    import sys

    from pip._internal.network import auth

    if "--mode=creds" not in inspect.getsource(auth):
        pytest.skip("this pip's keyring CLI provider needs a user name in the URL (pip < 25)")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "keyring"
    password_file = tmp_path / "keyring-password"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        f"pw = open({str(password_file)!r}).read()\n"
        "args = sys.argv[1:]\n"
        "if '--mode=creds' in args:\n"  # pip >= 25: keyring >= 25.2.1 CLI
        f"    print(json.dumps({{'username': {USER!r}, 'password': pw}}))\n"
        "elif args[:1] == ['get']:\n"  # older pip: keyring get SERVICE USER
        "    print(pw)\n"
        "else:\n"
        "    sys.exit(1)\n"
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("PIP_KEYRING_PROVIDER", "subprocess")
    monkeypatch.setenv("HOME", str(tmp_path))  # no netrc
    src = _source(tmp_path)
    # No user name in the URL: pip >= 25 asks keyring for user and password after the 401. (With `ci@`
    # pip sends an empty password first, and pypiserver's 403 for it never reaches pip's keyring step.)
    url = index.url()
    password_file.write_text(SECRET)
    r = run_cli("build", str(src), "-o", str(tmp_path / "a.tar.gz"), "--index-url", url, "--json", timeout=300)
    assert r.returncode == 0, r.stderr
    password_file.write_text(WRONG)
    w = run_cli("build", str(src), "-o", str(tmp_path / "b.tar.gz"), "--index-url", url, "--json",
                "--cache-dir", str(tmp_path / "fresh"), timeout=300)
    assert w.returncode == 18 and _json_error(w.stdout)["reason"] == "auth", w.stdout
    assert _leaks(SECRET, [tmp_path / "a.tar.gz", hermetic_pip, tmp_path / "fresh"],
                  [r.stdout, r.stderr, w.stdout, w.stderr]) == []


def test_classify_names_every_index_asked_and_puts_what_to_fix_first() -> None:
    from packager.deps.indexes import Probe, classify
    from packager.errors import IndexAuthError, IndexServerError, ProjectNotOnIndex

    a, b = "https://****@a.example/simple/", "https://b.example/simple/"
    missing = classify([Probe(a, "nosuch", 404, None, "", True, 5), Probe(b, "nosuch", 404, None, "", False, 5)],
                       where="requirements.txt")
    assert isinstance(missing, ProjectNotOnIndex) and missing.exit_code == 22
    assert missing.message == f"nosuch is not on the package indexes {a} and {b} (HTTP 404 for its page)"
    # One index refuses us, the other lacks the project: the credentials are what to fix.
    auth = classify([Probe(a, "demo", 401, None, "", False, 5), Probe(b, "demo", 404, None, "", False, 5)],
                    where="requirements.txt")
    assert isinstance(auth, IndexAuthError) and auth.where == a
    assert "requires credentials (HTTP 401) and none were found" in auth.message
    # A project one index serves explains nothing about a failure: no index error then.
    assert classify([Probe(a, "demo", 200, None, "", True, 5), Probe(b, "demo", 503, None, "", False, 5)],
                    where="requirements.txt") is None
    # The cause of an unreachable index, from what requests/urllib3 said.
    dns = classify([Probe(b, "demo", None, "unreachable", "NameResolutionError(... [Errno -2] Name or service "
                          "not known)", False, 5)], where="requirements.txt")
    assert dns is not None and dns.exit_code == 19 and dns.details["cause"] == "the host name does not resolve (DNS)"
    slow = classify([Probe(b, "demo", None, "unreachable", "ConnectTimeoutError(... timed out)", False, 5)],
                    where="requirements.txt")
    assert slow is not None and "is unreachable: the connection timed out" in slow.message
    bad_gateway = classify([Probe(a, "demo", 502, None, "", True, 5)], where="requirements.txt")
    assert isinstance(bad_gateway, IndexServerError) and bad_gateway.details["retried"] is False
    assert "pip did not retry it (pip retries only HTTP 500, 503, 520 and 527)" in bad_gateway.message


def test_redaction_and_credentials_for(tmp_path: Path) -> None:
    from packager.deps.indexes import credentials_for
    from packager.errors import FetchError

    err = FetchError(f"GET https://ci:{SECRET}@h.example/simple/x/ failed", where=f"http://u:{SECRET}@h/",
                     details={"urls": [f"https://ci:{SECRET}@h.example/"]})
    assert SECRET not in json.dumps(err.to_dict()) and "https://****@h.example/simple/x/" in err.message
    idx = [f"https://ci:{SECRET}@h.example:8443/simple/"]
    assert credentials_for("https://h.example:8443/packages/x.whl", idx, {"HOME": str(tmp_path)}) == (USER, SECRET)
    # Another port or host never gets them.
    assert credentials_for("https://h.example/packages/x.whl", idx, {"HOME": str(tmp_path)}) is None
    assert credentials_for("https://evil.example:8443/x.whl", idx, {"HOME": str(tmp_path)}) is None
    (tmp_path / "n").write_text(f"machine h.example login {USER} password {SECRET}\n")
    assert credentials_for("https://h.example/x.whl", idx, {"NETRC": str(tmp_path / "n")}) == (USER, SECRET)
