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

A BOM (a Rackbeat "lot") holds no stock of its own. A BOM line on its way is held back on the
BOM and, exploded by Rackbeat's BOM definition (nested BOMs too), on every component; what a
shop may offer of a BOM is how many whole sets the components' own offer makes::

    sets = min over components c of floor((available_c − on_their_way_c) / per_set_c)

so an order for the component alone lowers the BOM too, and an order for the BOM lowers the
component. Components without inventory (services) do not limit the sets.
"""

from __future__ import annotations

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


Bom = Mapping[str, Sequence[tuple[str, float]]]
"""SKU key of a BOM -> (SKU key of a component, units per set) for each of its lines."""

#: How deep BOMs may nest before the definition is taken for a loop.
MAX_BOM_DEPTH = 8


def explode(units: Mapping[str, int], boms: Bom) -> dict[str, int]:
    """Units on their way per SKU key, with every BOM's units added to its components.

    The BOM keeps its own units as well (its listing is held back through its components, and
    the count names it in reports). Nested BOMs explode all the way down; a definition that
    loops is cut at :data:`MAX_BOM_DEPTH` levels.

    Args:
        units: SKU key -> units taken by orders on their way, as the orders name them.
        boms: BOM definitions (:data:`Bom`).
    """
    out: dict[str, float] = {}

    def add(key: str, qty: float, depth: int) -> None:
        out[key] = out.get(key, 0.0) + qty
        if depth >= MAX_BOM_DEPTH:
            return
        for part, per in boms.get(key, ()):
            add(part, qty * per, depth + 1)

    for key, qty in units.items():
        if qty:
            add(key, float(qty), 0)
    return {k: math.ceil(v - 1e-9) for k, v in out.items()}


def sellable(key: str, available: Mapping[str, int], on_their_way: Mapping[str, int],
             boms: Bom, _depth: int = 0) -> int:
    """What may be offered of one item before the buffer: available − on its way, for a BOM
    the whole sets its components make (see the module docstring), never below zero.

    Args:
        key: SKU key.
        available: SKU key -> whole units available in the locations that feed the shop
            location (items without inventory are absent).
        on_their_way: SKU key -> units on their way, exploded (:func:`explode`).
        boms: BOM definitions.
    """
    parts = [(p, per) for p, per in boms.get(key, ()) if per > 0]
    limiting = [(p, per) for p, per in parts if p in available or p in boms]
    if not limiting or _depth >= MAX_BOM_DEPTH:
        return max(0, available.get(key, 0) - on_their_way.get(key, 0))
    return max(0, min(math.floor(sellable(p, available, on_their_way, boms, _depth + 1) / per
                                 + 1e-9) for p, per in limiting))


@dataclass(frozen=True)
class Change:
    """One quantity to set at one Shopify location.

    ``previous`` is the level Shopify showed when the pass read it: it goes out as
    ``changeFromQuantity``, so a sale between the read and the write is never overwritten.
    """

    sku: str
    inventory_item_id: str
    location_id: str
    quantity: int
    previous: int | None  # Shopify's level when read; None: not stocked at the location
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
        """How many changes set an item to zero that showed stock (or was not stocked)."""
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
