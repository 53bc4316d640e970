"""The durable webhook queue, kept in the state store.

A delivery is written here, in one committed transaction, *before* the receiver answers 200: a
crash after the answer loses nothing, because the row is on disk and the worker finds it on the
next start. The queue's connection commits with ``synchronous=FULL``, so an acknowledged delivery
survives a power cut too, not only a crash of the process.

Tables (migration 2 of :mod:`rackshop.store`):

==================  ==========================================================================
``webhook_queue``   one row per unit of work: ``kind`` (``order``, ``stock``, ``product``,
                    ``rb_order``), ``shop`` (``''`` for Rackbeat), ``key`` (order id, item or
                    order number), ``state`` (``queued`` -> ``working`` -> ``done`` / ``failed``),
                    attempts, how many deliveries it stands for, when it may run next
``webhook_seen``    delivery ids already accepted (Shopify's ``X-Shopify-Webhook-Id``), so a
                    redelivery is answered 200 and not queued again
``webhook_tokens``  SHA-256 digests of the tokens Rackbeat gave the webhooks ``rackshop webhooks
                    register`` created (Rackbeat shows a token once, at creation); never the token
==================  ==========================================================================

De-duplication happens twice: by delivery id (``webhook_seen``), and by *coalescing*: a delivery
for the same (kind, shop, key) as a row still waiting is merged into that row (its ``deliveries``
count goes up) instead of adding one. A row being worked on is not merged into: a change that
arrives while an order or item is being processed gets a row of its own and is looked at again.

The queue is bounded: when ``queued + working`` rows reach the limit, a new delivery is refused
(the receiver answers 503 and the sender retries later); a delivery that coalesces into a waiting
row is still accepted, since it adds nothing.

Customer data is not kept: a row holds the ids the worker needs, not the delivery's body.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from rackshop.store import Store, utcnow

Kind = Literal["order", "stock", "product", "rb_order"]
Outcome = Literal["queued", "merged", "duplicate", "full"]
PENDING_STATES = ("queued", "working")


@dataclass(frozen=True)
class Delivery:
    """What the receiver hands to the queue: one verified delivery, reduced to what is needed.

    Attributes:
        source: ``shopify`` or ``rackbeat``.
        topic: The Shopify topic (``orders/paid``) or Rackbeat event (``item.stock_updated``).
        kind: What the worker does with it (``order``, ``stock``, ``product``, ``rb_order``).
        key: The order id (Shopify), item number or Rackbeat order number.
        shop: The shop's name for Shopify deliveries, ``''`` for Rackbeat (account-wide).
        label: For people: the order name (``#1001``) or the item number.
        delivery_id: The sender's delivery id (``X-Shopify-Webhook-Id``), if it gives one.
    """

    source: str
    topic: str
    kind: Kind
    key: str
    shop: str = ""
    label: str = ""
    delivery_id: str | None = None


@dataclass(frozen=True)
class QueuedRow:
    """A row taken off the queue by :meth:`DurableQueue.claim`."""

    id: int
    source: str
    topic: str
    kind: str
    shop: str
    key: str
    label: str
    attempts: int
    deliveries: int
    received_at: float


class QueueBusyError(Exception):
    """The queue could not record a delivery in time; the receiver answers 503 (sent again)."""


class DurableQueue:
    """The queue over its own connection to the state store.

    Every method is thread-safe: the receiver's threads and the worker share one connection,
    guarded by a lock (SQLite serialises writers anyway; the lock keeps transactions whole).

    Args:
        store: A store opened for the queue alone (not the worker's: their transactions must not
            interleave).
        limit: Most rows waiting or being worked on (``listen.queue_limit``).
        clock: Wall-clock seconds (``time.time``); injected in tests.
        busy_timeout_ms: How long a write waits for another writer before the receiver gives up
            and answers 503 (well inside Shopify's 5 seconds); :meth:`put` waits as long for
            the queue's own lock.
    """

    def __init__(self, store: Store, *, limit: int, clock: Callable[[], float] = time.time,
                 busy_timeout_ms: int = 2000) -> None:
        self.store = store
        self.limit = limit
        self.clock = clock
        self.put_timeout = busy_timeout_ms / 1000.0
        self._lock = threading.Lock()
        conn = store.conn
        # An acknowledged delivery must survive a power cut, not only a crash: fsync each commit.
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")

    # -- receiving ---------------------------------------------------------------------------

    def put(self, delivery: Delivery) -> Outcome:
        """Record a delivery durably; returns what became of it.

        ``queued``: a new row; ``merged``: folded into a waiting row for the same work;
        ``duplicate``: this delivery id was accepted before; ``full``: refused, the queue holds
        ``limit`` rows (nothing was written).

        Raises:
            QueueBusyError: The queue or the store stayed locked past the busy timeout.
        """
        now = self.clock()
        seen_key = f"{delivery.source}:{delivery.delivery_id}" if delivery.delivery_id else None
        try:
            with self._hold(), self.store.transaction() as c:
                return self._put(c, delivery, seen_key, now)
        except sqlite3.OperationalError as exc:
            raise QueueBusyError(f"the state store is busy: {exc}") from exc

    @contextlib.contextmanager
    def _hold(self) -> Iterator[None]:
        if not self._lock.acquire(timeout=self.put_timeout):
            raise QueueBusyError("the queue is busy (lock not free in time)")
        try:
            yield
        finally:
            self._lock.release()

    def _put(self, c: sqlite3.Connection, delivery: Delivery, seen_key: str | None,
             now: float) -> Outcome:
        if seen_key is not None and c.execute(
                "SELECT 1 FROM webhook_seen WHERE delivery_id = ?", (seen_key,)).fetchone():
            return "duplicate"
        waiting = c.execute(
            "SELECT id FROM webhook_queue WHERE state = 'queued' AND kind = ? AND shop = ? "
            "AND key = ?", (delivery.kind, delivery.shop, delivery.key)).fetchone()
        if waiting is not None:
            row_id = int(waiting["id"])
            c.execute("UPDATE webhook_queue SET deliveries = deliveries + 1 WHERE id = ?",
                      (row_id,))
            outcome: Outcome = "merged"
        else:
            if self._pending(c) >= self.limit:
                return "full"
            cur = c.execute(
                "INSERT INTO webhook_queue (source, topic, kind, shop, key, label, "
                "received_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (delivery.source, delivery.topic, delivery.kind, delivery.shop, delivery.key,
                 delivery.label, now))
            row_id = int(cur.lastrowid or 0)
            outcome = "queued"
        if seen_key is not None:
            c.execute("INSERT INTO webhook_seen (delivery_id, queue_id, seen_at) "
                      "VALUES (?, ?, ?)", (seen_key, row_id, now))
        return outcome

    # -- working -----------------------------------------------------------------------------

    def claim(self, kinds: Sequence[str], *, limit: int = 500) -> list[QueuedRow]:
        """Take up to ``limit`` due rows of ``kinds`` (oldest first) and mark them ``working``."""
        now = self.clock()
        marks = ",".join("?" for _ in kinds)
        with self._lock, self.store.transaction() as c:
            rows = c.execute(
                f"UPDATE webhook_queue SET state = 'working', attempts = attempts + 1 "
                f"WHERE id IN (SELECT id FROM webhook_queue WHERE state = 'queued' "
                f"AND kind IN ({marks}) AND not_before <= ? ORDER BY id LIMIT ?) "
                "RETURNING id, source, topic, kind, shop, key, label, attempts, deliveries, "
                "received_at", (*kinds, now, limit)).fetchall()
        out = [QueuedRow(int(r["id"]), str(r["source"]), str(r["topic"]), str(r["kind"]),
                         str(r["shop"]), str(r["key"]), str(r["label"]), int(r["attempts"]),
                         int(r["deliveries"]), float(r["received_at"])) for r in rows]
        return sorted(out, key=lambda r: r.id)

    def complete(self, ids: Iterable[int], reason: str | None = None) -> None:
        """Mark rows done (``reason`` notes anything worth knowing, e.g. ``ignored``)."""
        self._finish(ids, "done", reason)

    def fail(self, ids: Iterable[int], reason: str) -> None:
        """Give rows up (the polling safety net is left to catch the work)."""
        self._finish(ids, "failed", reason)

    def release(self, ids: Iterable[int], *, delay: float, reason: str | None = None) -> None:
        """Put ``working`` rows back in the queue, to be tried again after ``delay`` seconds.

        A row whose work was queued again meanwhile (a newer delivery) is merged into that row.
        """
        self._requeue(list(ids), not_before=self.clock() + delay, reason=reason)

    def recover(self) -> int:
        """After a crash: put every ``working`` row back in the queue (at once); returns how many.

        The work behind each row is idempotent (the order journal, stock pushes that set absolute
        quantities), so doing again what a dead process had half done is safe.
        """
        with self._lock:
            ids = [int(r["id"]) for r in self.store.conn.execute(
                "SELECT id FROM webhook_queue WHERE state = 'working'")]
        self._requeue(ids, not_before=0.0, reason="re-queued after a restart")
        return len(ids)

    def _requeue(self, ids: list[int], *, not_before: float, reason: str | None) -> None:
        if not ids:
            return
        with self._lock, self.store.transaction() as c:
            for row_id in ids:
                row = c.execute("SELECT kind, shop, key, deliveries FROM webhook_queue "
                                "WHERE id = ? AND state = 'working'", (row_id,)).fetchone()
                if row is None:
                    continue
                other = c.execute(
                    "SELECT id FROM webhook_queue WHERE state = 'queued' AND kind = ? "
                    "AND shop = ? AND key = ?", (row["kind"], row["shop"], row["key"])).fetchone()
                if other is not None:
                    c.execute("UPDATE webhook_queue SET deliveries = deliveries + ?, "
                              "not_before = MIN(not_before, ?) WHERE id = ?",
                              (int(row["deliveries"]), not_before, int(other["id"])))
                    c.execute("UPDATE webhook_queue SET state = 'done', finished_at = ?, "
                              "reason = ? WHERE id = ?",
                              (self.clock(), f"merged into row {int(other['id'])}", row_id))
                else:
                    c.execute("UPDATE webhook_queue SET state = 'queued', not_before = ?, "
                              "reason = ? WHERE id = ?", (not_before, reason, row_id))

    def _finish(self, ids: Iterable[int], state: str, reason: str | None) -> None:
        rows = [(state, self.clock(), reason, int(i)) for i in ids]
        if not rows:
            return
        with self._lock, self.store.transaction() as c:
            c.executemany("UPDATE webhook_queue SET state = ?, finished_at = ?, reason = ? "
                          "WHERE id = ? AND state = 'working'", rows)

    # -- looking -----------------------------------------------------------------------------

    def pending(self) -> int:
        """Rows waiting or being worked on."""
        with self._lock:
            return self._pending(self.store.conn)

    @staticmethod
    def _pending(c: sqlite3.Connection) -> int:
        return int(c.execute("SELECT COUNT(*) FROM webhook_queue WHERE state IN "
                             "('queued', 'working')").fetchone()[0])

    def waiting(self, kinds: Sequence[str]) -> tuple[int, float | None, float | None]:
        """Rows of ``kinds`` waiting: (how many are due now, oldest due arrival, next not-before).

        The worker uses it to debounce (wait until the oldest due row is old enough) and to know
        how long it may sleep (until the next row becomes due).
        """
        now = self.clock()
        marks = ",".join("?" for _ in kinds)
        with self._lock:
            due = self.store.conn.execute(
                f"SELECT COUNT(*), MIN(received_at) FROM webhook_queue WHERE state = 'queued' "
                f"AND kind IN ({marks}) AND not_before <= ?", (*kinds, now)).fetchone()
            later = self.store.conn.execute(
                f"SELECT MIN(not_before) FROM webhook_queue WHERE state = 'queued' "
                f"AND kind IN ({marks}) AND not_before > ?", (*kinds, now)).fetchone()
        return int(due[0]), (float(due[1]) if due[1] is not None else None), \
            (float(later[0]) if later[0] is not None else None)

    def counts(self) -> dict[str, int]:
        """Rows per state (``queued``, ``working``, ``done``, ``failed``)."""
        with self._lock:
            rows = self.store.conn.execute(
                "SELECT state, COUNT(*) AS n FROM webhook_queue GROUP BY state").fetchall()
        out = {"queued": 0, "working": 0, "done": 0, "failed": 0}
        out.update({str(r["state"]): int(r["n"]) for r in rows})
        return out

    def stats(self) -> dict[str, Any]:
        """What ``/healthz`` shows about the queue."""
        counts = self.counts()
        with self._lock:
            oldest = self.store.conn.execute(
                "SELECT MIN(received_at) FROM webhook_queue WHERE state = 'queued'").fetchone()[0]
        pending = counts["queued"] + counts["working"]
        return {
            **counts,
            "pending": pending,
            "limit": self.limit,
            "full": pending >= self.limit,
            "oldest_queued_seconds": round(self.clock() - float(oldest), 1)
            if oldest is not None else None,
        }

    def rows(self, where: str = "", args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Queue rows as dicts (for ``status``, tests and the benchmark)."""
        sql = "SELECT * FROM webhook_queue" + (f" WHERE {where}" if where else "") + " ORDER BY id"
        with self._lock:
            return [dict(r) for r in self.store.conn.execute(sql, tuple(args))]

    def token_digests(self) -> list[str]:
        """The recorded Rackbeat webhook token digests (see :func:`record_token`)."""
        with self._lock:
            return [str(r["digest"]) for r in self.store.conn.execute(
                "SELECT digest FROM webhook_tokens")]

    # -- housekeeping ------------------------------------------------------------------------

    def prune(self, *, keep_done: float = 3600.0, keep_seen: float = 3 * 86400.0) -> int:
        """Forget finished rows older than ``keep_done`` and delivery ids older than ``keep_seen``.

        Shopify retries a delivery for about 4 hours, so delivery ids are kept for 3 days by
        default; failed rows are kept as long as done ones (their reason is in the log too).
        """
        now = self.clock()
        with self._lock, self.store.transaction() as c:
            n = c.execute("DELETE FROM webhook_queue WHERE state IN ('done', 'failed') "
                          "AND finished_at < ?", (now - keep_done,)).rowcount
            n += c.execute("DELETE FROM webhook_seen WHERE seen_at < ?",
                           (now - keep_seen,)).rowcount
        return int(n)

    def close(self) -> None:
        """Close the queue's connection."""
        with self._lock:
            self.store.close()


# -- Rackbeat webhook tokens ---------------------------------------------------------------------


def token_digest(token: str) -> str:
    """SHA-256 of a webhook token (tokens are long and random: no salt is needed)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def record_token(store: Store, webhook_id: str, event: str, url: str, token: str) -> None:
    """Remember the digest of the token Rackbeat gave a new webhook (never the token itself)."""
    with store.transaction() as c:
        c.execute("INSERT INTO webhook_tokens (webhook_id, event, url, digest, created_at) "
                  "VALUES (?, ?, ?, ?, ?) ON CONFLICT (webhook_id) DO UPDATE SET "
                  "event = excluded.event, url = excluded.url, digest = excluded.digest, "
                  "created_at = excluded.created_at",
                  (webhook_id, event, url, token_digest(token), utcnow()))


def forget_token(store: Store, webhook_id: str) -> None:
    """Forget a removed webhook's token digest."""
    with store.transaction() as c:
        c.execute("DELETE FROM webhook_tokens WHERE webhook_id = ?", (webhook_id,))


def known_webhook_ids(store: Store) -> set[str]:
    """Ids of the Rackbeat webhooks whose token digest is recorded."""
    return {str(r["webhook_id"]) for r in store.conn.execute(
        "SELECT webhook_id FROM webhook_tokens")}


def token_matches(digests: Iterable[str], token: str) -> bool:
    """Whether ``token`` hashes to one of ``digests`` (each compared in constant time)."""
    given = token_digest(token)
    found = False
    for digest in digests:
        # no early exit: the time taken does not depend on which digest matched
        found = hmac.compare_digest(digest, given) or found
    return found
