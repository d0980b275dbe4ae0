"""The ``ignite_function`` pytest fixture, loaded through the ``pytest11`` entry point (no import needed).

::

    def test_hello(ignite_function):
        fn = ignite_function("src")                 # build (warm cache) and start, once per session
        r = fn.invoke({"name": "world"})            # POST / with a JSON body
        assert r.status == 200 and r.json() == {"hello": "world"}

``ignite_function(source=".", *, env=None, **build_options)``: *source* is relative to the directory
pytest was started in; *build_options* are :class:`packager.options.BuildOptions` fields (``entry``
as ``"module:function"``, ``convention``, ``profile``, ``lock``, ``cache_dir``, ...) plus the index
settings ``index_url``, ``extra_index_urls``, ``wheelhouses`` and ``offline``; *env* is the
function's environment. The same source and options share one build and one launcher for the whole
session; every launcher is stopped at the session's end. A handler's exception is a 500 response,
not an exception, so tests can assert on it. Nothing is imported until the fixture is used.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Callable, Optional, Union

import pytest

if TYPE_CHECKING:
    from packager.artifact.manifest import Manifest
    from packager.devserver import Backend


class Response:
    """What the function answered: ``status``, ``headers`` (lower-case names), ``body`` (bytes)."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.body[:200]!r}>"


class IgniteFunction:
    """One running launcher of one build."""

    def __init__(self, backend: Backend, log: IO[bytes]) -> None:
        self._backend, self._log = backend, log
        self.port: int = backend.port
        self.url = f"http://127.0.0.1:{backend.port}"
        self.manifest: Manifest = backend.manifest

    def invoke(self, payload: Union[bytes, str, Any, None] = None, *, method: str = "POST", path: str = "/",
               headers: Optional[dict[str, str]] = None, timeout: float = 300.0) -> Response:
        """Send one request. bytes go as they are, str as UTF-8, anything else as JSON (None: no body).
        Without a Content-Type header, one is chosen as ``ignite-pack invoke`` does."""
        from packager.invoke import default_content_type, request

        if payload is None:
            body = b""
        elif isinstance(payload, bytes):
            body = payload
        elif isinstance(payload, str):
            body = payload.encode("utf-8")
        else:
            body = json.dumps(payload).encode("utf-8")
        hdrs = dict(headers or {})
        if body and not any(k.lower() == "content-type" for k in hdrs):
            hdrs["Content-Type"] = default_content_type(body)
        r = request(self.port, method.upper(), path, body=body or None, headers=hdrs, timeout=timeout)
        return Response(r.status, dict(r.headers), r.body)

    def logs(self) -> str:
        """The launcher's output so far (its request log, the handler's prints and tracebacks)."""
        self._log.flush()
        with open(self._log.name, "rb") as f:
            return f.read().decode("utf-8", "replace")


_INDEX_KEYS = ("index_url", "extra_index_urls", "wheelhouses", "offline")


class IgniteFunctions:
    """The session's builds and launchers, keyed by source and options."""

    def __init__(self, root: Path, workdir: Path) -> None:
        self.root, self.workdir = root, workdir
        self._running: dict[str, IgniteFunction] = {}
        self._logs: list[IO[bytes]] = []

    def get(self, source: Union[str, Path] = ".", *, env: Optional[dict[str, str]] = None,
            **build_options: Any) -> IgniteFunction:
        path = (self.root / source).resolve()
        key = json.dumps([str(path), env, build_options], sort_keys=True, default=str)
        if key not in self._running:
            from packager.errors import IgniteError

            try:
                self._running[key] = self._start(path, env, build_options)
            except IgniteError as exc:  # a build or start-up error, as `ignite-pack build` words it
                pytest.fail(f"ignite_function({str(source)!r}): {exc}" + (f"\nhint: {exc.hint}" if exc.hint else ""),
                            pytrace=False)
        return self._running[key]

    def _start(self, source: Path, env: Optional[dict[str, str]], opts: dict[str, Any]) -> IgniteFunction:
        from packager.build import build
        from packager.deps.indexconfig import IndexConfig
        from packager.devserver import Backend
        from packager.errors import InvokeError
        from packager.options import BuildOptions
        from packager.source.checks import EntryPoint

        index = {k: opts.pop(k) for k in _INDEX_KEYS if k in opts}
        wheelhouses = tuple(self.root / w for w in index.get("wheelhouses", ()))
        if isinstance(opts.get("entry"), str):
            opts["entry"] = EntryPoint.parse(opts["entry"])
        out = self.workdir / f"build-{len(self._running) + 1}.tar.gz"
        options = BuildOptions(
            source=source, output=out, wheelhouses=wheelhouses,
            index=IndexConfig(index_url=index.get("index_url"),
                              extra_index_urls=tuple(index.get("extra_index_urls", ())),
                              find_links=tuple(str(w.resolve()) for w in wheelhouses),
                              offline=bool(index.get("offline", False))),
            **opts)
        result = build(options)
        log = tempfile.NamedTemporaryFile(  # noqa: SIM115 (open for the session; closed in close())
            prefix="launcher-", suffix=".log", dir=self.workdir, delete=False)
        self._logs.append(log)
        backend = Backend(out, _python(out, result.manifest, options), env, output=log)
        fn = IgniteFunction(backend, log)
        try:
            backend.wait_ready()
        except InvokeError as exc:
            backend.stop()
            raise InvokeError(exc.message, where=f"{source} (ignite_function)",
                              hint="the launcher's output:\n" + fn.logs()[-4000:]) from None
        except BaseException:
            backend.stop()
            raise
        return fn

    def close(self) -> None:
        for fn in self._running.values():
            fn._backend.stop()
        self._running.clear()
        for log in self._logs:
            log.close()


def _python(artifact: Path, manifest: Manifest, options: Any) -> str:
    """The target's CPython; the image runtime (cached venv with the preinstalled pins) when the
    artifact needs the image, by ``ignite-pack invoke --runtime auto``'s rule (invoke.image_needed_for)."""
    from packager.deps.profile import load_profile
    from packager.invoke import image_needed_for
    from packager.runtime import ensure_image_runtime, find_python

    py = find_python(str(manifest.target.get("python") or "3.12"))
    if image_needed_for(artifact, manifest) is None:
        return py
    profile = load_profile(str(manifest.target.get("profile") or "python3.12"))
    return ensure_image_runtime(py, {str(k): v for k, v in profile.preinstalled.items()}, profile.digest,
                                options.cache().root)


@pytest.fixture(scope="session")
def ignite_functions(request: pytest.FixtureRequest,
                     tmp_path_factory: pytest.TempPathFactory) -> Iterator[IgniteFunctions]:
    """Every launcher of the session (stopped at its end)."""
    registry = IgniteFunctions(Path(request.config.invocation_params.dir), tmp_path_factory.mktemp("ignite"))
    try:
        yield registry
    finally:
        registry.close()


@pytest.fixture
def ignite_function(ignite_functions: IgniteFunctions) -> Callable[..., IgniteFunction]:
    """``ignite_function(source=".", *, env=None, **build_options)`` -> a running function with ``invoke``."""
    return ignite_functions.get
