"""uv's environment and command line for every run of it (resolution, sdist finder, build isolation, prestart).

Apart from :mod:`packager.deps.uvresolve` so that :mod:`packager.prestart` can start uv
with exactly this environment before the resolver's imports (packaging, tomllib) are paid.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from packager.childenv import clean_env

#: typing and collections.abc only for the type checker: this module is imported before uv is started
#: (packager.prestart), and typing's import was ~3 ms of that wait.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Optional


def uv_settings() -> dict[str, str]:
    """What every uv run gets on top of the allow-listed environment: no uv configuration
    file, never a Python download, and pip's CA bundle (PIP_CERT) as uv's SSL_CERT_FILE."""
    env = {"UV_NO_CONFIG": "1", "UV_NO_PROGRESS": "1", "UV_PYTHON_DOWNLOADS": "never"}
    if os.environ.get("PIP_CERT"):
        env["SSL_CERT_FILE"] = os.environ["PIP_CERT"]
    return env


def uv_environment() -> dict[str, str]:
    """The whole environment of a uv run: the allow-list (packager.childenv.clean_env) plus :func:`uv_settings`."""
    return clean_env(uv_settings())


#: PIP_* variables that change nothing about where or how distributions are found.
HARMLESS_PIP_ENV = frozenset({
    "PIP_DISABLE_PIP_VERSION_CHECK", "PIP_NO_INPUT", "PIP_CACHE_DIR", "PIP_NO_CACHE_DIR", "PIP_DEFAULT_TIMEOUT",
    "PIP_PROGRESS_BAR", "PIP_ROOT_USER_ACTION", "PIP_NO_COLOR", "PIP_QUIET", "PIP_VERBOSE", "PIP_CONFIG_FILE",
    "PIP_CERT",  # passed to uv as SSL_CERT_FILE
})

#: pip takes the best version any index offers; uv by default only looks at the first index that
#: has the project ("first-index"). With --extra-index-url that can be another version: ask uv
#: for pip's behaviour.
PIPS_INDEX_STRATEGY = ["--index-strategy", "unsafe-best-match"]


def pip_variable_uv_would_miss(environ: Mapping[str, str]) -> Optional[str]:
    """The first PIP_* variable (sorted) that would make uv see other indexes than pip, if any."""
    return next((k for k in sorted(environ) if k.startswith("PIP_") and k not in HARMLESS_PIP_ENV
                 and environ[k]), None)


def uv_platform(best_tag: str, machine: str) -> str:
    """uv's ``--python-platform`` for a profile's best platform tag: ``manylinux_2_36_x86_64`` ->
    ``x86_64-manylinux_2_36``."""
    if best_tag.startswith("manylinux_") and best_tag.endswith("_" + machine):
        return f"{machine}-{best_tag[:-len(machine) - 1]}"
    return f"{machine}-unknown-linux-gnu"


def index_args(index_url: Optional[str], extra_index_urls: Sequence[str], find_links: Sequence[str] = (),
               offline: bool = False) -> list[str]:
    """The indexes and find-links in pip's spelling, which uv shares."""
    args = ["--no-index"] if offline else [*(["--index-url", index_url] if index_url else []),
                                           *(a for url in extra_index_urls for a in ("--extra-index-url", url))]
    return args + find_links_args(find_links)


def find_links_args(find_links: Sequence[str]) -> list[str]:
    """``--find-links`` for each of *find_links*, in order (pip's spelling, which uv shares)."""
    return [a for fl in find_links for a in ("--find-links", fl)]


def target_options(python_full_version: str, platform: str, indexes: Sequence[str]) -> list[str]:
    """The target's version and platform, pip's index strategy, and the indexes (:func:`index_args`)."""
    return ["--python-version", python_full_version, "--python-platform", platform, *PIPS_INDEX_STRATEGY,
            *indexes]


def wheel_options(python_full_version: str, platform: str, indexes: Sequence[str],
                  find_links: Sequence[str]) -> list[str]:
    """A resolution's options: :func:`target_options`, wheels only, and the *find_links* (the cache's
    built wheels, the stubs) after the indexes'."""
    return [*target_options(python_full_version, platform, indexes), "--only-binary", ":all:",
            *find_links_args(find_links)]


def compile_argv(uv: str, work: Path, cache_dir: Path, options: Sequence[str], constraints: bool) -> list[str]:
    """``uv pip compile --format pylock.toml`` of ``work/requirements.in`` into ``work/pylock.toml``
    (with ``work/constraints.txt`` when *constraints*), for this interpreter."""
    argv = [uv, "pip", "compile", "--no-config", "--no-progress", "--no-header", "--format", "pylock.toml",
            "-o", str(work / "pylock.toml"), str(work / "requirements.in"), "--cache-dir", str(cache_dir),
            "--python", sys.executable, *options]
    return [*argv, "-c", str(work / "constraints.txt")] if constraints else argv
