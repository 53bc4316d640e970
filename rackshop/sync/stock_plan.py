"""Pure parts of ``sync-stock``: what each shop should show, and what has to change.

No I/O and no clock: the job reads, these functions decide, the job writes.

The target of an item at a Shopify location (DESIGN section 4, "Stock without overselling")::

    target = floor(Σ available in the mapped Rackbeat locations, children included)
             − units of orders Shopify has taken, in any shop, that Rackbeat has not booked
             − the shop's buffer
             (never below zero)

An order on its way is subtracted in every shop and at every location of a shop, because
nobody knows yet which location will ship it: that may undersell a unit for a few minutes, and
never oversells.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


def location_closure(locations: Iterable[Mapping[str, Any]],
                     chosen: Sequence[int] | None) -> set[int]:
    """The Rackbeat locations ``chosen`` stands for: each with all its descendants.

    Args:
        locations: Every Rackbeat location (``number``, ``parent_id`` = the parent's number).
        chosen: Location numbers, or ``None`` for every location.
    """
    every = {int(loc["number"]): loc.get("parent_id") for loc in locations}
    if chosen is None:
        return set(every)
    children: dict[int, list[int]] = {}
    for number, parent in every.items():
        if parent is not None:
            children.setdefault(int(parent), []).append(number)
    out: set[int] = set()
    todo = [int(n) for n in chosen]
    while todo:
        n = todo.pop()
        if n in out:
            continue
        out.add(n)
        todo += children.get(n, [])
    return out


def available_in(per_location: Mapping[int, float], locations: set[int]) -> int:
    """Whole units available in ``locations`` (fractions are not sellable: rounded down)."""
    total = sum(float(q) for loc, q in per_location.items() if loc in locations)
    return max(0, math.floor(total + 1e-9))


def target_quantity(available: int, in_flight: int, buffer: int) -> int:
    """What the shop should offer: available − orders on their way − buffer, never below 0."""
    return max(0, available - in_flight - buffer)


@dataclass(frozen=True)
class Change:
    """One quantity to set at one Shopify location."""

    sku: str
    inventory_item_id: str
    location_id: str
    quantity: int
    previous: int | None  # what rackshop last pushed (or Shopify showed, with --full)
    activate: bool = False  # the item is not stocked at the location yet


@dataclass
class ShopPlan:
    """What a pass will do for one shop."""

    changes: list[Change] = field(default_factory=list)
    checked: int = 0
    unchanged: int = 0
    skipped: dict[str, set[str]] = field(default_factory=dict)  # reason code -> SKUs

    def skip(self, reason: str, sku: str) -> None:
        self.skipped.setdefault(reason, set()).add(sku)

    def zeroing(self) -> int:
        """How many changes set an item to zero that showed stock (or was never pushed)."""
        return sum(1 for c in self.changes if c.quantity == 0 and (c.previous is None
                                                                   or c.previous > 0))


def breaker_trips(plan: ShopPlan, tracked_items: int, share: float,
                  minimum_items: int = 5) -> bool:
    """The circuit breaker: would this pass zero more than ``share`` of the tracked items?

    A handful of items is too few to judge; below ``minimum_items`` the breaker stays quiet.
    """
    if tracked_items < minimum_items:
        return False
    return plan.zeroing() > share * tracked_items


def batches(changes: Sequence[Change], size: int = 250) -> list[list[Change]]:
    """Changes in batches of at most ``size`` (Shopify's input array limit), in a stable order."""
    ordered = sorted(changes, key=lambda c: (c.location_id, c.inventory_item_id))
    return [ordered[i:i + size] for i in range(0, len(ordered), size)]


def batch_key(shop: str, batch: Sequence[Change]) -> str:
    """The idempotency key of a batch: the same transition always gets the same key.

    It names the shop and every (item, location, from, to) of the batch, so a retry or a rerun
    after a crash sends the same key (and Shopify applies it once), while the same target
    reached again later from another level is a different transition with a different key.
    """
    body = json.dumps([shop, [[c.inventory_item_id, c.location_id, c.previous, c.quantity]
                              for c in batch]], separators=(",", ":"))
    return "rackshop-stock-" + hashlib.sha256(body.encode()).hexdigest()[:40]
