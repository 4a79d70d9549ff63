"""Immutable object storage over fsspec.

Writing a key that holds the same content is a no-op: the same bytes, or the same report in
a new gzip/zip wrapper (``content.content_digest``; the first download stays). Other content
is refused unless forced, and a forced rewrite first copies the old object under
``_versions/<key>/`` so nothing raw is ever lost.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import uuid
from dataclasses import dataclass
from typing import Any

import fsspec

from tally.errors import LakeConflictError, NotFoundError
from tally.lake.content import content_digest


@dataclass(frozen=True)
class PutResult:
    key: str
    sha256: str
    size: int
    status: str  # "new", "unchanged" or "replaced"
    previous_version: str | None = None


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Lake:
    """A lake rooted at a local path, ``file://`` URL or ``s3://bucket/prefix``."""

    def __init__(self, url: str, storage_options: dict[str, Any] | None = None) -> None:
        self.url = url.rstrip("/")
        protocol = url.split("://", 1)[0] if "://" in url else "file"
        options = dict(storage_options or {})
        if protocol == "s3":
            options.setdefault("use_listings_cache", False)
        self.fs: fsspec.AbstractFileSystem = fsspec.filesystem(protocol, **options)
        self.root = self.url.split("://", 1)[1] if "://" in self.url else self.url
        if protocol == "file":
            # fsspec answers listings with absolute paths: root must be absolute to match
            self.root = os.path.abspath(self.root)
            self.fs.makedirs(self.root, exist_ok=True)

    def path(self, key: str) -> str:
        return f"{self.root}/{key}"

    def uri(self, key: str) -> str:
        """A URL DuckDB or another fsspec user can open."""
        if "://" in self.url:
            return f"{self.url}/{key}"
        return self.path(key)

    def local_path(self, key: str) -> str | None:
        """The object's path on this machine when the lake is on local disk, else None."""
        return self.path(key) if self.url.split("://", 1)[0] in (self.url, "file") else None

    def exists(self, key: str) -> bool:
        return bool(self.fs.exists(self.path(key)))

    def get(self, key: str) -> bytes:
        try:
            data: bytes = self.fs.cat_file(self.path(key))
            return data
        except FileNotFoundError as error:
            raise NotFoundError(f"lake has no object {key!r} under {self.url}") from error

    def put(self, key: str, data: bytes, force: bool = False) -> PutResult:
        """Land bytes at a key, keeping raw files immutable (see module docstring)."""
        digest = sha256_hex(data)
        previous = None
        if self.exists(key):
            old = self.get(key)
            if sha256_hex(old) == digest:
                return PutResult(key, digest, len(data), "unchanged")
            if content_digest(old) == content_digest(data):  # a new wrapper, same report
                return PutResult(key, sha256_hex(old), len(old), "unchanged")
            if not force:
                raise LakeConflictError(
                    f"{key} already holds other content (sha256 {sha256_hex(old)[:12]}…, new "
                    f"{digest[:12]}…); raw files are immutable: use --force to replace it "
                    "(the old version is kept under _versions/)"
                )
            stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
            previous = f"_versions/{key}/{stamp}-{sha256_hex(old)[:12]}"
            self._write(previous, old)
        self._write(key, data)
        return PutResult(key, digest, len(data), "replaced" if previous else "new", previous)

    def _write(self, key: str, data: bytes) -> None:
        path = self.path(key)
        parent = path.rsplit("/", 1)[0]
        if self.fs.protocol in ("file", ("file", "local")) or "file" in self.fs.protocol:
            # write-then-rename so a crash never leaves half a file under the real key
            self.fs.makedirs(parent, exist_ok=True)
            temporary = f"{parent}/.{uuid.uuid4().hex}.part"
            self.fs.pipe_file(temporary, data)
            self.fs.mv(temporary, path)
        else:
            self.fs.pipe_file(path, data)

    def list(self, prefix: str = "") -> list[str]:
        """Every key under a prefix (old versions excluded), sorted."""
        base = self.path(prefix).rstrip("/") if prefix else self.root
        if not self.fs.exists(base):
            return []
        if hasattr(self.fs, "invalidate_cache"):
            self.fs.invalidate_cache(base)
        found = self.fs.find(base)
        root = self.root.rstrip("/") + "/"
        keys = [p[len(root) :] if p.startswith(root) else p.split(root, 1)[-1] for p in found]
        return sorted(k for k in keys if not k.startswith("_versions/") and "/." not in k)
