"""The shared cache tier: the build cache's entries on S3-compatible object storage.

``--cache-url s3://BUCKET/PREFIX`` puts this tier behind the local cache
(:class:`packager.cache.Tier`): a local miss is looked up here before the index, and
what the build used is uploaded after it succeeded. Object keys mirror the local
cache (``resolutions/KEY.json``, ``segments/KEY.json`` + ``.bin``) under
``PREFIX/v1/``; wheels are content-addressed (``wheels/NAME/VERSION/SHA256/FILE``).
Every object is verified by the caller before use (cache.py, deps/fetch.py), so a
store can make a build slower, never wrong.

The client is boto3 (the ``s3`` extra): it reads the standard configuration
(``AWS_ENDPOINT_URL(_S3)``, the credential chain: environment, ``~/.aws`` files and
profiles, web identity/OIDC, container and instance roles; the region). A store that
cannot be used (unreachable, refused credentials, no bucket, a timeout) costs one
warning that names the URL (never a credential) and the build goes on without it.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from packager.cache import json_entry_data
from packager.errors import CacheError
from packager.records import record

#: layout version of the objects under the prefix (a new layout gets a new one)
LAYOUT = "v1"
INSTALL_HINT = "install the extra: pip install 'ignite-packager[s3]' (boto3)"


@record
class CacheURL:
    bucket: str
    prefix: str = ""

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    def key(self, rel: str) -> str:
        return "/".join(p for p in (self.prefix, LAYOUT, rel) if p)

    def store_id(self) -> str:
        """This store (endpoint, bucket, prefix) as a short digest, for local notes about it."""
        return hashlib.sha256(f"{endpoint_url() or ''}\n{self}".encode()).hexdigest()[:16]

    def rel(self, key: str) -> str:
        base = self.key("") + "/"
        return key[len(base):] if key.startswith(base) else key


def parse_cache_url(text: str) -> CacheURL:
    """``s3://BUCKET/PREFIX`` -> CacheURL; anything else a CacheError that never echoes a credential."""
    parts = urllib.parse.urlsplit(text.strip())
    if parts.scheme != "s3":
        raise CacheError("the shared cache URL must be s3://BUCKET/PREFIX", where="--cache-url",
                         hint="e.g. --cache-url s3://my-ci-cache/ignite; the endpoint comes from "
                              "AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL for stores other than AWS S3")
    if "@" in parts.netloc or parts.query or parts.fragment:
        raise CacheError("the shared cache URL must not carry credentials or options", where="--cache-url",
                         hint="give credentials the standard way (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
                              "AWS_PROFILE, a web identity role), never in the URL")
    if not parts.netloc:
        raise CacheError("the shared cache URL names no bucket", where="--cache-url",
                         hint="e.g. --cache-url s3://my-ci-cache/ignite")
    return CacheURL(parts.netloc, parts.path.strip("/"))


def endpoint_url() -> Optional[str]:
    """The endpoint the standard variables name (service-specific first), as boto3 reads it."""
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None


def shown_endpoint(ep: Optional[str] = None) -> str:
    """The endpoint for messages: scheme, host and port only (no userinfo, path or query)."""
    ep = ep or endpoint_url()
    if not ep:
        return "AWS S3"
    parts = urllib.parse.urlsplit(ep)
    host = parts.hostname or "?"
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


def require_client() -> None:
    """The s3 extra is installed, else a CacheError with the install hint (checked before any work)."""
    try:
        import boto3  # noqa: F401
        import botocore  # noqa: F401
    except ImportError:
        raise CacheError("--cache-url needs boto3, which is not installed", where="--cache-url",
                         hint=INSTALL_HINT) from None


def _client(timeout: float, pool: int) -> Any:
    import boto3
    from botocore.config import Config

    extra: dict[str, Any] = {}
    if endpoint_url():  # a self-hosted store (MinIO, SeaweedFS, Ceph): no virtual-hosted bucket names
        extra["s3"] = {"addressing_style": "path"}
    config = Config(connect_timeout=timeout, read_timeout=timeout * 3, max_pool_connections=pool,
                    retries={"total_max_attempts": 2, "mode": "standard"},
                    user_agent_extra="ignite-pack", **extra)
    return boto3.session.Session().client("s3", config=config)


def describe_failure(exc: BaseException) -> tuple[str, bool]:
    """(why, fatal) for an exception of the client: fatal ones turn the tier off for the build.

    Only error codes and class names are used, never the exception's text (a server may
    echo the access key id or the request in it).
    """
    from botocore.exceptions import (
        ClientError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        PartialCredentialsError,
        ReadTimeoutError,
    )

    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {}) if isinstance(exc.response, dict) else {}
        code = str(err.get("Code") or "")
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if code in ("NoSuchKey", "404", "NotFound"):
            return "not found", False
        if code == "NoSuchBucket":
            return "the bucket does not exist (NoSuchBucket)", True
        if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "ExpiredToken",
                    "InvalidToken", "403") or status in (401, 403):
            return f"the store refused the credentials ({code or status})", True
        return f"the store answered {code or status}", status >= 500 or status == 0
    if isinstance(exc, (ConnectTimeoutError, ReadTimeoutError)):
        return "timed out", True
    if isinstance(exc, EndpointConnectionError):
        return "unreachable (could not connect)", True
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return "no credentials found (environment, ~/.aws, web identity)", True
    return f"failed ({type(exc).__name__})", True


@dataclass
class TierStats:
    hits: int = 0
    misses: int = 0
    rejected: int = 0
    uploaded: int = 0
    uploaded_bytes: int = 0
    seconds_push: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"hits": self.hits, "misses": self.misses, "rejected": self.rejected,
                "uploaded": self.uploaded, "uploaded_bytes": self.uploaded_bytes,
                "seconds_push": round(self.seconds_push, 3)}


@dataclass
class S3Tier:
    """The tier on one bucket/prefix, for one build (or one housekeeping command)."""

    url: CacheURL
    push_enabled: bool = True
    timeout: float = 5.0
    workers: int = 8
    #: upload deadline after the build (seconds): what is left then stays for the next build
    push_deadline: float = 120.0
    stats: TierStats = field(default_factory=TierStats)
    _client_obj: Any = None
    _failure: Optional[str] = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _computed: dict[str, Path] = field(default_factory=dict)
    _used: dict[str, Path] = field(default_factory=dict)
    _present: set[str] = field(default_factory=set)
    _rejected: set[str] = field(default_factory=set)
    #: where this runner notes the entries it knows the store has (one empty file each, named by
    #: a hash of the key): a warm runner then neither asks the store nor even makes a client
    seen_dir: Optional[Path] = None
    _pushing: bool = False
    _failed_pushing: bool = False

    # -- life cycle -------------------------------------------------------------------------
    def _get_client(self) -> Any:
        with self._lock:
            if self._client_obj is None and self._failure is None:
                try:
                    self._client_obj = _client(self.timeout, max(self.workers * 2, 10))
                except Exception as exc:  # a broken ~/.aws/config, an unknown profile: the store is off
                    self._failure = f"not usable ({type(exc).__name__})"
            return self._client_obj

    @property
    def warning(self) -> Optional[str]:
        """The one warning of a store that could not be used (None while it works)."""
        if self._failure is None:
            return None
        if self._failed_pushing:
            return (f"shared cache {self.url} (endpoint {self._endpoint()}): the upload failed: {self._failure} "
                    "(the build succeeded; read-only credentials want --no-cache-push)")
        return (f"shared cache {self.url} (endpoint {self._endpoint()}) not used: {self._failure}; "
                "the build went on from the local cache and the index")

    def _endpoint(self) -> str:
        """The endpoint the client talks to (a profile's endpoint_url too), for messages."""
        meta = getattr(self._client_obj, "meta", None)
        return shown_endpoint(getattr(meta, "endpoint_url", None) if meta is not None else None)

    def _fail(self, exc: BaseException) -> bool:
        """Record a fatal failure (the first one only); False when *exc* is a plain miss."""
        why, fatal = describe_failure(exc)
        if fatal:
            with self._lock:
                if self._failure is None:
                    self._failure = why
                    self._failed_pushing = self._pushing
        return fatal

    def _call(self, fn: Callable[[Any], Any]) -> Any:
        """fn(client), or None on a miss or once the store failed (never raises)."""
        if self._failure is not None:
            return None
        client = self._get_client()
        if client is None:
            return None
        try:
            return fn(client)
        except Exception as exc:
            self._fail(exc)
            return None

    # -- the Tier protocol ----------------------------------------------------------------------
    def fetch(self, rel: str) -> Optional[bytes]:
        def get(c: Any) -> bytes:
            resp = c.get_object(Bucket=self.url.bucket, Key=self.url.key(rel))
            return bytes(resp["Body"].read())

        data = self._call(get)
        with self._lock:
            if data is None:
                self.stats.misses += 1
            else:
                self.stats.hits += 1
                self._present.add(rel)
        return data  # type: ignore[no-any-return]

    def listing(self, prefix: str) -> list[str]:
        return [rel for rel, _size, _mtime in self.objects(prefix)]

    def objects(self, prefix: str = "") -> list[tuple[str, int, float]]:
        """(rel, size, last-modified epoch) of every object under *prefix* ([] when the store failed)."""
        def scan(c: Any) -> list[tuple[str, int, float]]:
            out: list[tuple[str, int, float]] = []
            pages = c.get_paginator("list_objects_v2").paginate(Bucket=self.url.bucket, Prefix=self.url.key(prefix))
            for page in pages:
                for obj in page.get("Contents", ()):
                    out.append((self.url.rel(obj["Key"]), int(obj["Size"]), obj["LastModified"].timestamp()))
            return out

        return self._call(scan) or []

    def _marker(self, rel: str) -> Optional[Path]:
        if self.seen_dir is None:
            return None
        return self.seen_dir / self.url.store_id() / hashlib.sha256(rel.encode()).hexdigest()[:40]

    def _seen(self, rel: str) -> None:
        marker = self._marker(rel)
        if marker is not None:
            try:
                marker.parent.mkdir(parents=True, exist_ok=True)
                marker.touch()
            except OSError:  # a read-only cache: the next build asks the store again
                pass

    def record(self, rel: str, path: Path, computed: bool) -> None:
        marker = None if computed else self._marker(rel)
        if marker is not None and marker.exists():
            return  # the store had it when this runner last looked
        with self._lock:
            if computed:
                self._computed[rel] = path
                self._used.pop(rel, None)
            elif rel not in self._computed:
                self._used[rel] = path

    def rejected(self, rel: str) -> None:
        with self._lock:
            self.stats.rejected += 1
            self._present.discard(rel)
            self._rejected.add(rel)  # the build's good copy overwrites it (no HEAD: the bad one is there)

    # -- after the build ------------------------------------------------------------------------
    def push(self) -> TierStats:
        """Upload what the build computed, and what it read locally that the store lacks.

        In parallel (``workers``) and bounded by ``push_deadline``; bytes before the JSON
        that vouches for them, so a reader never finds metadata without its blob. Objects
        are whole-object PUTs under content-derived keys: concurrent writers of one key
        write the same bytes.
        """
        if self._failure is None:
            for rel in sorted(self._present):
                self._seen(rel)
        if not self.push_enabled or self._failure is not None:
            return self.stats
        start = time.monotonic()
        self._pushing = True
        with self._lock:
            todo = {rel: (p, True) for rel, p in self._computed.items()}
            todo.update({rel: (p, rel in self._rejected) for rel, p in self._used.items() if rel not in self._present})
        first = sorted(r for r in todo if not r.endswith(".json"))
        second = sorted(r for r in todo if r.endswith(".json"))
        pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="ignite-s3-push")
        try:
            for batch in (first, second):
                left = self.push_deadline - (time.monotonic() - start)
                futures = [pool.submit(self._push_one, rel, *todo[rel]) for rel in batch]
                _done, pending = wait(futures, timeout=max(left, 0.0))
                if pending or self._failure is not None:
                    break
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        self.stats.seconds_push = time.monotonic() - start
        return self.stats

    def _push_one(self, rel: str, path: Path, computed: bool) -> None:
        if self._failure is not None:
            return
        try:
            data = path.read_bytes()
        except OSError:
            return  # pruned meanwhile: the next build uploads it
        if not _verified(rel, path, data):
            return  # changed or damaged on this disk since the build read it: never uploaded
        if not computed:
            def exists(c: Any) -> bool:
                try:
                    c.head_object(Bucket=self.url.bucket, Key=self.url.key(rel))
                    return True
                except Exception as exc:
                    if self._fail(exc):
                        raise
                    return False

            there = self._call(exists)
            if there:
                self._seen(rel)
            if there is not False:
                return  # there already (or the store failed)

        def put(c: Any) -> bool:
            c.put_object(Bucket=self.url.bucket, Key=self.url.key(rel), Body=data)
            return True

        if self._call(put):
            self._seen(rel)
            with self._lock:
                self.stats.uploaded += 1
                self.stats.uploaded_bytes += len(data)

    # -- housekeeping ---------------------------------------------------------------------------
    def delete(self, rels: list[str]) -> int:
        """Delete objects (1000 a request); the number deleted."""
        done = 0
        for i in range(0, len(rels), 1000):
            chunk = rels[i:i + 1000]

            def rm(c: Any, chunk: list[str] = chunk) -> int:
                resp = c.delete_objects(Bucket=self.url.bucket, Delete={
                    "Objects": [{"Key": self.url.key(r)} for r in chunk], "Quiet": True})
                return len(chunk) - len(resp.get("Errors", ()))

            done += self._call(rm) or 0
        return done

    def check(self) -> None:
        """For the housekeeping commands: the store answers, else a CacheError (exit code)."""
        def head(c: Any) -> bool:
            c.head_bucket(Bucket=self.url.bucket)
            return True

        if not self._call(head):
            raise CacheError(f"shared cache {self.url} (endpoint {self._endpoint()}) cannot be used: "
                             f"{self._failure or 'no answer'}", where="--cache-url",
                             hint="check AWS_ENDPOINT_URL_S3, the credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID...) "
                                  "and the bucket name")


def _verified(rel: str, path: Path, data: bytes) -> bool:
    """Do *data* (read from *path*, to be uploaded as *rel*) pass the check a reader will make?"""
    parts = rel.split("/")
    if parts[0] in ("wheels", "built"):
        return len(parts) >= 5 and hashlib.sha256(data).hexdigest() == parts[3]
    try:
        if rel.endswith(".json"):
            json_entry_data(data)
            return True
        if rel.endswith(".bin"):
            meta = json_entry_data(path.with_suffix(".json").read_bytes())
            return bool(hashlib.sha256(data).hexdigest() == meta["blob_sha256"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return False


def iter_kinds(rels: list[tuple[str, int, float]]) -> Iterator[tuple[str, int, int]]:
    """(kind, objects, bytes) per top-level kind, sorted by kind."""
    by: dict[str, list[int]] = {}
    for rel, size, _m in rels:
        k = rel.split("/", 1)[0]
        acc = by.setdefault(k, [0, 0])
        acc[0] += 1
        acc[1] += size
    for k in sorted(by):
        yield k, by[k][0], by[k][1]
