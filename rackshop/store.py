"""The state store: one SQLite file per configuration.

It holds what rackshop must remember between runs so that every job is idempotent and resumable:

==================  ==========================================================================
table               what it holds
==================  ==========================================================================
``runs``            one row per job run: job, shop, start/end, outcome, summary (JSON)
``cursors``         per (shop, job, name): the high-water mark saved after the writes it covers
``mappings``        per (shop, sku): Shopify product, variant and inventory item ids
``order_journal``   per (shop, Shopify order): state (creating / created / done / failed /
                    skipped), Rackbeat number, attempt time, steps done, last error
``customers``       per e-mail: the Rackbeat customer number, or a ``creating`` intent
``stock_pushed``    per (shop, location, inventory item): the quantity last pushed
``stock_batches``   per idempotency key: the batch payload hash and whether it was applied
``record_hashes``   per (job, shop, key): hash of what rackshop last wrote (echo-proofing)
``failures``        per (job, shop, key): records that failed, with reason and count
``init_journal``    per (shop, kind, key): the go-live import's products and adjustments
``fulfillment_journal``  per (shop, Rackbeat shipment): its Shopify order, state (creating /
                    done / already / failed) and the fulfilments made for it
==================  ==========================================================================

Design rules: WAL mode, file mode 0600, schema versioned with ``PRAGMA user_version`` and applied
by :data:`MIGRATIONS` in order; one transaction per recorded step: a single statement where one
does (a journal step is one upsert), :meth:`Store.transaction` where a step takes several.

Locks are separate from the database: :class:`JobLock` holds an ``fcntl`` lock on a small file
next to it, so a lock dies with its process (a crashed run never blocks the next one) and the
holder's PID is written inside for the message a second run prints.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rackshop.errors import LockHeldError, StateError

MIGRATIONS: list[str] = [
    # 1: the initial schema.
    """
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        job TEXT NOT NULL,
        shop TEXT,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        outcome TEXT NOT NULL DEFAULT 'running',
        dry_run INTEGER NOT NULL DEFAULT 0,
        pid INTEGER NOT NULL,
        summary TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX runs_by_job ON runs (job, shop, id);

    CREATE TABLE cursors (
        shop TEXT NOT NULL,
        job TEXT NOT NULL,
        name TEXT NOT NULL,
        value TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (shop, job, name)
    );

    CREATE TABLE mappings (
        shop TEXT NOT NULL,
        sku TEXT NOT NULL,
        product_id TEXT,
        variant_id TEXT,
        inventory_item_id TEXT,
        tracked INTEGER,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (shop, sku)
    );
    CREATE INDEX mappings_by_variant ON mappings (shop, variant_id);

    CREATE TABLE order_journal (
        shop TEXT NOT NULL,
        shopify_order_id TEXT NOT NULL,
        order_name TEXT,
        state TEXT NOT NULL,
        rackbeat_number INTEGER,
        reference TEXT,
        attempt_at TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        steps_done TEXT NOT NULL DEFAULT '',
        reason TEXT,
        shopify_updated_at TEXT,
        fingerprint TEXT,
        detail TEXT NOT NULL DEFAULT '{}',
        updated_at TEXT NOT NULL,
        PRIMARY KEY (shop, shopify_order_id)
    );
    CREATE INDEX order_journal_by_state ON order_journal (state, shop);

    CREATE TABLE customers (
        email TEXT PRIMARY KEY,
        rackbeat_number INTEGER,
        state TEXT NOT NULL,
        attempt_at TEXT,
        updated_at TEXT NOT NULL
    );

    CREATE TABLE stock_pushed (
        shop TEXT NOT NULL,
        location_id TEXT NOT NULL,
        inventory_item_id TEXT NOT NULL,
        sku TEXT,
        quantity INTEGER NOT NULL,
        pushed_at TEXT NOT NULL,
        PRIMARY KEY (shop, location_id, inventory_item_id)
    );

    CREATE TABLE stock_batches (
        idempotency_key TEXT PRIMARY KEY,
        shop TEXT NOT NULL,
        payload_hash TEXT NOT NULL,
        state TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );

    CREATE TABLE record_hashes (
        job TEXT NOT NULL,
        shop TEXT NOT NULL,
        key TEXT NOT NULL,
        hash TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (job, shop, key)
    );

    CREATE TABLE failures (
        job TEXT NOT NULL,
        shop TEXT NOT NULL,
        key TEXT NOT NULL,
        reason TEXT NOT NULL,
        first_seen TEXT NOT NULL,
        last_seen TEXT NOT NULL,
        count INTEGER NOT NULL DEFAULT 1,
        PRIMARY KEY (job, shop, key)
    );

    CREATE TABLE init_journal (
        shop TEXT NOT NULL,
        kind TEXT NOT NULL,
        key TEXT NOT NULL,
        state TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT '{}',
        updated_at TEXT NOT NULL,
        PRIMARY KEY (shop, kind, key)
    );
    """,
    # 2: the durable webhook queue of `rackshop listen` (see rackshop/listen/queue.py).
    """
CREATE TABLE webhook_queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,
    topic TEXT NOT NULL,
    kind TEXT NOT NULL,
    shop TEXT NOT NULL DEFAULT '',
    key TEXT NOT NULL,
    label TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL DEFAULT 'queued',
    deliveries INTEGER NOT NULL DEFAULT 1,
    attempts INTEGER NOT NULL DEFAULT 0,
    received_at REAL NOT NULL,
    not_before REAL NOT NULL DEFAULT 0,
    finished_at REAL,
    reason TEXT
);
CREATE UNIQUE INDEX webhook_queue_waiting
    ON webhook_queue (kind, shop, key) WHERE state = 'queued';
CREATE INDEX webhook_queue_by_state ON webhook_queue (state, kind, not_before);
CREATE TABLE webhook_seen (
    delivery_id TEXT PRIMARY KEY,
    queue_id INTEGER,
    seen_at REAL NOT NULL
);
CREATE INDEX webhook_seen_by_time ON webhook_seen (seen_at);
CREATE TABLE webhook_tokens (
    webhook_id TEXT PRIMARY KEY,
    event TEXT NOT NULL,
    url TEXT NOT NULL,
    digest TEXT NOT NULL,
    created_at TEXT NOT NULL
)
    """,
    # sync-fulfillments: one row per Rackbeat shipment, its Shopify order and its fulfilments.
    """
CREATE TABLE fulfillment_journal (
    shop TEXT NOT NULL,
    shipment_id INTEGER NOT NULL,
    rackbeat_order INTEGER NOT NULL,
    shopify_order_id TEXT NOT NULL,
    order_name TEXT,
    state TEXT NOT NULL,
    reason TEXT,
    detail TEXT NOT NULL DEFAULT '{}',
    updated_at TEXT NOT NULL,
    PRIMARY KEY (shop, shipment_id)
);
CREATE INDEX fulfillment_journal_by_state ON fulfillment_journal (state, shop)
    """,
    # check --contract: what the live APIs were observed to do, read back by the jobs.
    """
CREATE TABLE IF NOT EXISTS contract (
    api TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    verdict TEXT NOT NULL,
    observed_at TEXT NOT NULL,
    PRIMARY KEY (api, key)
);
CREATE TABLE IF NOT EXISTS contract_probes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    record TEXT,
    state TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}',
    started_at TEXT NOT NULL,
    finished_at TEXT
)
    """,
    # sync-fulfillments and the listener find the Shopify order of a Rackbeat order by its
    # number, once per shipment or event: without this every lookup read the whole journal.
    """
CREATE INDEX order_journal_by_rackbeat_number ON order_journal (rackbeat_number, shop)
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)


def utcnow() -> str:
    """Now as ISO-8601 UTC with seconds (the store's timestamp format)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class RunRecord:
    """One row of ``runs``."""

    id: int
    job: str
    shop: str | None
    started_at: str
    finished_at: str | None
    outcome: str
    dry_run: bool
    pid: int
    summary: dict[str, Any]


class Store:
    """Access to the state database.

    Args:
        path: The SQLite file; created (mode 0600, parents 0700) when missing.

    Raises:
        StateError: The file cannot be opened, is not a rackshop store, or was written by a
            newer rackshop.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path).expanduser()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            if not self.path.exists():
                # Create it with 0600 before SQLite does, so no other user can ever read it.
                fd = os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600)
                os.close(fd)
            self._main = self._connect()
            self._thread = threading.local()
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise self._cannot_open(exc) from exc
        except OSError as exc:
            raise StateError(f"cannot create the state store {self.path}: {exc}",
                             hint="set state.path in the config to a writable place") from exc

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None,
                               check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    @property
    def conn(self) -> sqlite3.Connection:
        """The connection of the calling thread: its own inside :meth:`thread_connection`,
        else the store's one."""
        own: sqlite3.Connection | None = getattr(self._thread, "conn", None)
        return own if own is not None else self._main

    @contextlib.contextmanager
    def thread_connection(self) -> Iterator[sqlite3.Connection]:
        """Give the calling thread its own connection for the block (a worker of a pool).

        One connection shared by threads would mix their transactions: a read of one would see
        another's uncommitted step, a ``BEGIN`` would meet another's open one. With a connection
        each, every transaction stays whole; WAL lets the readers run while one writes, and
        ``BEGIN IMMEDIATE`` makes writers wait their turn (up to the 30 s busy timeout).
        """
        conn = self._connect()
        before = getattr(self._thread, "conn", None)  # a pool worker's own, kept for after
        self._thread.conn = conn
        try:
            yield conn
        finally:
            if before is None:
                del self._thread.conn
            else:
                self._thread.conn = before
            conn.close()

    def own_connection(self) -> sqlite3.Connection:
        """Give the calling thread its own connection for the rest of its life (a pool's worker
        thread, :func:`rackshop.sync.pool.run_side_by_side`), as :meth:`thread_connection`
        does for a block. The caller closes it (from any thread) once that thread has ended."""
        try:
            conn = self._connect()
        except sqlite3.DatabaseError as exc:
            raise self._cannot_open(exc) from exc
        self._thread.conn = conn
        return conn

    def _cannot_open(self, exc: sqlite3.DatabaseError) -> StateError:
        return StateError(
            f"cannot open the state store {self.path}: {exc}",
            hint="check the path (state.path in the config) and its permissions; if the file "
            "is damaged, move it away and rerun (rackshop rebuilds what it can from the APIs)",
        )

    def close(self) -> None:
        self._main.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema ---------------------------------------------------------------------------------

    def _migrate(self) -> None:
        version = int(self.conn.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise StateError(
                f"the state store {self.path} is from a newer rackshop (schema {version}, this "
                f"version knows {SCHEMA_VERSION})",
                hint="upgrade rackshop, or point state.path at another file",
            )
        for number in range(version + 1, SCHEMA_VERSION + 1):
            with self.transaction():
                for statement in _split_sql(MIGRATIONS[number - 1]):
                    self.conn.execute(statement)
                self.conn.execute(f"PRAGMA user_version = {number}")

    @property
    def schema_version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic step: ``BEGIN IMMEDIATE`` ... ``COMMIT`` (rolled back on error)."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """Reads that see one consistent state (a deferred read transaction under WAL).

        Writers are not blocked; they simply are not seen until the snapshot ends.
        """
        self.conn.execute("BEGIN")
        try:
            yield self.conn
        finally:
            self.conn.execute("COMMIT")

    # -- runs -----------------------------------------------------------------------------------

    def start_run(self, job: str, shop: str | None, *, dry_run: bool = False) -> int:
        """Record the start of a run; returns its id."""
        with self.transaction() as c:
            cur = c.execute(
                "INSERT INTO runs (job, shop, started_at, dry_run, pid) VALUES (?, ?, ?, ?, ?)",
                (job, shop, utcnow(), int(dry_run), os.getpid()),
            )
            return int(cur.lastrowid or 0)

    def finish_run(self, run_id: int, outcome: str, summary: Mapping[str, Any]) -> None:
        """Record how a run ended (``ok``, ``partial``, ``failed``, ``aborted``)."""
        with self.transaction() as c:
            c.execute(
                "UPDATE runs SET finished_at = ?, outcome = ?, summary = ? WHERE id = ?",
                (utcnow(), outcome, json.dumps(summary, sort_keys=True, default=str), run_id),
            )

    def last_runs(self, limit_per_job: int = 1) -> list[RunRecord]:
        """The latest runs per (job, shop), newest first."""
        rows = self.conn.execute(
            """
            SELECT * FROM (
              SELECT r.*, ROW_NUMBER() OVER (PARTITION BY job, shop ORDER BY id DESC) AS rn
              FROM runs r
            ) WHERE rn <= ? ORDER BY job, shop, id DESC
            """,
            (limit_per_job,),
        ).fetchall()
        return [_run(r) for r in rows]

    # -- cursors --------------------------------------------------------------------------------

    def get_cursor(self, shop: str, job: str, name: str = "updated_at") -> str | None:
        row = self.conn.execute(
            "SELECT value FROM cursors WHERE shop = ? AND job = ? AND name = ?", (shop, job, name)
        ).fetchone()
        return str(row["value"]) if row else None

    def set_cursor(self, shop: str, job: str, value: str, name: str = "updated_at") -> None:
        """Save a cursor. Call only after the writes it covers are committed."""
        with self.transaction() as c:
            c.execute(
                "INSERT INTO cursors (shop, job, name, value, updated_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (shop, job, name) DO UPDATE SET value = excluded.value, "
                "updated_at = excluded.updated_at",
                (shop, job, name, value, utcnow()),
            )

    def cursors(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.conn.execute(
            "SELECT shop, job, name, value, updated_at FROM cursors ORDER BY shop, job, name")]

    # -- failures -------------------------------------------------------------------------------

    def record_failure(self, job: str, shop: str, key: str, reason: str) -> None:
        """Remember that a record failed (count grows on every pass that fails it again)."""
        now = utcnow()
        self.conn.execute(  # one statement: its own transaction
            "INSERT INTO failures (job, shop, key, reason, first_seen, last_seen) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (job, shop, key) DO UPDATE SET "
            "reason = excluded.reason, last_seen = excluded.last_seen, count = count + 1",
            (job, shop, key, reason, now, now),
        )

    def clear_failure(self, job: str, shop: str, key: str) -> None:
        self.conn.execute("DELETE FROM failures WHERE job = ? AND shop = ? AND key = ?",
                          (job, shop, key))

    def failures(self, job: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM failures"
        args: tuple[Any, ...] = ()
        if job:
            sql += " WHERE job = ?"
            args = (job,)
        return [dict(r) for r in self.conn.execute(sql + " ORDER BY job, shop, last_seen DESC",
                                                   args)]

    # -- record hashes (echo-proofing) ----------------------------------------------------------

    def get_hash(self, job: str, shop: str, key: str) -> str | None:
        row = self.conn.execute(
            "SELECT hash FROM record_hashes WHERE job = ? AND shop = ? AND key = ?",
            (job, shop, key),
        ).fetchone()
        return str(row["hash"]) if row else None

    def set_hash(self, job: str, shop: str, key: str, value: str) -> None:
        with self.transaction() as c:
            put_record_hash(c, job, shop, key, value, utcnow())

    # -- order journal --------------------------------------------------------------------------

    def journal_get(self, shop: str, order_id: str) -> dict[str, Any] | None:
        """The journal row of one Shopify order, or ``None``."""
        row = self.conn.execute(
            "SELECT * FROM order_journal WHERE shop = ? AND shopify_order_id = ?",
            (shop, order_id),
        ).fetchone()
        return _journal(row) if row else None

    def journal_put(self, shop: str, order_id: str, **fields: Any) -> None:
        """Insert or update a journal row in one transaction (the recorded step).

        ``detail`` (a dict) is merged into the stored detail; ``attempts_inc=True`` adds one
        to ``attempts``.
        """
        allowed = {"order_name", "state", "rackbeat_number", "reference", "attempt_at",
                   "steps_done", "reason", "shopify_updated_at", "fingerprint"}
        inc = fields.pop("attempts_inc", False)
        detail = fields.pop("detail", None)
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"unknown journal fields {sorted(unknown)}")
        # One statement, so one transaction without BEGIN/COMMIT round trips: a pass journals
        # five steps an order, and each statement hands Python's lock to another worker
        # (issue 14). ``detail`` keys are set one by one on the stored object (json_set), as
        # dict.update sets them: a key's value is replaced whole.
        patch = detail or {}
        for key in patch:
            if not key.isidentifier():
                raise ValueError(f"journal detail key {key!r} is not a plain name")
        values = {k: json.dumps(v, sort_keys=True, default=str) for k, v in patch.items()}
        merged = "CASE WHEN order_journal.detail IN ('', 'null') THEN '{}' " \
                 "ELSE order_journal.detail END"
        for key in values:
            merged = f"json_set({merged}, '$.{key}', json(?))"
        inserted = {"state": "new", **fields}
        columns = ["shop", "shopify_order_id", *inserted, "detail", "attempts", "updated_at"]
        updates = [f"{k} = excluded.{k}" for k in fields] + [
            f"detail = {merged}", "updated_at = excluded.updated_at"]
        if inc:
            updates.append("attempts = order_journal.attempts + 1")
        self.conn.execute(
            f"INSERT INTO order_journal ({', '.join(columns)}) "
            f"VALUES ({', '.join('?' for _ in columns)}) "
            f"ON CONFLICT (shop, shopify_order_id) DO UPDATE SET {', '.join(updates)}",
            (shop, order_id, *inserted.values(),
             json.dumps(patch, sort_keys=True, default=str), int(bool(inc)), utcnow(),
             *values.values()))

    def journal_rows(self, shop: str, states: Sequence[str]) -> list[dict[str, Any]]:
        """Journal rows of a shop in the given states."""
        marks = ",".join("?" for _ in states)
        rows = self.conn.execute(
            f"SELECT * FROM order_journal WHERE shop = ? AND state IN ({marks}) "
            "ORDER BY updated_at", (shop, *states)).fetchall()
        return [_journal(r) for r in rows]

    def journal_by_name(self, shop: str, name: str) -> dict[str, Any] | None:
        """The journal row of an order named ``#1001`` (``1001`` also matches), or by its id
        (``gid://shopify/Order/…`` or the numeric part); ``None`` when the journal has none."""
        name = name.strip()
        names = (name, f"#{name.lstrip('#')}")
        ids = (name, f"gid://shopify/Order/{name}")
        row = self.conn.execute(
            "SELECT * FROM order_journal WHERE shop = ? AND (order_name IN (?, ?) "
            "OR shopify_order_id IN (?, ?)) ORDER BY updated_at DESC LIMIT 1",
            (shop, *names, *ids)).fetchone()
        return _journal(row) if row else None

    def journal_states(self, states: Sequence[str]) -> list[dict[str, Any]]:
        """Journal rows of every shop in the given states, by shop and age."""
        marks = ",".join("?" for _ in states)
        rows = self.conn.execute(
            f"SELECT * FROM order_journal WHERE state IN ({marks}) ORDER BY shop, updated_at",
            tuple(states)).fetchall()
        return [_journal(r) for r in rows]

    # -- customers cache ------------------------------------------------------------------------

    def customer_get(self, email: str) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT * FROM customers WHERE email = ?", (email,)).fetchone()
        return dict(row) if row else None

    def customer_put(self, email: str, state: str, rackbeat_number: int | None = None,
                     attempt_at: str | None = None) -> None:
        self.conn.execute(  # one statement: its own transaction
            "INSERT INTO customers (email, rackbeat_number, state, attempt_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (email) DO UPDATE SET "
            "rackbeat_number = excluded.rackbeat_number, state = excluded.state, "
            "attempt_at = excluded.attempt_at, updated_at = excluded.updated_at",
            (email, rackbeat_number, state, attempt_at, utcnow()),
        )

    # -- generic read for `status` and tests ----------------------------------------------------

    def count(self, table: str, where: str = "", args: tuple[Any, ...] = ()) -> int:
        if table not in _TABLES:
            raise ValueError(f"unknown table {table!r}")
        sql = f"SELECT COUNT(*) FROM {table}" + (f" WHERE {where}" if where else "")
        return int(self.conn.execute(sql, args).fetchone()[0])

    def dump(self) -> dict[str, list[dict[str, Any]]]:
        """Every row of every table (for tests that scan the store for secrets)."""
        return {t: [dict(r) for r in self.conn.execute(f"SELECT * FROM {t}")] for t in _TABLES}


_TABLES = (
    "runs", "cursors", "mappings", "order_journal", "customers", "stock_pushed",
    "stock_batches", "record_hashes", "failures", "init_journal", "webhook_queue",
    "webhook_seen", "webhook_tokens", "fulfillment_journal", "contract", "contract_probes",
)


def _journal(row: sqlite3.Row) -> dict[str, Any]:
    data = dict(row)
    data["detail"] = json.loads(data.get("detail") or "{}")
    return data


def _split_sql(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def _run(row: sqlite3.Row) -> RunRecord:
    return RunRecord(
        id=int(row["id"]),
        job=str(row["job"]),
        shop=row["shop"],
        started_at=str(row["started_at"]),
        finished_at=row["finished_at"],
        outcome=str(row["outcome"]),
        dry_run=bool(row["dry_run"]),
        pid=int(row["pid"]),
        summary=json.loads(row["summary"] or "{}"),
    )


class JobLock:
    """An exclusive lock per (state store, job, shop), held with ``fcntl.flock``.

    The OS releases the lock when the holder dies, however it dies, so a stale lock from a dead
    process is simply taken over. The holder writes ``pid host since`` into the file so a second
    run can say who holds it.

    Args:
        store_path: The state database path; lock files live in ``<store>.locks/``.
        job: Job name, e.g. ``sync-orders``.
        shop: Shop name (or ``*`` for jobs across shops).
    """

    def __init__(self, store_path: Path, job: str, shop: str) -> None:
        folder = Path(str(store_path) + ".locks")
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.name = f"{job}:{shop}"
        self.path = folder / f"{_safe(job)}--{_safe(shop)}.lock"
        self._fd: int | None = None

    def acquire(self) -> JobLock:
        """Take the lock or raise at once.

        Raises:
            LockHeldError: Another live process holds it (its PID is in the message).
        """
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise LockHeldError(self.name, *holder) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {socket.gethostname()} {utcnow()}\n".encode())
        os.fsync(fd)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> JobLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    @staticmethod
    def holders(store_path: Path) -> list[dict[str, Any]]:
        """Locks currently held (for ``rackshop status``)."""
        folder = Path(str(store_path) + ".locks")
        held: list[dict[str, Any]] = []
        if not folder.is_dir():
            return held
        for path in sorted(folder.glob("*.lock")):
            fd = os.open(path, os.O_RDWR)
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    fcntl.flock(fd, fcntl.LOCK_UN)
                except BlockingIOError:
                    pid, host, since = _read_holder(fd)
                    held.append({"lock": path.stem.replace("--", ":"), "pid": pid,
                                 "host": host, "since": since})
            finally:
                os.close(fd)
        return held


def _read_holder(fd: int) -> tuple[int, str, str]:
    # The holder writes its line right after locking; give it a moment if we raced that write.
    for _ in range(20):
        text = os.pread(fd, 256, 0).decode("utf-8", "replace").split()
        if len(text) >= 3:
            try:
                return int(text[0]), text[1], text[2]
            except ValueError:
                break
        time.sleep(0.01)
    return 0, "unknown host", "unknown time"


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)


def put_record_hash(c: sqlite3.Connection, job: str, shop: str, key: str, value: str,
                    now: str) -> None:
    """Record (or replace) one row of ``record_hashes`` inside the caller's transaction."""
    c.execute(
        "INSERT INTO record_hashes (job, shop, key, hash, updated_at) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (job, shop, key) "
        "DO UPDATE SET hash = excluded.hash, updated_at = excluded.updated_at",
        (job, shop, key, value, now),
    )


def drop_record_hash(c: sqlite3.Connection, job: str, shop: str, key: str) -> None:
    """Delete one row of ``record_hashes`` inside the caller's transaction."""
    c.execute("DELETE FROM record_hashes WHERE job = ? AND shop = ? AND key = ?",
              (job, shop, key))
