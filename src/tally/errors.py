"""One exception tree for tally.

    TallyError
    ├── TerminalError            do not retry: the input or the setup must change
    │   ├── ConfigError          a setting is missing or malformed (names the key)
    │   ├── BadInputError        a file cannot be read at all (names file, line, field)
    │   ├── LakeConflictError    same lake key, other bytes, without --force
    │   ├── QuarantineError      too many bad rows: the step fails, the partition is kept
    │   ├── NotFoundError        an asked-for thing does not exist (site, partition, ...)
    │   └── AccessDeniedError    the caller's user or token has no rights on what it asked
    └── TransientError           retry with backoff: the same call may work later
        ├── NotReadyError        a remote report is not published yet (App Store 404)
        ├── RateLimitedError     HTTP 429
        ├── WarehouseBusyError   another process holds the warehouse lock too long
        ├── WarehouseUnreachableError  the warehouse server does not answer (names the host)
        └── QueryTimeoutError    a query ran past its time limit and was interrupted

Callers decide whether to retry by class alone (``isinstance(e, TransientError)``).
"""

from __future__ import annotations


class TallyError(Exception):
    """Root of every error tally raises on purpose."""


class TerminalError(TallyError):
    """Retrying will not help; the message says what to fix."""


class TransientError(TallyError):
    """The same call may succeed later."""


class ConfigError(TerminalError):
    """A setting is missing or malformed."""


class BadInputError(TerminalError):
    """An input cannot be read; names the file, and the line and field where known."""

    def __init__(
        self, message: str, *, file: str = "", line: int | None = None, field: str | None = None
    ) -> None:
        parts = [file] if file else []
        if line is not None:
            parts.append(f"line {line}")
        if field:
            parts.append(f"field {field!r}")
        where = ", ".join(parts)
        super().__init__(f"{where}: {message}" if where else message)
        self.reason = message
        self.file = file
        self.line = line
        self.field = field


class LakeConflictError(TerminalError):
    """A lake key already holds different bytes."""


class QuarantineError(TerminalError):
    """The share of bad rows passed the configured threshold."""


class NotFoundError(TerminalError):
    """The thing asked for does not exist."""


class NotReadyError(TransientError):
    """A remote report is not available yet."""


class RateLimitedError(TransientError):
    """The remote side asked us to slow down (HTTP 429)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class WarehouseBusyError(TransientError):
    """The warehouse stayed locked by another process past the bounded wait."""


class WarehouseUnreachableError(TransientError):
    """The warehouse server could not be reached; the message names host and port."""


class AccessDeniedError(TerminalError):
    """The caller's user or token has no rights on what it asked for."""


class QueryTimeoutError(TransientError):
    """A query ran past its time limit (or its client left) and was interrupted.

    ``seconds`` is the limit, when one was set (``Warehouse.interactive()``). Transient by
    class, but the same read usually runs as long again: narrow it rather than retry.
    """

    def __init__(self, message: str, seconds: float | None = None) -> None:
        super().__init__(message)
        self.seconds = seconds
