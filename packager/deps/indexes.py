"""Package indexes: credentials from the build machine, redaction, and failure diagnosis.

pip hides why an index page could not be read (a 401, a refused connection and
a missing project all end as "no matching distribution"), so when a pip run
fails this module asks the indexes itself, through pip's own session (its
configuration, netrc, keyring, certificates and proxies apply: see
``packager.deps._pipshim probe``), and turns the answer into the error it really is.

Credentials only ever come from the build machine (flags, IGNITE_INDEX_URL,
PIP_INDEX_URL / PIP_EXTRA_INDEX_URL, pip's config, ~/.netrc or $NETRC, keyring)
and are never written anywhere: every URL that is shown is redacted first.
"""

from __future__ import annotations

import json
import netrc
import os
import re
import subprocess
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

from packaging.utils import canonicalize_name

from packager.deps.piprun import IndexConfig, run_pip
from packager.deps.profile import TargetProfile
from packager.errors import (
    IndexAuthError,
    IndexFailure,
    IndexServerError,
    IndexTLSError,
    IndexUnreachable,
    ProjectNotOnIndex,
    redact,
)
from packager.records import record

CREDENTIAL_SOURCES = (
    "credentials are read on the build machine only, from: user:token@ in --index-url / --extra-index-url "
    "or IGNITE_INDEX_URL, PIP_INDEX_URL / PIP_EXTRA_INDEX_URL, index-url in ignite.toml / [tool.ignite], "
    "pip's config file, ~/.netrc (or the file $NETRC names), or keyring (pip's --keyring-provider)"
)
#: The statuses pip's session retries (pip/_internal/network/session.py: status_forcelist).
PIP_RETRIED_STATUSES = frozenset({500, 503, 520, 527})

def configured_index_urls(index: IndexConfig, environ: Optional[dict[str, str]] = None) -> list[str]:
    """The index URLs pip will use, as far as flags and the environment say (pip's config file aside)."""
    env = os.environ if environ is None else environ
    if index.offline:
        return []
    primary = index.index_url or env.get("PIP_INDEX_URL", "")
    extra = list(index.extra_index_urls) + env.get("PIP_EXTRA_INDEX_URL", "").split()
    return [u for u in [primary, *extra] if u]


def _netloc(url: str) -> tuple[str, Optional[int]]:
    parts = urllib.parse.urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return (parts.hostname or "").lower(), port


def credentials_for(url: str, index_urls: Sequence[str],
                    environ: Optional[dict[str, str]] = None) -> Optional[tuple[str, str]]:
    """Basic-auth credentials for *url*: an index URL's userinfo on the same host and port, else netrc.

    The same rule as pip's (per network location), so the in-process downloader
    sends what pip would send and nothing to any other host. A user name without
    a password is left to pip (its keyring support answers for it).
    """
    env = os.environ if environ is None else environ
    where = _netloc(url)
    for index_url in index_urls:
        parts = urllib.parse.urlsplit(index_url)
        if parts.username is not None and parts.password is not None and _netloc(index_url) == where:
            return urllib.parse.unquote(parts.username), urllib.parse.unquote(parts.password)
    path = env.get("NETRC") or str(Path(env.get("HOME") or Path.home()) / ".netrc")
    try:
        found = netrc.netrc(path).authenticators(where[0])
    except (OSError, netrc.NetrcParseError):
        return None
    if found and found[0] is not None:
        return found[0], found[2] or ""
    return None


@record
class Probe:
    """What one index said about one project page."""

    index: str  # redacted
    project: str
    status: Optional[int]
    #: "unreachable" | "tls" | "error" when no HTTP answer came; "probe" when asking failed here
    #: (never a diagnosis of the index)
    error: Optional[str]
    detail: str
    sent_credentials: bool
    retries: int


def probe(projects: Sequence[str], index: IndexConfig, profile: TargetProfile) -> list[Probe]:
    """Ask every index pip would use for each project's page, through pip's own session."""
    if index.offline or not projects:
        return []
    try:
        res = run_pip("probe", [*projects, "--", *index.pip_args()], profile, timeout=120)
    except (OSError, subprocess.SubprocessError):
        return []  # the probe's own failure (no fork, a full TMPDIR, a hang): pip's message stays the diagnosis
    out: list[Probe] = []
    for line in res.stdout.splitlines():
        try:
            d = json.loads(line)
            out.append(Probe(redact(str(d["index"])), str(d["project"]), d.get("status"), d.get("error"),
                             redact(str(d.get("detail", ""))), bool(d.get("sent_credentials")),
                             int(d.get("retries", 0))))
        except (ValueError, KeyError, TypeError):
            continue
    return out


def _cause(detail: str) -> str:
    low = detail.lower()
    if "refused" in low:
        return "connection refused"
    if "name or service not known" in low or "nodename nor servname" in low or "name resolution" in low \
            or "getaddrinfo" in low or "no address associated" in low:
        return "the host name does not resolve (DNS)"
    if "timed out" in low or "timeout" in low:
        return "the connection timed out"
    return detail.strip().splitlines()[-1][:300] if detail.strip() else "no answer"


def _which(items: Sequence[str]) -> str:
    """"the package index" when one is meant (``where`` names it), else every one of them."""
    uniq = list(dict.fromkeys(items))
    return "the package index" if len(uniq) == 1 else "the package indexes " + _names(uniq)


def _names(items: Sequence[str]) -> str:
    uniq = list(dict.fromkeys(items))
    return uniq[0] if len(uniq) == 1 else ", ".join(uniq[:-1]) + " and " + uniq[-1]


def classify(probes: Sequence[Probe], *, where: str) -> Optional[IndexFailure | ProjectNotOnIndex]:
    """The index failure behind a failed pip run, or None when every index answered for the project.

    Only projects no index served are looked at: a page one index has explains
    nothing about the failure. The order is the one a user must fix first:
    TLS, credentials, reachability, server errors, and only then "not found".
    """
    found = {p.project for p in probes if p.status is not None and 200 <= p.status < 300}
    bad = [p for p in probes if p.project not in found]
    if not bad:
        return None
    tls = [p for p in bad if p.error == "tls"]
    if tls:
        return IndexTLSError(
            f"TLS verification with {_which([p.index for p in tls])} failed: "
            f"{tls[0].detail.strip().splitlines()[-1][:300] if tls[0].detail.strip() else 'certificate not trusted'}",
            where=tls[0].index,
            hint=("trust the CA that signed the index's certificate: point PIP_CERT (pip's `cert` setting) "
                  "or SSL_CERT_FILE at a CA bundle that holds it (both apply to pip and to ignite-pack's own "
                  "downloads); REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE, when set, win over PIP_CERT in pip"),
            details={"indexes": sorted({p.index for p in tls})},
        )
    auth = [p for p in bad if p.status in (401, 403)]
    if auth:
        p = auth[0]
        sent = any(a.sent_credentials for a in auth)
        what = (f"refused the credentials (HTTP {p.status})" if sent
                else f"requires credentials (HTTP {p.status}) and none were found for it")
        return IndexAuthError(
            f"{_which([a.index for a in auth])} {what} for the page of {p.project}",
            where=p.index, hint=f"check the user name and token; {CREDENTIAL_SOURCES}",
            details={"indexes": sorted({a.index for a in auth}), "status": p.status, "sent_credentials": sent},
        )
    down = [p for p in bad if p.error in ("unreachable", "error")]
    if down:
        p = down[0]
        return IndexUnreachable(
            f"{_which([d.index for d in down])} is unreachable: {_cause(p.detail)}",
            where=p.index,
            hint="check the index URL, that the index is up, and the network/proxy settings "
                 "(HTTPS_PROXY, NO_PROXY) of this machine",
            details={"indexes": sorted({d.index for d in down}), "cause": _cause(p.detail)},
        )
    server = [p for p in bad if p.status is not None and p.status >= 500]
    if server:
        p = server[0]
        retried = p.status in PIP_RETRIED_STATUSES and p.retries > 0
        again = (f"pip retried it {p.retries} time(s) before giving up" if retried else
                 "pip did not retry it (pip retries only HTTP 500, 503, 520 and 527)" if p.status
                 not in PIP_RETRIED_STATUSES else "pip did not retry it (--retries 0)")
        return IndexServerError(
            f"{_which([s.index for s in server])} failed: HTTP {p.status} for the page of "
            f"{p.project}; {again}",
            where=p.index, hint="the index itself is failing: try again later, or ask its operators",
            details={"indexes": sorted({s.index for s in server}), "status": p.status, "retried": retried},
        )
    missing = [p for p in bad if p.status in (404, 410)]
    if missing:
        project = missing[0].project
        asked = [p.index for p in probes if p.project == project]
        if any(p.error == "probe" for p in probes if p.project == project):
            return None  # one index could not be asked: pip's own message stays the diagnosis
        return ProjectNotOnIndex(
            f"{project} is not on the package index" + ("es " if len(set(asked)) > 1 else " ") + _names(asked)
            + " (HTTP 404 for its page)",
            where=where,
            hint=f"check the project name in {where.split(':')[0] if where else 'requirements.txt'}; the package "
                 "may not exist, or it lives on "
                 "another index (add it with --extra-index-url)",
            details={"project": project, "indexes": list(dict.fromkeys(asked))},
        )
    return None


def diagnose(projects: Sequence[str], index: IndexConfig, profile: TargetProfile, *,
             where: str) -> Optional[IndexFailure | ProjectNotOnIndex]:
    """Probe the indexes for *projects* (at most three) and classify what they said."""
    names = list(dict.fromkeys(str(canonicalize_name(re.split(r"[\s\[<>=!~;@(]", p.strip(), maxsplit=1)[0]))
                               for p in projects if p.strip()))[:3]
    return classify(probe(names, index, profile), where=where)


def saw_no_versions(stderr: str) -> bool:
    """Did pip find no file at all (``from versions: none``)? Then the index itself may be the cause."""
    return "(from versions: none)" in stderr
