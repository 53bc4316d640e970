"""Pure planning for ``rackshop init-sync``: what to do with each SKU. No I/O, no clock.

:func:`plan_sku` decides, for the Shopify variants holding one SKU key and the Rackbeat item of
that number (if any), whether a Rackbeat product is created or linked, and which stock is
registered at which Rackbeat location. :mod:`rackshop.sync.initial` feeds it one SKU at a time
(sorted by key from its spool), so a catalogue of any size is planned in flat memory.

The rules (the README's init-sync section says the same for users):

* **Matching.** A variant's SKU is matched to a Rackbeat number by :func:`sku_key` (trimmed,
  case-folded), as Rackbeat looks numbers up. A variant without SKU is listed and left out;
  a SKU held by several variants is listed and left out entirely (which variant's stock would
  it be?), until it is made unique in Shopify.
* **Products.** A SKU Rackbeat does not know becomes a new product; one it knows is *linked*:
  left exactly as it is.
* **Stock target.** Per Rackbeat location: the sum of Shopify's *available* quantity over the
  Shopify locations mapped to it (``initial.location_map``), each negative quantity counted as 0
  (with a note).
* **Only stock that exists nowhere in Rackbeat for the shop.** Stock is registered at a location
  only where Rackbeat holds none of the item in any location feeding it
  (:attr:`PlanOptions.feeding`: the location itself, every Rackbeat location sync-stock shows in
  the Shopify locations mapped to it, and every location any shop's stock is fed from, children
  included), and only when the shop's figure did not come from Rackbeat (sync-stock never pushed
  the item to this shop). Otherwise: "Rackbeat already has N; not imported", listed. With
  ``--overwrite-stock`` the location is set to Shopify's quantity wherever they differ (a Shopify
  0 then sets it to 0 too). A zero change is never sent (Rackbeat refuses it).
* **A second shop's go-live** (:attr:`PlanOptions.live_shop`: another shop is live already)
  imports products and links, and no stock except for the SKUs the user names
  (``--stock-for SKU``, :attr:`PlanOptions.stock_for`): Rackbeat is the stock master by then.
* **No stock** for BOMs (their stock is their components'), for items in a product group without
  inventory, and for variants whose inventory Shopify does not track: listed, not registered.
* **Resuming.** Products and adjustments an earlier, interrupted attempt of the same init-sync
  journalled keep the decision that attempt announced (``done`` when finished, ``resume`` when
  its outcome must be settled by reading Rackbeat), so a rerun never counts a unit twice and
  reports what an uninterrupted run would have.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from rackshop.sync.product_values import sku_key

ProductAction = Literal["create", "link", "no_sku", "duplicate", "invalid"]
"""``create`` a Rackbeat product, ``link`` to the existing one, or leave the variant out:
``no_sku``, ``duplicate`` (SKU held by several variants), ``invalid`` (cannot be mapped)."""

StockAction = Literal["register", "keep", "same", "skip"]
"""``register`` an adjustment; ``keep`` Rackbeat's different count (it has stock there);
``same`` (already equal: nothing to send); ``skip`` (this item's stock is not imported)."""

State = Literal["todo", "done", "resume", "failed"]
"""``todo`` (this run writes it), ``done`` (an earlier attempt of this init-sync did),
``resume`` (an earlier attempt was cut off mid-write: settled by reading Rackbeat first),
``failed`` (set while applying)."""

ZERO = Decimal(0)


@dataclass(frozen=True)
class ShopifyVariant:
    """A Shopify variant as init-sync reads it.

    Attributes:
        variant_id: The variant gid.
        product_id: The product gid.
        sku: The SKU as Shopify has it (``None`` or blank: none).
        label: ``Product / Variant`` title, for listings.
        tracked: Whether Shopify tracks the variant's inventory.
        available: Shopify location gid -> available quantity, where the item is stocked.
    """

    variant_id: str
    product_id: str
    sku: str | None
    label: str
    tracked: bool = True
    available: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class RackbeatStock:
    """The Rackbeat item a SKU matched.

    Attributes:
        number: Rackbeat's number (its spelling; the key matched case-insensitively).
        type: ``product`` or ``lot`` (BOM).
        keeps_stock: Whether stock can be registered for it (a product in a group with
            inventory: it is in Rackbeat's stock report).
        on_hand: Rackbeat location number -> on-hand quantity (absent: 0).
    """

    number: str
    type: str = "product"
    keeps_stock: bool = True
    on_hand: Mapping[int, Decimal] = field(default_factory=dict)


@dataclass(frozen=True)
class JournalledAdjustment:
    """An adjustment an earlier attempt of this init-sync journalled for one location.

    Attributes:
        state: ``creating`` (sent, answer unknown), ``created`` (a draft, not booked yet) or
            ``booked``.
        before: Rackbeat's on-hand quantity that attempt planned from.
        after: The target quantity it registers.
    """

    state: str
    before: Decimal
    after: Decimal


@dataclass(frozen=True)
class PlanOptions:
    """What shapes the plan.

    Attributes:
        location_map: Shopify location gid -> the Rackbeat location number its stock goes to.
        location_names: Shopify location gid -> name, for notes.
        skip_inventory: ``--skip-inventory``: products only.
        overwrite_stock: ``--overwrite-stock``.
        new_items_keep_stock: Whether products created in the default group can hold stock
            (the group has inventory).
        feeding: Rackbeat location -> every Rackbeat location whose stock means "Rackbeat
            already has it" for stock registered there (children included; the location itself
            is always counted).
        live_shop: The name of another shop that is live already (a second shop's go-live:
            stock only for ``stock_for``), or ``None``.
        stock_for: SKU keys whose stock a second shop's go-live imports (``--stock-for``).
    """

    location_map: Mapping[str, int]
    location_names: Mapping[str, str] = field(default_factory=dict)
    skip_inventory: bool = False
    overwrite_stock: bool = False
    new_items_keep_stock: bool = True
    feeding: Mapping[int, frozenset[int]] = field(default_factory=dict)
    live_shop: str | None = None
    stock_for: frozenset[str] = frozenset()

    def feeding_of(self, location: int) -> frozenset[int]:
        """The Rackbeat locations whose stock counts against registering at ``location``."""
        return frozenset({location, *self.feeding.get(location, ())})

    @property
    def rackbeat_locations(self) -> tuple[int, ...]:
        """The Rackbeat locations stock may be registered at, ascending."""
        return tuple(sorted(set(self.location_map.values())))

    def sources(self, location: int) -> tuple[str, ...]:
        """The Shopify locations (gids) whose stock goes to Rackbeat ``location``."""
        return tuple(sorted(g for g, n in self.location_map.items() if n == location))


@dataclass(frozen=True)
class ProductDecision:
    """What happens to one SKU's product.

    Attributes:
        key: The SKU key (``""`` for a variant without SKU).
        sku: The SKU as Shopify spells it, trimmed.
        number: The Rackbeat number (the existing item's spelling, or the SKU for a new one).
        action: See :data:`ProductAction`.
        state: See :data:`State`.
        reason: Why (for everything but a plain create or link).
        variant: The one variant (create, link, no_sku).
        holders: Every variant holding the SKU (several for a duplicate).
    """

    key: str
    sku: str
    number: str
    action: ProductAction
    state: State = "todo"
    reason: str = ""
    variant: ShopifyVariant | None = None
    holders: tuple[ShopifyVariant, ...] = ()


@dataclass(frozen=True)
class StockDecision:
    """What happens to one SKU's stock at one Rackbeat location.

    Attributes:
        key: The SKU key.
        number: The Rackbeat number.
        location: The Rackbeat location number.
        action: See :data:`StockAction`.
        before: Rackbeat's on-hand quantity there when planned.
        after: What Rackbeat holds there afterwards (``before`` unless registered).
        shopify: Shopify's available quantity for it (mapped locations summed, negatives as 0).
        state: See :data:`State` (``todo`` for anything not registered).
        reason: Why (for everything but a plain registration).
    """

    key: str
    number: str
    location: int
    action: StockAction
    before: Decimal
    after: Decimal
    shopify: int
    state: State = "todo"
    reason: str = ""

    @property
    def change(self) -> Decimal:
        """The units the adjustment adds (negative: removes)."""
        return self.after - self.before


@dataclass(frozen=True)
class SkuPlan:
    """The plan for one SKU key.

    Attributes:
        product: The product decision.
        stock: Stock decisions, one per Rackbeat location that has anything to say.
        notes: Warnings about this SKU (negative quantities counted as 0).
        unmapped: (Shopify location gid, quantity) of non-zero stock at Shopify locations that
            are not in the location map (not imported).
    """

    product: ProductDecision
    stock: tuple[StockDecision, ...] = ()
    notes: tuple[str, ...] = ()
    unmapped: tuple[tuple[str, int], ...] = ()


def stock_target(variant: ShopifyVariant, sources: Sequence[str],
                 names: Mapping[str, str] | None = None) -> tuple[int, tuple[str, ...]]:
    """Shopify's quantity for one Rackbeat location, and notes on negatives counted as 0.

    Args:
        variant: The variant.
        sources: The Shopify location gids mapped to the Rackbeat location.
        names: Location gid -> name, for the notes.
    """
    total = 0
    notes: list[str] = []
    for gid in sources:
        qty = int(variant.available.get(gid, 0))
        if qty < 0:
            where = (names or {}).get(gid, gid)
            notes.append(f"Shopify has {qty} available at {where}; counted as 0")
            continue
        total += qty
    return total, tuple(notes)


def adjustment(key: str, number: str, location: int, target: int, current: Decimal, *,
               overwrite: bool) -> StockDecision | None:
    """The stock decision for one location of a SKU that can hold stock (``None``: nothing to
    say, both sides are 0).

    Args:
        key: SKU key.
        number: Rackbeat number.
        location: Rackbeat location.
        target: Shopify's quantity (see :func:`stock_target`).
        current: Rackbeat's on-hand quantity there.
        overwrite: ``--overwrite-stock``.
    """
    goal = Decimal(target)
    if goal == current:
        if goal == 0:
            return None
        return StockDecision(key, number, location, "same", current, current, target,
                             reason="Rackbeat already has the same quantity")
    if current == 0 or overwrite:
        return StockDecision(key, number, location, "register", current, goal, target)
    return StockDecision(
        key, number, location, "keep", current, current, target,
        reason=f"Rackbeat already has {_qty(current)} here; left as it is (Shopify has "
        f"{target}; --overwrite-stock would set it)")


def plan_no_sku(variant: ShopifyVariant) -> SkuPlan:
    """A variant without SKU: listed, not imported."""
    return SkuPlan(ProductDecision(
        "", "", "", "no_sku", reason="no SKU in Shopify, so no Rackbeat item can be matched or "
        "created; give it a SKU and run init-sync --again to import it",
        variant=variant, holders=(variant,)))


def rackbeat_has(key: str, number: str, location: int, target: int,
                 current: Decimal, held: Decimal, why: str) -> StockDecision:
    """The stock decision for Shopify stock that Rackbeat already holds (or gave the shop)."""
    return StockDecision(
        key, number, location, "keep", current, current, target,
        reason=f"Rackbeat already has {_qty(held)}; not imported ({why}; Shopify has {target})")


def plan_sku(key: str, holders: Sequence[ShopifyVariant], rackbeat: RackbeatStock | None,
             options: PlanOptions, *, journal_product: str | None = None,
             journal_stock: Mapping[int, JournalledAdjustment] | None = None,
             pushed: bool = False) -> SkuPlan:
    """Plan one SKU key.

    Args:
        key: The SKU key (:func:`sku_key`, non-empty).
        holders: The Shopify variants holding it (one, or several: a duplicate).
        rackbeat: The Rackbeat item with that number, if any.
        options: Location map and flags.
        journal_product: The product's journal state from an earlier attempt of this init-sync
            (``creating`` / ``created``), if any.
        journal_stock: Rackbeat location -> adjustment journalled by an earlier attempt.
        pushed: sync-stock pushed this item's stock to the shop: its figure is Rackbeat's.

    Returns:
        The product decision, the stock decisions and the notes.
    """
    if not key:
        raise ValueError("plan_sku needs a SKU key; use plan_no_sku for variants without one")
    first = holders[0]
    sku = (first.sku or "").strip()
    if len(holders) > 1:
        ids = ", ".join(h.variant_id.rsplit("/", 1)[-1] for h in holders)
        return SkuPlan(ProductDecision(
            key, sku, rackbeat.number if rackbeat else sku, "duplicate",
            reason=f"SKU held by {len(holders)} variants ({ids}); neither product nor stock is "
            "imported until it is unique in Shopify (then run init-sync --again)",
            holders=tuple(holders)))
    journal_stock = journal_stock or {}
    product, keeps_stock, no_stock_reason = _product_decision(key, sku, first, rackbeat,
                                                              options, journal_product)
    if options.skip_inventory:
        return SkuPlan(product)
    on_hand: Mapping[int, Decimal] = rackbeat.on_hand if rackbeat is not None else {}
    stock: list[StockDecision] = []
    notes: list[str] = []
    for location in options.rackbeat_locations:
        sources = options.sources(location)
        target, negatives = stock_target(first, sources, options.location_names)
        current = Decimal(on_hand.get(location, ZERO))
        journalled = journal_stock.get(location)
        if journalled is not None and keeps_stock:
            stock.append(StockDecision(
                key, product.number, location, "register", journalled.before, journalled.after,
                target, state="done" if journalled.state == "booked" else "resume"))
            continue
        if not first.tracked or not keeps_stock:
            if target:
                why = "Shopify does not track this variant's inventory" if not first.tracked \
                    else no_stock_reason
                stock.append(StockDecision(key, product.number, location, "skip", current,
                                           current, target, reason=f"not registered: {why}"))
            continue
        notes.extend(negatives)
        decision = _stock_decision(key, sku, product.number, location, target, current,
                                   on_hand, options, pushed=pushed)
        if decision is not None:
            stock.append(decision)
    unmapped = tuple((gid, qty) for gid, qty in sorted(first.available.items())
                     if gid not in options.location_map and qty and first.tracked)
    return SkuPlan(product, tuple(stock), tuple(notes), unmapped)


def _product_decision(key: str, sku: str, first: ShopifyVariant, rackbeat: RackbeatStock | None,
                      options: PlanOptions, journal_product: str | None
                      ) -> tuple[ProductDecision, bool, str]:
    """Create or link the product; whether its stock can be registered, and if not, why."""
    if rackbeat is None:
        product = ProductDecision(key, sku, sku, "create", variant=first, holders=(first,))
        return product, options.new_items_keep_stock, (
            "the new product's group (products.default_group) has no inventory in Rackbeat")
    ours = journal_product in ("creating", "created")
    product = ProductDecision(
        key, sku, rackbeat.number, "create" if ours else "link",
        state="done" if ours else "todo",
        reason="" if ours or rackbeat.number == sku else
        f"Rackbeat spells it {rackbeat.number}", variant=first, holders=(first,))
    keeps_stock = rackbeat.type == "product" and rackbeat.keeps_stock
    no_stock_reason = ("a BOM in Rackbeat: its stock is its components' stock"
                       if rackbeat.type != "product" else
                       "the Rackbeat item's group has no inventory")
    return product, keeps_stock, no_stock_reason


def _stock_decision(key: str, sku: str, number: str, location: int, target: int,
                    current: Decimal, on_hand: Mapping[int, Decimal], options: PlanOptions, *,
                    pushed: bool) -> StockDecision | None:
    """What to do with a tracked, stock-keeping item's quantity at one Rackbeat location."""
    feeding = options.feeding_of(location)
    held = sum((Decimal(q) for loc, q in on_hand.items() if loc in feeding), ZERO)
    if not target and not current:
        return None
    if options.live_shop is not None and key not in options.stock_for:
        return rackbeat_has(
            key, number, location, target, current, held,
            f"shop {options.live_shop} is live already, so Rackbeat holds the stock; "
            f"--stock-for {sku} imports this item's")
    if options.overwrite_stock or Decimal(target) == current:
        return adjustment(key, number, location, target, current,
                          overwrite=options.overwrite_stock)
    if pushed:
        return rackbeat_has(
            key, number, location, target, current, held,
            "sync-stock pushed this item to the shop: its figure came from Rackbeat")
    if held:
        where = ", ".join(str(loc) for loc, q in sorted(on_hand.items())
                          if loc in feeding and q)
        return rackbeat_has(key, number, location, target, current, held,
                            f"at Rackbeat location {where}")
    return adjustment(key, number, location, target, current, overwrite=False)


def group_key(variant: ShopifyVariant) -> str:
    """The SKU key a variant is grouped under (``""``: no SKU)."""
    return sku_key(variant.sku)


def _qty(value: Decimal) -> str:
    return f"{value.normalize():f}" if value != value.to_integral_value() else str(int(value))


__all__ = [
    "JournalledAdjustment",
    "PlanOptions",
    "ProductAction",
    "ProductDecision",
    "RackbeatStock",
    "ShopifyVariant",
    "SkuPlan",
    "State",
    "StockAction",
    "StockDecision",
    "adjustment",
    "group_key",
    "plan_no_sku",
    "plan_sku",
    "rackbeat_has",
    "stock_target",
]
