"""Eventual consistency, as Shopify shows it: off in the bare twin, on in ``sandbox serve``, the
demo and the end-to-end tests (``Sandbox(consistency=True)``, ``RACKSHOP_SANDBOX_CONSISTENCY``).

Shopify answers reads from more than one store. Its search index and some derived totals catch up
with a write a little later, and bulk operations take time. With :attr:`Consistency.enabled` the
twin does the same, on twin time (``ShopifyTwin.clock``, which a time scale speeds up):

* **Search** (``products``, ``productVariants``, ``productsCount``, ``orders``, ``ordersCount``
  with a ``query:``) matches each record as it was :attr:`~Consistency.search_lag` seconds ago: a
  record created since then is not found; one written since then is matched on its last version
  older than that (what comes back is the record as it is now: only membership lags).
* **Derived totals**: ``Product.totalInventory`` leaves out the ``available`` changes a
  ``productSet`` made in the last :attr:`~Consistency.derived_lag` seconds, except those of the
  write that created the product (recorded: a creating ``productSet`` answers its total at once,
  an updating one does not). The inventory mutations' changes are not lagged (recorded: a read in
  the second of an ``inventorySetQuantities``, ``inventoryAdjustQuantities`` and
  ``inventorySetOnHandQuantities`` shows the total they make).
* **Bulk operations** stay ``CREATED`` for :attr:`~Consistency.bulk_start` seconds, then run for
  ``max(bulk_min_seconds, objects × bulk_seconds_per_object)`` seconds with ``objectCount``
  growing, then complete. A cancel leaves the operation ``CANCELING`` for
  :attr:`~Consistency.cancel_seconds` (cancelling again answers it without error, as recorded).

Sources and unknowns are listed in ``docs/sandbox-shopify.md`` ("Eventual consistency").
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, Protocol

from ..base import Clock

#: Record kinds whose search goes through Shopify's search index.
SEARCHED_KINDS = frozenset({"Product", "ProductVariant", "Order"})


@dataclass
class Consistency:
    """How far the twin's reads trail its writes (twin-seconds). See the module docstring."""

    enabled: bool = False
    search_lag: float = 2.0
    derived_lag: float = 2.0
    bulk_start: float = 1.0
    bulk_seconds_per_object: float = 0.002
    bulk_min_seconds: float = 1.0
    cancel_seconds: float = 2.0

    def update(self, data: dict[str, Any]) -> None:
        """Set the fields named in ``data`` (admin API).

        Raises:
            ValueError: An unknown name or a negative interval.
        """
        known = {f.name for f in fields(self)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown consistency setting(s) {unknown}; known: {sorted(known)}")
        for name, value in data.items():
            if name == "enabled":
                self.enabled = bool(value)
                continue
            number = float(value)
            if number < 0:
                raise ValueError(f"consistency {name} must be >= 0 seconds, got {value!r}")
            setattr(self, name, number)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


ENV_VAR = "RACKSHOP_SANDBOX_CONSISTENCY"


def from_environment(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Settings from ``RACKSHOP_SANDBOX_CONSISTENCY``: unset or empty -> none (the default
    stands: off in the twin, on in ``sandbox serve`` and the demo); ``0`` -> off; ``1`` -> on
    with the defaults; a JSON object -> on with those settings.

    Raises:
        ValueError: The value is neither a flag nor a JSON object.
    """
    raw = (os.environ if environ is None else environ).get(ENV_VAR, "").strip()
    if raw == "":
        return {}
    if raw in ("0", "false", "off"):
        return {"enabled": False}
    if raw in ("1", "true", "on"):
        return {"enabled": True}
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise ValueError(f"{ENV_VAR} must be 1, 0 or a JSON object of settings, not {raw!r}")
    return {"enabled": True, **data}


class _Twin(Protocol):
    @property
    def clock(self) -> Clock: ...
    @property
    def consistency(self) -> Consistency: ...


class _Shop(Protocol):
    """What this module reads of a shop (a state.ShopState; state imports this module)."""

    @property
    def twin(self) -> _Twin: ...

    search_history: dict[str, list[tuple[float, dict[str, Any]]]]
    quantity_log: list[tuple[float, str, int]]


def _kind(record: dict[str, Any]) -> str:
    parts = str(record.get("id") or "").split("/")
    return parts[3] if len(parts) > 4 else ""


def record_write(shop: _Shop, record: dict[str, Any]) -> None:
    """Remember a searched record's version as of now (called after every write to it)."""
    settings = shop.twin.consistency
    if not settings.enabled or _kind(record) not in SEARCHED_KINDS:
        return
    now = shop.twin.clock.now()
    history = shop.search_history.get(record["id"])
    snapshot = copy.deepcopy(record)
    if history is None:
        history = []
        if record.get("createdAt") != record.get("updatedAt"):
            # Written before the model saw it: its state before this write is unknown, so it
            # stays findable as it is now (documented).
            history.append((float("-inf"), snapshot))
        shop.search_history[record["id"]] = history
    history.append((now, snapshot))
    # Versions older than the newest one past the lag are never needed again.
    cutoff = now - settings.search_lag
    while len(history) > 1 and history[1][0] <= cutoff:
        history.pop(0)


def indexed(shop: _Shop, record: dict[str, Any]) -> dict[str, Any] | None:
    """The version of a record the search index holds now (``None``: not indexed yet)."""
    settings = shop.twin.consistency
    if not settings.enabled:
        return record
    history = shop.search_history.get(record.get("id") or "")
    if not history:
        return record
    cutoff = shop.twin.clock.now() - settings.search_lag
    seen = [snap for t, snap in history if t <= cutoff]
    return seen[-1] if seen else None


def searchable(shop: _Shop, record: dict[str, Any], matches: Any) -> bool:
    """Whether the search index, as it stands now, finds ``record`` with ``matches``."""
    view = indexed(shop, record)
    return view is not None and bool(matches(view))


def record_quantity(shop: _Shop, item_id: str, name: str, delta: int) -> None:
    """Remember a quantity change for the lag of derived totals."""
    settings = shop.twin.consistency
    if not settings.enabled or name != "available" or not delta:
        return
    now = shop.twin.clock.now()
    log = shop.quantity_log
    log.append((now, item_id, delta))
    while log and log[0][0] < now - settings.derived_lag:
        log.pop(0)


def recent_available(shop: _Shop, item_ids: set[str], product_id: str | None = None) -> int:
    """The ``available`` change of these items within the derived-total lag, leaving out what
    the write that created the product set (recorded, product-set-parity: a creating
    ``productSet`` answers the ``totalInventory`` its quantities make, 7; an updating one that
    sets 10 still answers 7, and so does a read right after it)."""
    settings = shop.twin.consistency
    if not settings.enabled:
        return 0
    cutoff = shop.twin.clock.now() - settings.derived_lag
    history = shop.search_history.get(product_id or "")
    if history:
        cutoff = max(cutoff, history[0][0])  # -inf for a product made before the model
    return sum(d for t, item, d in shop.quantity_log if t > cutoff and item in item_ids)


def bulk_schedule(settings: Consistency, started: float, objects: int) -> tuple[float, float]:
    """(running from, completed at) for a bulk operation of ``objects`` objects."""
    running = started + settings.bulk_start
    duration = max(settings.bulk_min_seconds, objects * settings.bulk_seconds_per_object)
    return running, running + duration
