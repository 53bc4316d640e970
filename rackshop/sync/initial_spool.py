"""The temporary SQLite spool that init-sync streams its reads into (memory stays flat however
large the shop), and Rackbeat's item list and stock report read into it.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import sqlite3
import tempfile
import weakref
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from rackshop.rackbeat.client import RackbeatClient
from rackshop.sync.product_values import sku_key
from rackshop.sync.runner import ProgressSink

#: Items per Rackbeat list page (the API's maximum).
RACKBEAT_PAGE = 1000

#: Rows per executemany into the spool.
SPOOL_BATCH = 500

_SCHEMA = """
CREATE TABLE products (id TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE variants (seq INTEGER PRIMARY KEY, id TEXT NOT NULL, product_id TEXT NOT NULL,
                       key TEXT NOT NULL, item_id TEXT, data TEXT NOT NULL);
CREATE INDEX variants_by_product ON variants (product_id);
CREATE TABLE items (id TEXT PRIMARY KEY, tracked INTEGER NOT NULL);
CREATE TABLE levels (item_id TEXT NOT NULL, location_id TEXT NOT NULL, qty INTEGER NOT NULL);
CREATE INDEX levels_by_item ON levels (item_id);
CREATE TABLE rb_items (snap TEXT NOT NULL, key TEXT NOT NULL, number TEXT NOT NULL,
                       type TEXT NOT NULL, keeps_stock INTEGER NOT NULL DEFAULT 0,
                       PRIMARY KEY (snap, key));
CREATE TABLE rb_stock (snap TEXT NOT NULL, key TEXT NOT NULL, location INTEGER NOT NULL,
                       qty TEXT NOT NULL, PRIMARY KEY (snap, key, location));
CREATE TABLE j_products (key TEXT PRIMARY KEY, state TEXT NOT NULL);
CREATE TABLE j_stock (key TEXT NOT NULL, location INTEGER NOT NULL, state TEXT NOT NULL,
                      before TEXT NOT NULL, after TEXT NOT NULL, PRIMARY KEY (key, location));
CREATE TABLE plan_products (seq INTEGER PRIMARY KEY, key TEXT NOT NULL, sku TEXT NOT NULL,
                            number TEXT NOT NULL, action TEXT NOT NULL, state TEXT NOT NULL,
                            reason TEXT NOT NULL, variant_id TEXT, product_id TEXT,
                            label TEXT NOT NULL, name TEXT NOT NULL, payload TEXT,
                            outcome TEXT NOT NULL DEFAULT '');
CREATE INDEX plan_products_by_key ON plan_products (key);
CREATE TABLE plan_stock (seq INTEGER PRIMARY KEY, key TEXT NOT NULL, sku TEXT NOT NULL,
                         number TEXT NOT NULL, location INTEGER NOT NULL, action TEXT NOT NULL,
                         state TEXT NOT NULL, before TEXT NOT NULL, after TEXT NOT NULL,
                         shopify INTEGER NOT NULL, reason TEXT NOT NULL,
                         outcome TEXT NOT NULL DEFAULT '');
CREATE TABLE notes (seq INTEGER PRIMARY KEY, key TEXT NOT NULL, sku TEXT NOT NULL,
                    text TEXT NOT NULL);
"""

SPOOL_PREFIX = "rackshop-init-sync-"


def _sweep_dead_spools(root: str | None = None) -> None:
    """Remove the spool folders of init-syncs whose process died (a kill leaves them behind).

    A folder is named ``rackshop-init-sync-<pid>-<random>``; it is removed only when no
    process with that PID is alive, so a running import's spool is never touched.
    """
    root = root or tempfile.gettempdir()
    for name in os.listdir(root):
        if not name.startswith(SPOOL_PREFIX):
            continue
        pid_text = name[len(SPOOL_PREFIX):].split("-", 1)[0]
        if not pid_text.isdigit():
            continue
        try:
            os.kill(int(pid_text), 0)
        except ProcessLookupError:
            shutil.rmtree(os.path.join(root, name), ignore_errors=True)
        except PermissionError:
            pass  # alive, and someone else's


class Spool:
    """A temporary SQLite database holding what was read and the plan (flat memory)."""

    def __init__(self) -> None:
        _sweep_dead_spools()
        self.folder = tempfile.mkdtemp(prefix=f"{SPOOL_PREFIX}{os.getpid()}-")
        self.conn = sqlite3.connect(os.path.join(self.folder, "spool.sqlite3"),
                                    isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=OFF")
        self.conn.execute("PRAGMA synchronous=OFF")
        self.conn.executescript(_SCHEMA)
        self._finalizer = weakref.finalize(self, _remove_spool, self.conn, self.folder)

    def close(self) -> None:
        self._finalizer()

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    def insert(self, table: str, rows: Iterable[Sequence[Any]]) -> int:
        """Insert rows in batches; returns how many."""
        count = 0
        it = iter(rows)
        while True:
            batch = list(itertools.islice(it, SPOOL_BATCH))
            if not batch:
                return count
            marks = ",".join("?" for _ in batch[0])
            self.conn.executemany(f"INSERT OR REPLACE INTO {table} VALUES ({marks})", batch)
            count += len(batch)

    def one(self, sql: str, args: Sequence[Any] = ()) -> Any:
        row = self.conn.execute(sql, args).fetchone()
        return row[0] if row else None


def _remove_spool(conn: sqlite3.Connection, folder: str) -> None:
    with contextlib.suppress(sqlite3.Error):
        conn.close()
    shutil.rmtree(folder, ignore_errors=True)


def read_rackbeat(rb: RackbeatClient, spool: Spool, snap: str, *, stock: bool,
                   progress: ProgressSink | None, shop: str) -> None:
    """Rackbeat's items (``/items``) and, with ``stock``, the stock report
    (``/reports/checking``), 1,000 a call, into snapshot ``snap`` of the spool. An item in the
    report keeps stock (a product in a group with inventory, or a BOM)."""
    if progress:
        progress.start(f"{shop}: reading Rackbeat items", None)

    def items() -> Iterator[tuple[str, str, str, str, int]]:
        for item in rb.iter_list("items", page_size=RACKBEAT_PAGE):
            number = str(item.get("number") or "")
            if sku_key(number):
                if progress:
                    progress.advance()
                yield (snap, sku_key(number), number, str(item.get("type") or "product"), 0)

    spool.insert("rb_items", items())
    if progress:
        progress.finish()
    if not stock:
        return
    if progress:
        progress.start(f"{shop}: reading Rackbeat stock", None)
    rows: list[tuple[str, str, int, str]] = []
    for row in rb.iter_list("reports/checking", {"show_all_locations": "true"},
                            page_size=RACKBEAT_PAGE):
        key = sku_key(str(row.get("number") or ""))
        if not key:
            continue
        spool.conn.execute("UPDATE rb_items SET keeps_stock = 1 WHERE snap = ? AND key = ?",
                           (snap, key))
        for loc in row.get("locations") or []:
            qty = to_decimal(loc.get("stock_quantity"))
            if loc.get("number") is not None and qty:
                rows.append((snap, key, int(loc["number"]), str(qty)))
        if progress:
            progress.advance()
        if len(rows) >= SPOOL_BATCH:
            spool.insert("rb_stock", rows)
            rows.clear()
    spool.insert("rb_stock", rows)
    if progress:
        progress.finish()


def to_decimal(value: Any) -> Decimal:
    if value is None or value == "":
        return Decimal(0)
    try:
        return Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))
    except InvalidOperation:
        return Decimal(0)
