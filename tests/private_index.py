"""A real pypiserver behind basic auth (htpasswd via passlib), on 127.0.0.1, for one test.

Started by the test on a free port, waited for with a bound, stopped by the
test (terminate, then kill): what a company's private index looks like.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

USER = "ci"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateIndex:
    """``with PrivateIndex(packages, tmp, password) as idx:`` -> ``idx.url(password)``."""

    def __init__(self, packages: Path, workdir: Path, password: str, port: Optional[int] = None,
                 open_access: bool = False) -> None:
        from passlib.apache import HtpasswdFile

        self.packages, self.password, self.open_access = packages, password, open_access
        self.port = port or free_port()
        self.htpasswd = workdir / "htpasswd"
        ht = HtpasswdFile(str(self.htpasswd), new=True)
        ht.set_password(USER, password)
        ht.save()
        self.log = workdir / "pypiserver.log"
        self._proc: Optional[subprocess.Popen[bytes]] = None

    def url(self, password: Optional[str] = None, user: str = USER) -> str:
        auth = f"{user}:{password}@" if password is not None else ""
        return f"http://{auth}127.0.0.1:{self.port}/simple/"

    def start(self) -> PrivateIndex:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "pypiserver", "run", "-i", "127.0.0.1", "-p", str(self.port),
             *(["-P", ".", "-a", "."] if self.open_access else
               ["-P", str(self.htpasswd), "-a", "download,list,update"]),
             "--disable-fallback", str(self.packages)],
            stdout=self.log.open("wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError("pypiserver exited: " + self.log.read_text(errors="replace")[-2000:])
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("pypiserver did not open its port in 30 s")

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=10)

    def __enter__(self) -> PrivateIndex:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
