"""``ignite-pack invoke`` and ``serve``: run an artifact locally under its target's CPython (3.12, 3.13)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional

import click

from packager.cli.dev import (
    check_watch_only,
    env_file_option,
    env_from_file,
    serve_watch,
    watch_options,
)
from packager.cli.options import (
    check_profile,
    json_option,
    profile_check_option,
    python_option,
    run_cache_option,
    runtime_option,
)
from packager.cli.output import emit_json, info, progress, report_error, warn
from packager.errors import (
    HandlerFailed,
    IgniteError,
    RequestRefused,
    UsageError,
)
from packager.runtime import makes_temp_files


def _runtime_python(artifact: Path, python: Optional[str], runtime: str, cache_dir: Optional[Path] = None,
                    expected_profile: Optional[str] = None) -> tuple[str, str]:
    """The interpreter that runs ARTIFACT here and the runtime it is ("image" or "bare"): a CPython of
    the artifact's target version, on a host of its architecture (anything else is refused before a
    launcher starts). ``auto`` decides from the artifact alone, never from what the cache holds."""
    from packager.artifact.tarball import read_manifest
    from packager.cache import open_cache
    from packager.deps.profile import load_profile
    from packager.invoke import image_needed_for
    from packager.runtime import (
        check_runs_here,
        ensure_image_runtime,
        find_python,
    )

    manifest = read_manifest(artifact)
    check_profile(artifact, manifest.target, expected_profile)
    check_runs_here(manifest.target, str(artifact))
    py = find_python(str(manifest.target.get("python") or "3.12"), python)
    if runtime == "bare":
        return py, "bare"
    needs = image_needed_for(artifact, manifest) if runtime == "auto" else []
    if needs is None:
        return py, "bare"
    if needs:
        progress("runtime", f"{', '.join(needs[:4])} {'is' if len(needs) == 1 else 'are'} imported and not in "
                            "the artifact: running on the image runtime (--runtime bare to run without it)")
    try:
        profile = load_profile(str(manifest.target.get("profile") or "python3.12"))
    except IgniteError:
        profile = load_profile(None)
    cache = open_cache(cache_dir)
    if cache.degraded:
        warn(cache.degraded)
    return ensure_image_runtime(py, {str(k): v for k, v in profile.preinstalled.items()}, profile.digest, cache.root,
                                progress), "image"


def _failed(status: int, body: bytes, logs: str, runtime: str, artifact: Path) -> HandlerFailed:
    """The 5xx's error; a missing module names the runtime it ran on and how to switch."""
    from packager.invoke import RUNTIME_WORDS, missing_module

    hint = "the body above has the error and traceback; --logs shows the launcher's output"
    module = missing_module(body.decode("utf-8", "replace"), logs)
    details: dict[str, Any] = {"runtime": runtime}
    if module:
        details["missing_module"] = module
        top = module.split(".", 1)[0]
        where = f"ran on the {runtime} runtime ({RUNTIME_WORDS[runtime]})"
        hint = (f"No module named {module!r}: it {where}; --runtime image runs it with the image's packages, "
                f"or add {top} to requirements.txt" if runtime == "bare" else
                f"No module named {module!r}: it {where}, and neither has it: add {top} to requirements.txt "
                "(--runtime bare runs it without the image's packages)")
    return HandlerFailed(f"the function answered HTTP {status}", where=str(artifact), hint=hint, details=details)


def _read_payload(payload: Optional[str]) -> bytes:
    if payload is None:
        return b""
    if payload == "-":
        return sys.stdin.buffer.read()
    if payload.startswith("@"):
        return Path(payload[1:]).read_bytes()
    return payload.encode("utf-8")


@click.command()
@click.argument("artifact", type=click.Path(path_type=Path))
@click.option("-p", "--payload", metavar="DATA|@FILE|-", help="Request body (a string, @file, or - for stdin).")
@click.option("--path", "url_path", default="/", show_default=True, help="Request path (with a query string).")
@click.option("-X", "--method", default="POST", show_default=True,
              type=click.Choice(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"], case_sensitive=False),
              help="Request method (the convention decides which methods reach the handler).")
@click.option("-H", "--header", "headers", multiple=True, metavar="NAME: VALUE",
              help="Extra request header. Without a Content-Type, a payload is sent as "
                   "application/json when it parses as JSON, else as UTF-8 text or bytes.")
@click.option("--logs", is_flag=True, help="Show the launcher's output on stderr.")
@env_file_option
@runtime_option
@run_cache_option
@profile_check_option
@python_option
@json_option
@makes_temp_files
def invoke(artifact: Path, payload: Optional[str], url_path: str, method: str, headers: tuple[str, ...],
           logs: bool, env_file: Optional[Path], runtime: str, cache_dir: Optional[Path], profile: Optional[str],
           python: Optional[str], as_json: bool) -> None:
    """Run ARTIFACT under its target's CPython (3.12, 3.13), send one request (POST by default),
    print the response body.

    An artifact built for another architecture than this host's is refused (exit 12).
    """
    from packager.invoke import invoke as run_invoke

    hdrs: dict[str, str] = {}
    for h in headers:
        name, sep, value = h.partition(":")
        if not sep:
            raise UsageError(f"invalid header {h!r}", where="--header", hint="use 'Name: value'")
        hdrs[name.strip()] = value.strip()
    py, used = _runtime_python(artifact, python, runtime, cache_dir, expected_profile=profile)
    result = run_invoke(artifact, _read_payload(payload), py, path=url_path, method=method.upper(),
                        headers=hdrs, env=env_from_file(env_file))
    r = result.response
    if logs and not as_json:
        click.echo(result.logs, err=True, nl=False)
    if as_json:
        body: Any
        try:
            body = json.loads(r.body)
        except ValueError:
            body = r.body.decode("utf-8", "replace")
        emit_json({"ok": r.status < 400, "status": r.status, "headers": r.headers, "body": body,
                   "logs": result.logs, "runtime": used})
    else:
        sys.stdout.buffer.write(r.body)
        if not r.body.endswith(b"\n"):
            sys.stdout.buffer.write(b"\n")
        sys.stdout.flush()
    exc: Optional[IgniteError] = None
    if r.status >= 500:
        exc = _failed(r.status, r.body, result.logs, used, artifact)
    elif r.status >= 400:
        exc = RequestRefused(f"the function refused the request: HTTP {r.status}", where=str(artifact),
                             hint="the body above says why; check --payload, --path and --header "
                                  "(and the build's --convention)")
    if exc is not None:
        if not as_json:
            report_error(exc)
        sys.exit(exc.exit_code)


@click.command()
@click.argument("artifact", type=click.Path(path_type=Path))
@click.option("--port", type=int, default=8080, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@env_file_option
@watch_options
@runtime_option
@run_cache_option
@profile_check_option
@python_option
@click.pass_context
@makes_temp_files
def serve(ctx: click.Context, /, artifact: Path, port: int, host: str, env_file: Optional[Path], watch: bool,
          runtime: str, cache_dir: Optional[Path], profile: Optional[str], python: Optional[str], **_: Any) -> None:
    """Run ARTIFACT in the foreground until Ctrl-C (signals are passed to the launcher).

    With --watch, ARTIFACT is a source (a directory or handler.py) instead: it is built, served,
    and rebuilt and swapped in on every save (see the README's "Local development").
    """
    from packager.invoke import RUNTIME_WORDS, launcher_argv, launcher_env, unpacked

    env = env_from_file(env_file)
    if watch:
        serve_watch(ctx, artifact, host=host, port=port, env=env,
                    python_for=lambda a: _runtime_python(a, python, runtime, cache_dir)[0])
        return
    check_watch_only(ctx)
    py, used = _runtime_python(artifact, python, runtime, cache_dir, expected_profile=profile)
    with unpacked(artifact) as u:
        info(f"serving {artifact} on http://{host}:{port} (Ctrl-C to stop)")
        info(f"runtime {used}: {RUNTIME_WORDS[used]} (--runtime {'bare' if used == 'image' else 'image'} "
             "to switch)")
        proc = subprocess.Popen(launcher_argv(py), cwd=u.root, env=launcher_env(port, host, env))

        def forward(signum: int, _frame: Any) -> None:
            if proc.poll() is None:
                proc.send_signal(signum)

        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, forward)
        code = proc.wait()
    sys.exit(code if code >= 0 else 128 - code)
