"""uv's environment for every run of it (resolution, sdist finder, build isolation, prestart).

Apart from :mod:`packager.deps.uvresolve` so that :mod:`packager.prestart` can start uv
with exactly this environment before the resolver's imports (packaging, tomllib) are paid.
"""

from __future__ import annotations

import os

from packager.childenv import clean_env


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
