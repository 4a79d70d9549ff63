"""One leading scheduler among several: a lease in a JetStream key-value bucket.

With ``server.scheduler_lease_url = "nats://…"`` any number of ``tally scheduler`` (or
``tally serve`` with ``server.scheduler``) processes may run, on any machines. Each keeps
trying to take the lease ``scheduler/leader``; the one holding it runs the due steps, the
others wait. The holder renews it every third of ``server.scheduler_lease_seconds`` from a
thread of its own, so a long step keeps it. A holder that dies stops renewing and the
bucket's age limit frees the lease ``scheduler_lease_seconds`` later; another scheduler
takes it on its next try.

A step is started only while the lease is held with time to spare (``may_start``); a step
already running when its scheduler loses the lease (cut off from NATS for longer than the
lease) finishes, and the new leader skips a partition whose step is ``running`` in the
ledger with a live heartbeat, so it is not started twice at once.
"""

from __future__ import annotations

import logging
import threading
import time

from tally.jetstream import JetStreamUnavailable, Lease, Link

logger = logging.getLogger(__name__)

BUCKET = "tally_scheduler"
KEY = "leader"


class Leadership:
    """Takes and keeps the scheduler lease from a thread; ``leads()`` says whether it holds."""

    def __init__(self, url: str, seconds: float, *, bucket: str = BUCKET) -> None:
        self.seconds = seconds
        self.link = Link(url, name="tally-scheduler")
        self.lease = Lease(self.link, bucket, KEY, seconds)
        self._stop = threading.Event()
        self._changed = threading.Event()
        self._thread = threading.Thread(target=self._keep, name="tally-lease", daemon=True)

    def start(self) -> Leadership:
        self.link.start()
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop renewing and hand the lease back (the others need not wait for it to expire)."""
        self._stop.set()
        self._thread.join(self.seconds)
        self.lease.release()
        self.link.close()

    def leads(self) -> bool:
        return self.lease.held()

    def may_start(self) -> bool:
        """Held, with at least half the lease's time left: enough to be sure no other
        scheduler can hold it when a step starts."""
        return self.lease.held() and time.monotonic() - self.lease.renewed_at < self.seconds / 2

    def wait_until_leading(self, timeout: float) -> bool:
        self._changed.wait(timeout)
        self._changed.clear()
        return self.leads()

    def _keep(self) -> None:
        while not self._stop.is_set():
            was = self.lease.held()
            try:
                now = self.lease.renew() if self.lease.revision is not None else None
                if not now:
                    now = self.lease.acquire()
            except JetStreamUnavailable as problem:
                logger.warning("scheduler lease: %s", problem)
                now = self.lease.held()
            except Exception:  # the thread must go on: a lost lease is found on the next try
                logger.exception("scheduler lease")
                now = self.lease.held()
            if now != was:
                logger.info("scheduler: %s", "leading" if now else "not leading")
                self._changed.set()
            self._stop.wait(self.seconds / 3)
