"""What init-sync's preview holds and shows: the counts, units per location, warnings, and the
plan's rows streamed from the spool.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from rackshop.sync.initial_spool import Spool

PERMANENT_WARNING = (
    "Rackbeat cannot delete a product, or turn it into a BOM, once stock has been registered for "
    "it: the products and stock this import brings into Rackbeat are there for good.")

PREVIEW_COLUMNS = ("action", "sku", "rackbeat number", "name", "location", "quantity", "note")
"""Columns of :meth:`InitPreview.rows`."""


@dataclass(frozen=True)
class LocationTotals:
    """The stock announced for one Rackbeat location.

    Attributes:
        location: The Rackbeat location number.
        name: Its name.
        adjustments: Adjustments registered there (those an interrupted attempt did included).
        units: Units Rackbeat holds there afterwards for those items.
        change: Units added (negative: removed, possible with ``--overwrite-stock``).
        kept: Items whose different Rackbeat count is kept.
    """

    location: int
    name: str
    adjustments: int = 0
    units: Decimal = Decimal(0)
    change: Decimal = Decimal(0)
    kept: int = 0


@dataclass
class InitPreview:
    """What an init-sync of one shop will do (see :func:`preview_init_sync`).

    The lists live in a temporary spool; :meth:`close` removes it (also when the object is
    garbage collected). Use it as a context manager.

    Attributes:
        shop: The shop's name.
        generation: Which init-sync of the shop this is (1 for the first; ``--again`` adds one).
        resumed: True when it resumes an interrupted init-sync (its work so far is kept).
        skip_inventory: ``--skip-inventory``.
        overwrite_stock: ``--overwrite-stock``.
        again: ``--again``.
        counts: ``variants``, ``products``, ``to_create``, ``created_earlier``, ``linked``,
            ``without_sku``, ``duplicate_skus``, ``duplicate_variants``, ``invalid``,
            ``stock_register``, ``stock_registered_earlier``, ``stock_resume``, ``stock_kept``,
            ``stock_same``, ``stock_not_imported``, ``negative_quantities``, ``unmapped_units``.
        locations: Per Rackbeat location, the adjustments and units announced.
        warnings: For the user, the permanent-effect warning first.
        marker: Written into every adjustment's reason (finds this init-sync's adjustments).
    """

    shop: str
    generation: int
    resumed: bool
    skip_inventory: bool
    overwrite_stock: bool
    again: bool
    counts: dict[str, int]
    locations: list[LocationTotals]
    warnings: list[str]
    marker: str
    location_names: dict[int, str]
    sources: dict[int, tuple[str, ...]]
    created_at: str
    _spool: Spool = field(repr=False)
    new_groups: dict[int, dict[str, Any]] = field(default_factory=dict)
    """Rackbeat product groups to create (``products.create_groups``): number -> ``name``,
    ``vat_domestic``, ``has_inventory``."""

    # -- lifetime --------------------------------------------------------------------------

    def close(self) -> None:
        """Remove the spool (the preview can no longer be listed or applied)."""
        self._spool.close()

    @property
    def closed(self) -> bool:
        return self._spool.closed

    def __enter__(self) -> InitPreview:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- what it announces -----------------------------------------------------------------

    @property
    def products_to_create(self) -> int:
        """New Rackbeat products (those an interrupted attempt created included)."""
        return self.counts.get("to_create", 0) + self.counts.get("created_earlier", 0)

    @property
    def writes_anything(self) -> bool:
        """Whether applying would write to Rackbeat at all."""
        c = self.counts
        return bool(c.get("to_create") or c.get("stock_register") or c.get("stock_resume")
                    or self.new_groups)

    def summary(self) -> list[tuple[str, str]]:
        """The preview as ``(what, how many)`` rows for a two-column table."""
        c = self.counts
        head = f"#{self.generation}"
        if self.resumed:
            head += " (resuming an interrupted run)"
        rows = [("shop", self.shop), ("init-sync", head),
                ("Shopify variants read", str(c.get("variants", 0))),
                ("products to create in Rackbeat", _with_earlier(
                    self.products_to_create, c.get("created_earlier", 0), "created")),
                ("SKUs already in Rackbeat (linked, left unchanged)", str(c.get("linked", 0))),
                ("variants without SKU (left out)", str(c.get("without_sku", 0))),
                ("duplicate SKUs (left out)", f"{c.get('duplicate_skus', 0)} SKUs on "
                 f"{c.get('duplicate_variants', 0)} variants")]
        if self.new_groups:
            rows.append(("product groups to create in Rackbeat", ", ".join(
                f"{n} {g['name']}" for n, g in sorted(self.new_groups.items()))))
        if c.get("invalid"):
            rows.append(("variants that cannot be mapped (left out)", str(c["invalid"])))
        if self.skip_inventory:
            rows.append(("stock", "not registered (--skip-inventory)"))
        for t in self.locations:
            rows.append((f"stock to register at Rackbeat location {t.location} {t.name}",
                         f"{t.adjustments} adjustments, {fmt_units(t.units)} units"
                         + (f" (net {signed_units(t.change)})" if t.change != t.units else "")))
        if not self.skip_inventory:
            if c.get("stock_registered_earlier") or c.get("stock_resume"):
                rows.append(("of these, registered by the interrupted run",
                             f"{c.get('stock_registered_earlier', 0)} (and "
                             f"{c.get('stock_resume', 0)} to settle by reading Rackbeat)"))
            rows.append(("stock Rackbeat already has (not imported)",
                         str(c.get("stock_kept", 0))))
            rows.append(("stock not imported (BOM, no inventory, untracked)",
                         str(c.get("stock_not_imported", 0))))
            if c.get("negative_quantities"):
                rows.append(("negative Shopify quantities (counted as 0)",
                             str(c["negative_quantities"])))
            if c.get("unmapped_units"):
                rows.append(("units at unmapped Shopify locations (not imported)",
                             str(c["unmapped_units"])))
        return rows

    def rows(self, limit: int | None = None) -> list[tuple[str, ...]]:
        """The listing (:data:`PREVIEW_COLUMNS`): products, then stock, then notes.

        Args:
            limit: At most this many rows per action (``None``: all).
        """
        out: list[tuple[str, ...]] = []
        counts: dict[str, int] = {}

        def take(label: str) -> bool:
            counts[label] = counts.get(label, 0) + 1
            return limit is None or counts[label] <= limit

        for r in self._spool.conn.execute(
                "SELECT action, state, sku, number, name, label, reason FROM plan_products "
                "ORDER BY CASE action WHEN 'create' THEN 0 WHEN 'link' THEN 1 WHEN 'duplicate' "
                "THEN 2 WHEN 'no_sku' THEN 3 ELSE 4 END, seq"):
            action, state, sku, number, name, label, reason = r
            shown = {"no_sku": "no SKU"}.get(action, action)
            if state == "done":
                reason = "created by the interrupted run" + (f"; {reason}" if reason else "")
            if take(shown):
                out.append((shown, sku, number, name or label, "", "", reason))
        for r in self._spool.conn.execute(
                "SELECT action, state, sku, number, location, before, after, shopify, reason "
                "FROM plan_stock ORDER BY CASE action WHEN 'register' THEN 0 WHEN 'keep' THEN 1 "
                "WHEN 'same' THEN 2 ELSE 3 END, seq"):
            action, state, sku, number, location, before, after, shopify, reason = r
            shown = {"register": "stock", "keep": "stock kept", "same": "stock same",
                     "skip": "stock skipped"}[action]
            where = f"{location} {self.location_names.get(int(location), '')}".strip()
            if action == "register":
                qty = f"{fmt_units(Decimal(before))} -> {fmt_units(Decimal(after))}"
                note = {"done": "registered by the interrupted run",
                        "resume": "interrupted: settled by reading Rackbeat first"}.get(state, "")
            else:
                qty = f"{fmt_units(Decimal(before))} (Shopify {shopify})"
                note = reason
            if take(shown):
                out.append((shown, sku, number, "", where, qty, note))
        for sku, text in self._spool.conn.execute("SELECT sku, text FROM notes ORDER BY seq"):
            if take("note"):
                out.append(("note", sku, "", "", "", "", text))
        return out

    def products(self, action: str = "create") -> Iterator[dict[str, Any]]:
        """The product decisions of one action (``create``, ``link``, ``no_sku``,
        ``duplicate``, ``invalid``): ``sku``, ``number``, ``name``, ``state``, ``reason`` and,
        for creates, ``payload`` (the exact ``POST /products`` body)."""
        for r in self._spool.conn.execute(
                "SELECT sku, number, name, state, reason, payload, variant_id FROM plan_products "
                "WHERE action = ? ORDER BY seq", (action,)):
            yield {"sku": r[0], "number": r[1], "name": r[2], "state": r[3], "reason": r[4],
                   "payload": json.loads(r[5]) if r[5] else None, "variant_id": r[6]}

    def stock(self) -> Iterator[dict[str, Any]]:
        """Every stock decision: ``number``, ``location``, ``action``, ``before``, ``after``
        (what Rackbeat holds there afterwards), ``shopify``, ``state``, ``reason``."""
        for r in self._spool.conn.execute(
                "SELECT sku, number, location, action, before, after, shopify, state, reason "
                "FROM plan_stock ORDER BY seq"):
            yield {"sku": r[0], "number": r[1], "location": int(r[2]), "action": r[3],
                   "before": Decimal(r[4]), "after": Decimal(r[5]), "shopify": int(r[6]),
                   "state": r[7], "reason": r[8]}


def _with_earlier(total: int, earlier: int, verb: str) -> str:
    return f"{total}" + (f" ({earlier} {verb} by the interrupted run)" if earlier else "")


def fmt_units(value: Decimal) -> str:
    if value == value.to_integral_value():
        return str(int(value))
    return f"{value.normalize():f}"


def signed_units(value: Decimal) -> str:
    return ("+" if value >= 0 else "") + fmt_units(value)
