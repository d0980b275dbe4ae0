"""Run pip or pip-compile with PEP 508 markers evaluated for the *target*.

pip's ``--python-version``/``--platform`` choose wheel tags but still evaluate
``; python_version < "3.12"`` markers against the interpreter running pip. This
shim swaps packaging's default marker environment for the target's (passed as
JSON in IGNITE_TARGET_MARKERS) before handing over to pip or pip-tools, so a
3.11 host resolves exactly what a 3.12 target needs.

It also skips, before pip parses them, the wheels on a JSON project page that the
target cannot use (see :func:`_patch_link_parsing`); ``IGNITE_PIP_PLAIN=1`` runs pip
without that, to compare.

Usage: python -m packager.deps._pipshim {pip|compile|probe|sdist} ARGS...
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Callable, Optional


def _patch(env: dict[str, str]) -> None:
    import packaging.markers as upstream
    from pip._vendor.packaging import markers as vendored

    for mod in (vendored, upstream):
        original: Callable[[], dict[str, Any]] = mod.default_environment

        def target(original: Callable[[], dict[str, Any]] = original) -> dict[str, Any]:
            d = dict(original())
            d.update(env)
            return d

        mod.default_environment = target  # type: ignore[assignment,attr-defined]


def _patch_target_python(spec: dict[str, Any]) -> None:
    """Make pip's default TargetPython the target's, for callers (pip-tools) that build
    a PackageFinder without passing ``--platform``/``--python-version`` through."""
    from pip._internal.models.target_python import TargetPython

    original_init = TargetPython.__init__
    version = tuple(int(x) for x in spec["python_version"].split("."))

    def init(self: Any, platforms: Any = None, py_version_info: Any = None, abis: Any = None,
             implementation: Any = None) -> None:
        original_init(
            self,
            platforms=platforms if platforms is not None else list(spec["platforms"]),
            py_version_info=py_version_info if py_version_info is not None else version,
            abis=abis if abis is not None else list(spec["abis"]),
            implementation=implementation if implementation is not None else spec["implementation"],
        )

    TargetPython.__init__ = init  # type: ignore[method-assign]

    # pip-tools builds its resolver without py_version_info, and pip then checks
    # Requires-Python against the *host*: a 3.11 host would never pick a release
    # that needs >=3.12. Default it to the target too.
    from pip._internal.cli.req_command import RequirementCommand

    original_make_resolver = RequirementCommand.make_resolver.__func__  # type: ignore[attr-defined]

    def make_resolver(cls: Any, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("py_version_info") is None:
            kwargs["py_version_info"] = version
        return original_make_resolver(cls, *args, **kwargs)

    RequirementCommand.make_resolver = classmethod(make_resolver)  # type: ignore[method-assign,assignment]


def wheel_may_fit(filename: str, tags: frozenset[str]) -> bool:
    """False only when none of the wheel's (compressed) tags is in ``tags`` (``"py3-none-any"`` strings)."""
    parts = filename[:-4].lower().split("-")
    if len(parts) not in (5, 6):
        return True  # not a valid wheel name: pip says so itself
    py, abi, plat = parts[-3:]
    return any(f"{x}-{y}-{z}" in tags for x in py.split(".") for y in abi.split(".") for z in plat.split("."))


def _patch_link_parsing() -> None:
    """Skip wheels whose tags the target cannot use before pip builds a ``Link`` for each.

    A JSON project page lists every file ever uploaded (orjson: ~5,000 wheels, 2.3 MB);
    pip turns each into a ``Link`` (URL quoting, filename parsing) and only then rejects
    the ones with no supported tag. That was most of a cold resolution's CPU time.
    Dropping them first is exact: ``LinkEvaluator.evaluate_link`` rejects every wheel
    none of whose tags is in its target's supported set, whatever the other options, and
    that is the same set (the finder's own ``TargetPython``) used here. Wheels with a
    filename that does not parse are kept, so pip reports them as before.
    """
    import threading

    from pip._internal.index import package_finder as finder_module
    from pip._internal.models.link import Link

    package_finder: Any = finder_module
    original_parse = package_finder.parse_links
    original_process = package_finder.PackageFinder.process_project_url
    local = threading.local()
    tag_sets: dict[int, tuple[Any, frozenset[str]]] = {}

    def supported(target_python: Any) -> frozenset[str]:
        known = tag_sets.get(id(target_python))
        if known is None or known[0] is not target_python:
            tags = (target_python.get_unsorted_tags() if hasattr(target_python, "get_unsorted_tags")
                    else target_python.get_tags())
            known = tag_sets[id(target_python)] = (target_python, frozenset(str(t) for t in tags))
        return known[1]

    def parse_links(page: Any) -> Any:
        target_python = getattr(getattr(local, "evaluator", None), "_target_python", None)
        if target_python is None or not page.content_type.lower().startswith("application/vnd.pypi.simple.v1+json"):
            return original_parse(page)
        tags = supported(target_python)
        links = []
        for file in json.loads(page.content).get("files", []):
            name = file.get("filename", "")
            if name.endswith(".whl") and not wheel_may_fit(name, tags):
                continue
            link = Link.from_json(file, page.url)
            if link is not None:
                links.append(link)
        return links

    def process_project_url(self: Any, project_url: Any, link_evaluator: Any) -> Any:
        local.evaluator = link_evaluator
        try:
            return original_process(self, project_url, link_evaluator)
        finally:
            local.evaluator = None

    package_finder.parse_links = parse_links
    package_finder.PackageFinder.process_project_url = process_project_url


def _try_patch_link_parsing() -> None:
    """The speed-up is optional: a pip whose internals moved runs unpatched (same answer, slower)."""
    try:
        _patch_link_parsing()
    except (ImportError, AttributeError):
        pass


def _probe(argv: list[str]) -> int:
    """``probe PROJECT... -- PIP-ARGS``: GET each index's page of each project with pip's own session.

    pip's configuration, credentials (URL userinfo, netrc, keyring), certificates
    and proxies apply exactly as in the failed run. One JSON line per (index,
    project) on stdout; nothing is retried, so a dead index answers at once.
    """
    import re

    from pip._internal.commands import create_command
    from pip._vendor import requests

    sep = argv.index("--")
    projects, pip_args = argv[:sep], argv[sep + 1:]
    cmd: Any = create_command("download")  # a SessionCommandMixin: has _build_session (pip >= 20)
    options, _ = cmd.parse_args(pip_args)
    session = cmd._build_session(options, retries=0, timeout=min(int(options.timeout or 15), 30))
    if getattr(session, "auth", None) is not None:
        session.auth.prompting = False
    urls = [] if options.no_index else [options.index_url, *options.extra_index_urls]
    for url in urls:
        if url.startswith("file:"):  # read from the disk
            for project in projects:
                for local in _local_rows([url], [], project):
                    print(json.dumps(local), flush=True)
            continue
        for project in projects:
            page = url.rstrip("/") + "/" + project + "/"
            row: dict[str, Any] = {"index": url, "project": project, "status": None, "error": None,
                                   "detail": "", "sent_credentials": False, "retries": int(options.retries or 0)}
            try:
                resp = session.get(page, headers={"Accept": "text/html", "Cache-Control": "max-age=0"})
                row["status"] = resp.status_code
                row["sent_credentials"] = "Authorization" in resp.request.headers
            except requests.exceptions.SSLError as exc:
                found = re.search(r"\[SSL: [A-Z_]+\][^'\"()<>]*", str(exc))
                row["error"], row["detail"] = "tls", found.group(0).strip() if found else str(exc)
            except requests.exceptions.RetryError as exc:
                m = re.search(r"too many (\d{3}) error responses", str(exc))
                row["status"] = int(m.group(1)) if m else None
                row["error"] = None if m else "error"
                row["detail"] = str(exc)
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
                row["error"], row["detail"] = "unreachable", str(exc)
            except Exception as exc:  # a probe never fails the build on its own
                # pip >= 24.x wraps TLS failures in its own diagnostic error (SSLVerificationError).
                text = f"{exc} {exc!r}"
                ssl_reason = re.search(r"\[SSL: [A-Z_]+\][^'\"()<>]*", text)
                if ssl_reason or "SSL" in type(exc).__name__:
                    row["error"], row["detail"] = "tls", ssl_reason.group(0).strip() if ssl_reason else text
                elif isinstance(exc, (AttributeError, TypeError, KeyError, NameError, ImportError,
                                      AssertionError)):
                    # The probe's own failure (a bug, a pip it does not know) says nothing about
                    # the index: never a diagnosis.
                    row["error"], row["detail"] = "probe", text
                else:  # pip's errors (ConnectionFailedError, ...), requests', OSError
                    row["error"], row["detail"] = "error", text
            print(json.dumps(row), flush=True)
    for project in projects:  # find-links directories, last (they add to the indexes)
        for local in _local_rows([], list(options.find_links or ()), project):
            print(json.dumps(local), flush=True)
    return 0


def _local_rows(urls: list[str], find_links: list[str], project: str) -> list[dict[str, Any]]:
    """What the local indexes (``file://``) and find-links directories say about *project*.

    A ``file://`` index is read as pip reads it (``<root>/<project>/``, its index.html): 200
    when the project's page is there, 404 when not, "unreachable" when the index's directory
    itself is missing. A find-links directory answers 200 when it holds a file of the project,
    404 when not; one that does not exist is left out (pip ignores it too).
    """
    from packaging.utils import canonicalize_name
    from pip._internal.utils.urls import url_to_path

    rows: list[dict[str, Any]] = []

    def row(where: str, status: Optional[int], error: Optional[str] = None, detail: str = "") -> None:
        rows.append({"index": where, "project": project, "status": status, "error": error, "detail": detail,
                     "sent_credentials": False, "retries": 0})

    for url in urls:
        if not url.startswith("file:"):
            continue
        try:
            root = url_to_path(url)
        except ValueError as exc:
            row(url, None, "probe", str(exc))
            continue
        if not os.path.isdir(root):
            row(url, None, "unreachable", f"no such directory: {root}")
            continue
        page = os.path.join(root, project)
        found = os.path.isfile(os.path.join(page, "index.html")) if os.path.isdir(page) else os.path.isfile(page)
        row(url, 200 if found else 404)
    for location in find_links:
        if "://" in location and not location.startswith("file:"):
            continue  # a find-links page on a server: pip's own error says enough
        try:
            path = url_to_path(location) if location.startswith("file:") else location
            names = os.listdir(path) if os.path.isdir(path) else None
        except (OSError, ValueError):
            names = None
        if names is None:
            continue
        row(location, 200 if any(_file_project(n) == canonicalize_name(project) for n in names) else 404)
    return rows


def _file_project(filename: str) -> Optional[str]:
    """The (normalized) project a wheel or sdist file name belongs to, or None."""
    from packaging.utils import canonicalize_name

    if filename.endswith(".whl"):
        return canonicalize_name(filename.split("-", 1)[0])
    for ext in (".tar.gz", ".zip", ".tar.bz2", ".tgz"):
        if filename.endswith(ext) and "-" in filename:
            return canonicalize_name(filename[: -len(ext)].rsplit("-", 1)[0])
    return None


def _sdist(argv: list[str]) -> int:
    """``sdist SPEC DEST -- PIP-ARGS``: download the sdist ``pip download --no-binary :all:`` would pick.

    pip's own finder and session choose and fetch the file (same candidate, same index
    settings and credentials), without what ``pip download`` adds: it prepares the sdist's
    metadata, which creates an isolated build environment and installs setuptools into
    it (~3 s) only to learn what the requirement line already says. Prints one JSON line
    ``{"path": ...}``; exit 3 when there is nothing to fetch (the caller then runs
    ``pip download`` for pip's own diagnosis).
    """
    import hashlib

    from pip._internal.cli.cmdoptions import make_target_python
    from pip._internal.commands import create_command
    from pip._vendor.packaging.requirements import Requirement

    sep = argv.index("--")
    (spec, dest), pip_args = argv[:sep], argv[sep + 1:]
    cmd: Any = create_command("download")
    options, _ = cmd.parse_args(["--no-binary=:all:", "--no-deps", *pip_args])
    session = cmd._build_session(options)
    finder = cmd._build_package_finder(options=options, session=session, target_python=make_target_python(options),
                                       ignore_requires_python=bool(options.ignore_requires_python))
    req = Requirement(spec)
    best = finder.find_best_candidate(req.name, req.specifier).best_candidate
    if best is None or best.link.is_wheel:
        return 3
    link = best.link
    path = os.path.join(dest, link.filename)
    os.makedirs(dest, exist_ok=True)
    digest = hashlib.new(link.hash_name) if link.hash_name else None
    with session.get(link.url_without_fragment, stream=True, timeout=float(options.timeout or 60)) as resp:
        resp.raise_for_status()
        with open(path, "wb") as out:
            for chunk in resp.iter_content(chunk_size=1 << 16):
                out.write(chunk)
                if digest:
                    digest.update(chunk)
    if digest and digest.hexdigest() != link.hash:
        os.unlink(path)
        return 3
    print(json.dumps({"path": path, "url": link.url_without_fragment}), flush=True)
    return 0


def main() -> int:
    tool, args = sys.argv[1], sys.argv[2:]
    _patch(json.loads(os.environ["IGNITE_TARGET_MARKERS"]))
    if os.environ.get("IGNITE_TARGET_TAGS"):
        _patch_target_python(json.loads(os.environ["IGNITE_TARGET_TAGS"]))
    if tool in ("pip", "compile") and not os.environ.get("IGNITE_PIP_PLAIN"):
        _try_patch_link_parsing()
    if tool == "pip":
        from pip._internal.cli.main import main as pip_main

        return int(pip_main(args) or 0)
    if tool == "compile":
        from piptools.scripts.compile import cli

        try:
            cli.main(args=args, prog_name="pip-compile", standalone_mode=True)
        except SystemExit as exc:
            return int(exc.code or 0)
        return 0
    if tool == "probe":
        return _probe(args)
    if tool == "sdist":
        try:
            return _sdist(args)
        except Exception as exc:  # the caller falls back to `pip download`, which explains
            print(f"sdist: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 3
    raise SystemExit(f"unknown tool {tool!r}")


if __name__ == "__main__":
    sys.exit(main())
