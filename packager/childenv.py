"""The environment every subprocess gets: an allow-list of ours, never the whole of it; and its TMPDIR's name.

Apart from :mod:`packager.runtime` (which re-exports :func:`clean_env`) so that
:mod:`packager.prestart` can start uv with it before anything else is imported.
"""

from __future__ import annotations

import os

#: typing and collections.abc only for the type checker: this module is imported before uv is started
#: (packager.prestart), and typing's import was ~3 ms of that wait.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

#: What a subprocess (pip, a build backend, a probe of an interpreter) inherits from our environment.
_KEEP = {
    "PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TEMP", "TMP", "TZ",
    "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
    "SOURCE_DATE_EPOCH", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "SYSTEMROOT",
    # Index credentials on the build machine: netrc and keyring (pip reads both).
    "NETRC", "PYTHON_KEYRING_BACKEND", "XDG_DATA_HOME",
}


def clean_env(extra: Optional[dict[str, str]] = None) -> dict[str, str]:
    """The environment for every subprocess: an allow-list, not the caller's whole env."""
    env = {k: v for k, v in os.environ.items() if k in _KEEP or k.startswith("PIP_")}
    env["PYTHONHASHSEED"] = "0"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_INPUT"] = "1"
    env.update(extra or {})
    return env


#: The private TMPDIR of an ignite-pack run (packager.runtime.children_tmp), and of what
#: packager.prestart starts before it: ``ignite-tmp-<pid>-<host>-*``, removed at exit, or by the
#: next run on this host once that process is gone (packager.runtime.sweep_stale_tmp).
PRIVATE_TMP = "ignite-tmp-"


def private_tmp_prefix() -> str:
    """This process's private temp directories' name prefix (see :data:`PRIVATE_TMP`)."""
    return f"{PRIVATE_TMP}{os.getpid()}-{host_label()}-"


def host_label() -> str:
    """This host's name as a file name part: a TMPDIR shared by containers (other PID namespaces)
    must not lose a running build's directory because its pid means nothing here."""
    return "".join(c for c in uname()[0] if c.isalnum())[:32] or "host"


def uname() -> tuple[str, str]:
    """(node, machine): ``os.uname()`` where it exists, which is what ``platform`` reads on POSIX
    (importing ``platform`` was ~1.3 ms of a build's start without click), else ``platform``'s."""
    if hasattr(os, "uname"):
        u = os.uname()
        return u.nodename, u.machine
    import platform

    return platform.node(), platform.machine()
