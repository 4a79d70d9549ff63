"""What a raw file says, apart from its wrapper: the digest the lake compares a re-download by.

A report downloaded twice can come back in a new wrapper around the same bytes: App Store
Connect's gzip carries the time it was made in its header, a zip carries each member's time.
Comparing the digest of the content instead of the stored bytes makes the second download the
same file (a no-op), not a conflict.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import zipfile
import zlib

GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"


def content_digest(data: bytes) -> str:
    """SHA-256 of the decompressed bytes of a gzip, of a zip's members (name and bytes, in
    name order), or of the bytes themselves for anything else or anything that does not
    decompress."""
    try:
        if data.startswith(GZIP_MAGIC):
            return "gzip:" + hashlib.sha256(gzip.decompress(data)).hexdigest()
        if data.startswith(ZIP_MAGIC):
            return "zip:" + _zip_digest(data)
    except (OSError, EOFError, zlib.error, zipfile.BadZipFile):
        pass  # a damaged wrapper: only the same bytes are the same file
    return "raw:" + hashlib.sha256(data).hexdigest()


def _zip_digest(data: bytes) -> str:
    digest = hashlib.sha256()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in sorted(archive.namelist()):
            digest.update(name.encode() + b"\0")
            digest.update(hashlib.sha256(archive.read(name)).digest())
    return digest.hexdigest()
