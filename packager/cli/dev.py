"""The local development loop's options: ``--env-file`` (invoke, serve) and ``serve SOURCE --watch``.

The watch loop itself (front proxy, launchers, watcher) is :mod:`packager.devserver`; this module
reads the flags, prints one line per rebuild and turns Ctrl-C into a clean exit 0.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional, TypeVar

import click

from packager.cli.output import info, report_error, warn
from packager.records import replace

F = TypeVar("F", bound=Callable[..., Any])

#: Set by the platform or by ignite-pack itself: an env file cannot change them.
_RESERVED = ("PORT", "IGNITE_HOST")


def env_file_option(fn: F) -> F:
    return click.option(
        "--env-file", "env_file", type=click.Path(path_type=Path, dir_okay=False), metavar="FILE",
        help="Set the function's environment from FILE (dotenv syntax: KEY=VALUE, quotes, # comments); "
             "values are never printed.",
    )(fn)


def env_from_file(env_file: Optional[Path]) -> dict[str, str]:
    """The variables of ``--env-file`` (none without it); PORT and IGNITE_HOST stay ignite-pack's."""
    if env_file is None:
        return {}
    from packager.envfile import load_env_file

    env = load_env_file(env_file)
    for key in _RESERVED:
        if env.pop(key, None) is not None:
            warn(f"{env_file}: {key} is ignored (ignite-pack sets it, as the platform does)")
    return env


#: serve's flags that only mean something with --watch (they are build flags), with their defaults.
_WATCH_ONLY = {"entry": (None, "--entry"), "convention": ("ignite", "--convention"), "init": (None, "--init"),
               "index_url": (None, "--index-url"), "extra_index_urls": ((), "--extra-index-url"),
               "wheelhouses": ((), "--wheelhouse"), "offline": (False, "--offline")}


def watch_options(fn: F) -> F:
    """``--watch`` and the build flags ``serve SOURCE --watch`` builds with (ignite.toml is read too)."""
    from packager.cli.options import entry_options, index_options

    opts = [
        click.option("--watch", is_flag=True,
                     help="SOURCE is a directory or handler.py: build it, serve it, and rebuild and swap "
                          "on every save (no request is refused or fails during a swap)."),
        index_options("--watch: "),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return entry_options(fn)


#: The launchers' start and stop lines, said once per swap by the rebuild line instead.
_LIFECYCLE = re.compile(rb"^\[ignite\] \w+ (listening on http|ready: imported|signal \d+: draining|stopped\s*$)")


def _launcher_line(line: bytes) -> None:
    """A line of a launcher's stderr: request logs, tracebacks and warnings pass; start/stop lines do not."""
    if not _LIFECYCLE.match(line):
        sys.stderr.buffer.write(line)
        sys.stderr.flush()


def serve_watch(ctx: click.Context, source: Path, *, host: str, port: int, env: dict[str, str],
                python_for: Callable[[Path], str]) -> None:
    """``serve SOURCE --watch`` until Ctrl-C (or SIGTERM): exit 0, no launcher or port left behind."""
    from packager.cli.buildrun import build_options
    from packager.cli.options import apply_config
    from packager.devserver import FrontProxy, Rebuild, Watcher, WatchSession
    from packager.errors import InvokeError, UsageError

    if not source.exists():
        from packager.errors import SourceError

        raise SourceError("source does not exist", where=str(source),
                          hint="pass the function's directory or its handler.py to serve --watch")
    if source.is_file() and not source.name.endswith(".py"):
        raise UsageError("--watch takes a source (a directory or handler.py), not an artifact or archive",
                         where=str(source), hint=f"serve {source} without --watch, or pass the source directory")
    from packager.cli.build import build as build_command

    p, config_path = apply_config(ctx, source)
    p.setdefault("resolver", os.environ.get("IGNITE_RESOLVER") or "auto")
    for param in build_command.params:  # build flags serve does not have: build's defaults
        if param.name and param.name not in p:  # (IGNITE_CACHE_DIR still applies to cache_dir=None)
            default = param.default  # a plain value, or None (click 8.2 marks "no default" with a sentinel)
            plain = isinstance(default, (str, int, float, tuple, Path))
            p[param.name] = () if getattr(param, "multiple", False) else default if plain else None
    # No shared cache tier: its upload runs once after a build, and a watch session builds on
    # every save and never ends that way (the local cache serves the rebuilds).
    options = replace(build_options(p, source, Path("artifact.tar.gz")), cache_tier=None)
    try:
        front = FrontProxy(host, port)
    except OSError as exc:
        raise InvokeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}", where="--port",
                          hint="pick another --port, or stop what is using it") from None
    session = WatchSession(front, options, python_for, env, stderr_lines=_launcher_line)
    front.start()
    if config_path:
        info(f"[watch] settings from {config_path}")
    info(f"[watch] serving {source} on http://{host}:{front.port}; rebuilding on every save (Ctrl-C to stop)")

    def line(r: Rebuild) -> None:
        what = ", ".join(r.changed[:3]) + (f" (+{len(r.changed) - 3} more)" if len(r.changed) > 3 else "")
        stamp = time.strftime("%H:%M:%S")
        if r.ok and r.import_error:
            info(f"[watch {stamp}] {what}: built in {r.build_seconds:.2f}s, but the handler failed to import "
                 f"({r.import_error[:200]}); requests get its 500 with the traceback (launcher pid {r.pid})")
            return
        if r.ok:
            info(f"[watch {stamp}] {what}: built in {r.build_seconds:.2f}s, swapped in {r.swap_seconds:.2f}s"
                 f" ({r.vendored} vendored); serving (launcher pid {r.pid})")
            return
        assert r.error is not None
        report_error(r.error)
        info(f"[watch {stamp}] {what}: FAILED in {r.build_seconds + r.swap_seconds:.2f}s "
             f"({r.error.where or r.error.code}); answering 503 until the next good save")

    def terminate(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    # watchfiles says "KeyboardInterrupt caught, stopping watch" on Ctrl-C; the "stopped" line says it.
    logging.getLogger("watchfiles").setLevel(logging.ERROR)
    watcher = Watcher(source)
    previous = {sig: signal.signal(sig, terminate) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        watcher.start()  # before the first build reads the source: no save is missed
        line(session.rebuild(("first build",)))
        while True:
            changed = watcher.next(timeout=1.0)
            if changed:
                line(session.rebuild(changed))
    except KeyboardInterrupt:
        pass
    finally:
        for sig in (signal.SIGINT, *previous):
            signal.signal(sig, signal.SIG_IGN)
        watcher.close()
        front.close()
        session.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    info("[watch] stopped")
    sys.stdout.flush()


def check_watch_only(ctx: click.Context) -> None:
    """Build flags given to ``serve ARTIFACT`` (without --watch) are a usage error, not silently ignored."""
    from packager.errors import UsageError

    for name, (default, flag) in _WATCH_ONLY.items():
        if ctx.params.get(name, default) not in (default, None, ()):
            raise UsageError(f"{flag} is a build flag: it needs --watch and a source",
                             where="serve", hint="rebuild the artifact with it, or use serve SOURCE --watch")
