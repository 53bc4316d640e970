"""What ``check --contract`` observed, recorded in the state store (table ``contract``), and how the
jobs adapt to it: :class:`StockAdapter`, :func:`customer_lookup_params`,
:func:`adapt_rackbeat_client`.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rackshop.contract.report import MINUS_BOOKED_LINES, MINUS_IN_ORDER, REPORTED, ContractReport
from rackshop.rackbeat.client import MAX_PAGE_SIZE, RackbeatClient
from rackshop.store import Store, utcnow


def record(store: Store, report: ContractReport) -> int:
    """Write every probe that has a key into the ``contract`` table (replacing the previous
    observation of the same key); returns how many rows."""
    rows = [(p.api, p.key, json.dumps(p.value), p.verdict, utcnow())
            for p in report.probes if p.key is not None]
    with store.transaction() as conn:
        conn.executemany("INSERT OR REPLACE INTO contract (api, key, value, verdict, "
                         "observed_at) VALUES (?, ?, ?, ?, ?)", rows)
    return len(rows)


@dataclass(frozen=True)
class Contract:
    """What ``check --contract`` last observed (empty: assume the twin's choices)."""

    values: Mapping[tuple[str, str], Any] = field(default_factory=dict)

    def get(self, api: str, key: str, default: Any = None) -> Any:
        return self.values.get((api, key), default)

    @property
    def per_location(self) -> str:
        return str(self.get("rackbeat", "per_location", REPORTED))

    @property
    def report_filter(self) -> str:
        return str(self.get("rackbeat", "report_filter", "server"))

    @property
    def customer_lookup(self) -> str:
        return str(self.get("rackbeat", "customer_lookup", "search"))

    @property
    def page_limit(self) -> int:
        return int(self.get("rackbeat", "page_limit", MAX_PAGE_SIZE) or MAX_PAGE_SIZE)

    @property
    def rate_limit(self) -> int | None:
        value = self.get("rackbeat", "rate_limit")
        return int(value) if value else None

    @property
    def line_price(self) -> str:
        """``unit`` (the default) or ``total``: what an order line's ``line_price`` is."""
        return str(self.get("rackbeat", "line_price", "unit"))


def load_path(path: Path) -> Contract:
    """The recorded contract, read from the store file without opening it for writing
    (empty when there is no store or no observation)."""
    if not Path(path).exists():
        return Contract()
    try:
        conn = sqlite3.connect(f"file:{Path(path)}?mode=ro", uri=True)
        try:
            rows = conn.execute("SELECT api, key, value FROM contract").fetchall()
        finally:
            conn.close()
    except sqlite3.Error:
        return Contract()
    return Contract({(str(r[0]), str(r[1])): json.loads(r[2]) for r in rows})


def load(store: Store | None) -> Contract:
    """The recorded contract (empty when never probed or no store)."""
    if store is None:
        return Contract()
    try:
        rows = store.conn.execute("SELECT api, key, value FROM contract").fetchall()
    except sqlite3.Error:  # an older store: never probed
        return Contract()
    return Contract({(str(r[0]), str(r[1])): json.loads(r[2]) for r in rows})


def adapt_rackbeat_client(client: RackbeatClient, contract: Contract) -> None:
    """Page size, pacing and line prices from the recorded contract (no-op when nothing
    differs)."""
    client.max_page_size = min(MAX_PAGE_SIZE, contract.page_limit)
    client.line_price_is_total = contract.line_price == "total"
    limit = contract.rate_limit
    if limit and client.limiter is not None and limit < client.limiter.per_minute:
        client.limiter.per_minute = limit
        client.limiter.allowed = limit - limit // 50


def customer_lookup_params(contract: Contract, email: str) -> dict[str, str] | None:
    """How ``sync-orders`` asks for a customer by e-mail: ``search`` (the default),
    ``simple_filter[contact_email]``, or ``None``: page every customer and match locally."""
    mode = contract.customer_lookup
    if mode == "simple_filter":
        return {"simple_filter[contact_email]": email}
    if mode == "all":
        return None
    return {"search": email}


def _sku(number: str) -> str:
    from rackshop.sync.product_values import sku_key

    return sku_key(number)


class StockAdapter:
    """Per-location availability as the recorded contract allows (sync-stock's hook).

    ``mode`` ``reported`` reads ``available_quantity``; ``stock-minus-in-order`` subtracts each
    location's ``in_order_quantity`` from its ``stock_quantity``; ``stock-minus-booked-lines``
    subtracts the booked, not yet shipped order lines (their ``location``; a BOM line reserves
    its components), read once per pass from ``GET /orders``, and then works out each BOM's
    sets from its components (:meth:`finish`).

    Args:
        contract: The recorded contract.
        orders: Returns every order (called once, only in ``stock-minus-booked-lines``).
        boms: BOM SKU key -> [(component SKU key, quantity)], as sync-stock reads them.
    """

    def __init__(self, contract: Contract,
                 orders: Callable[[], Iterable[Mapping[str, Any]]] | None = None,
                 boms: Mapping[str, Sequence[tuple[str, float]]] | None = None) -> None:
        self.mode = contract.per_location
        self.local_filter = contract.report_filter == "local"
        self._orders = orders
        self.boms = dict(boms or {})
        self._reserved: dict[tuple[str, int], float] | None = None

    @classmethod
    def for_runtime(cls, runtime: Any, store: Store | None,
                    boms: Mapping[str, Sequence[tuple[str, float]]] | None = None
                    ) -> StockAdapter:
        client = runtime.rackbeat()
        return cls(load(store), lambda: client.iter_list("orders", page_size=MAX_PAGE_SIZE),
                   boms)

    def report_filters(self, filters: list[dict[str, str]]) -> list[dict[str, str]]:
        """The report reads for a narrowed pass: the whole report when the account refuses
        ``simple_filter[number]`` (the caller keeps only the rows in scope)."""
        if self.local_filter and any(filters):
            return [{}]
        return filters

    def reserved(self) -> dict[tuple[str, int], float]:
        """(SKU key, location) -> units booked and not yet shipped (BOM lines exploded)."""
        if self._reserved is None:
            out: dict[tuple[str, int], float] = {}
            for order in (self._orders() if self._orders else ()):
                if not order.get("is_booked") or order.get("is_shipped"):
                    continue
                for line in order.get("lines") or []:
                    add_line_reservation(out, line, self.boms)
            self._reserved = out
        return self._reserved

    def per_location(self, item: Mapping[str, Any]) -> dict[int, float]:
        """Location number -> available quantity of one stock-report row."""
        per: dict[int, float] = {}
        key = _sku(str(item.get("number") or ""))
        for loc in item.get("locations") or []:
            number = int(loc["number"])
            stock = float(loc.get("stock_quantity") or 0)
            if self.mode == REPORTED and loc.get("available_quantity") is not None:
                per[number] = float(loc["available_quantity"])
            elif self.mode in (REPORTED, MINUS_IN_ORDER) and \
                    loc.get("in_order_quantity") is not None:
                per[number] = stock - float(loc["in_order_quantity"])
            else:
                per[number] = stock - self.reserved().get((key, number), 0.0)
        return per

    def finish(self, stock: dict[str, dict[int, float]]) -> dict[str, dict[int, float]]:
        """In ``stock-minus-booked-lines``: each BOM's available sets per location from its
        components' availability (the report's own BOM figures subtract nothing)."""
        if self.mode != MINUS_BOOKED_LINES:
            return stock
        for lot, parts in self.boms.items():
            if lot not in stock or not parts:
                continue
            for loc in list(stock[lot]):
                sets = [math.floor(stock.get(part, {}).get(loc, 0.0) / qty)
                        for part, qty in parts if qty > 0 and part in stock]
                if sets:  # the components' reservations include this BOM's own lines
                    stock[lot][loc] = float(min(sets))
        return stock


def add_line_reservation(out: dict[tuple[str, int], float], line: Mapping[str, Any],
                         boms: Mapping[str, Sequence[tuple[str, float]]]) -> None:
    """Add one booked order line's open units to ``out`` at its location (pure but for
    ``out``). A BOM line reserves its own sets and each component's units."""
    item = line.get("item") if isinstance(line.get("item"), Mapping) else {}
    number = (item or {}).get("number") or line.get("item_id") or line.get("child_id")
    loc = line.get("location") if isinstance(line.get("location"), Mapping) else None
    loc_no = (loc or {}).get("number") or line.get("location_id")
    if number in (None, "") or loc_no in (None, ""):
        return
    left = float(line.get("quantity") or 0) - float(line.get("shipped_quantity") or 0)
    if left <= 0:
        return
    key = _sku(str(number))
    where = int(loc_no)
    if key in boms:
        out[(key, where)] = out.get((key, where), 0.0) + left
        for part, qty in boms[key]:
            out[(part, where)] = out.get((part, where), 0.0) + left * qty
    else:
        out[(key, where)] = out.get((key, where), 0.0) + left
