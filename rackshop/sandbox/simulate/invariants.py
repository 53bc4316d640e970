"""The invariants ``rackshop sandbox simulate`` checks at each day's quiet point.

Each invariant is a small function ``(World) -> list[Violation]`` over a :class:`World`: plain
data read from the twins' own state (``GET /__sandbox/state``), the config's per-shop settings,
what ``rackshop status`` lists as needing attention, and what the day's job runs reported. None of
them looks into rackshop's store tables beyond that list, so they keep holding whatever the jobs'
internals become. The docstring of each says exactly what it checks.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

REFERENCE = re.compile(r"^rackshop:(?P<shop>[^:\s]+):(?P<legacy>\d+)\b")
"""The ``other_reference`` rackshop puts on every Rackbeat order (README, sync-orders)."""

CENT = Decimal("0.01")


@dataclass(frozen=True)
class Violation:
    """One broken invariant: the record it concerns (a touch-index key) and what is wrong."""

    record: str
    detail: str


@dataclass
class ShopView:
    """One shop: its settings from the config and the Shopify twin's state of it.

    ``stock_targets`` maps a Shopify location name to the Rackbeat location numbers it shows
    (``None``: every location).
    """

    name: str
    state: Mapping[str, Any]
    master: str = "off"
    fields: tuple[str, ...] = ()
    prices_include_tax: bool = True
    orders_enabled: bool = True
    transfer_on: str = "paid"
    include_test: bool = False
    stock_enabled: bool = False
    stock_targets: Mapping[str, tuple[int, ...] | None] = field(default_factory=dict)
    buffer: int = 0
    currency_rate: float | None = None
    price_rounding: str = "cent"
    fulfillments_enabled: bool = False


@dataclass
class JobRun:
    """One job run of the day as it ended: exit code, per-shop errors and failed records."""

    job: str
    exit_code: int
    failures: list[tuple[str, str, str]] = field(default_factory=list)  # shop, record, reason
    errors: list[tuple[str, str]] = field(default_factory=list)  # shop, error
    crashed: str | None = None  # an exception that escaped the job
    killed: bool = False
    expected: tuple[int, ...] = ()  # exit codes an operation of the day explains (LOCKED...)


@dataclass
class World:
    """Everything the invariants look at, at one quiet point."""

    rackbeat: Mapping[str, Any]
    shops: list[ShopView]
    rackbeat_includes_vat: bool = False
    base_currency: str = "DKK"
    attention: Mapping[tuple[str, str], str] = field(default_factory=dict)
    runs: list[JobRun] = field(default_factory=list)
    quiet_writes: Mapping[str, int] = field(default_factory=dict)  # "twin label" -> count
    seeded_duplicates: Mapping[str, set[str]] = field(default_factory=dict)


# -- helpers --------------------------------------------------------------------------------------


def _money(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value)).quantize(CENT) if value is not None else None
    except InvalidOperation:
        return None


def _shop_money(order: Mapping[str, Any], key: str, presentment: bool = False) -> Decimal | None:
    bag = order.get(key) or {}
    side = bag.get("presentmentMoney" if presentment else "shopMoney") or {}
    return _money(side.get("amount"))


def legacy_id(order: Mapping[str, Any]) -> str:
    return str(order.get("legacyResourceId") or str(order.get("id", "")).rsplit("/", 1)[-1])


def rackbeat_orders_by_ref(world: World) -> dict[tuple[str, str], list[Mapping[str, Any]]]:
    """(shop, Shopify legacy order id) -> the Rackbeat orders whose reference names it."""
    out: dict[tuple[str, str], list[Mapping[str, Any]]] = defaultdict(list)
    for order in world.rackbeat.get("orders") or []:
        m = REFERENCE.match(str(order.get("other_reference") or ""))
        if m:
            out[(m["shop"], m["legacy"])].append(order)
    return out


def needs_attention(world: World, shop: str, order: Mapping[str, Any]) -> str | None:
    """The reason ``rackshop status`` lists for this order, if it lists it."""
    for key in (str(order.get("name") or ""), legacy_id(order), str(order.get("id") or "")):
        if key and (shop, key) in world.attention:
            return world.attention[(shop, key)]
    return None


def trigger_met(shop: ShopView, order: Mapping[str, Any]) -> bool:
    """Whether an order is due for transfer by the shop's ``transfer_on`` (README rules)."""
    if order.get("test") and not shop.include_test:
        return False
    if order.get("cancelledAt") or order.get("displayFinancialStatus") in ("REFUNDED", "VOIDED"):
        return False
    lines = order.get("lineItems") or []
    if lines and not any(int(li.get("currentQuantity") or 0) for li in lines):
        return False  # every unit refunded: nothing is left to deliver (rackshop stops it)
    if shop.transfer_on == "created":
        return True
    if shop.transfer_on == "fulfilled":
        return order.get("displayFulfillmentStatus") == "FULFILLED"
    return order.get("displayFinancialStatus") in ("PAID", "PARTIALLY_REFUNDED")


def unique_variants(shop: ShopView) -> dict[str, list[Mapping[str, Any]]]:
    """Case-folded SKU -> the variants of existing products that hold it."""
    products = {p["id"]: p for p in shop.state.get("products") or []}
    out: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for v in shop.state.get("variants") or []:
        sku = (v.get("sku") or "").strip().casefold()
        if sku and v.get("productId") in products:
            out[sku].append(v)
    return out


def _order_key(shop: str, order: Mapping[str, Any]) -> str:
    return f"order {shop} {order.get('name')}"


def _sku_key(sku: str) -> str:
    return f"sku {sku.casefold()}"


# -- the invariants --------------------------------------------------------------------------------


def orders_transferred_once(world: World) -> list[Violation]:
    """Every Shopify order whose trigger is met (``transfer_on``: created; paid = PAID or
    PARTIALLY_REFUNDED; fulfilled = FULFILLED; never test, cancelled or fully refunded orders,
    nor orders whose every unit was refunded) is
    in Rackbeat exactly once (one order whose ``other_reference`` names the shop and the order's
    id), or is listed as needing attention with a reason. No Shopify order of any state is in
    Rackbeat more than once."""
    found = rackbeat_orders_by_ref(world)
    out: list[Violation] = []
    for shop in world.shops:
        if not shop.orders_enabled:
            continue
        for order in shop.state.get("orders") or []:
            copies = found.get((shop.name, legacy_id(order)), [])
            key = _order_key(shop.name, order)
            if len(copies) > 1:
                out.append(Violation(key, f"in Rackbeat {len(copies)} times (orders "
                                     f"{', '.join(str(o.get('number')) for o in copies)})"))
            elif not copies and trigger_met(shop, order) \
                    and not needs_attention(world, shop.name, order):
                out.append(Violation(key, f"{order.get('displayFinancialStatus')}/"
                                     f"{order.get('displayFulfillmentStatus')} with transfer_on "
                                     f"{shop.transfer_on}, but not in Rackbeat and not listed "
                                     "as needing attention"))
    return out


def totals_to_the_cent(world: World) -> list[Violation]:
    """Every Rackbeat order that names a Shopify order has Shopify's total including VAT, to
    the cent: its ``total_total`` equals the order's original or current total (in the order's
    presentment currency when the Rackbeat order is in that currency, else in the shop's), unless
    the order is listed as needing attention (a held draft)."""
    found = rackbeat_orders_by_ref(world)
    out: list[Violation] = []
    for shop in world.shops:
        for order in shop.state.get("orders") or []:
            for rb in found.get((shop.name, legacy_id(order)), []):
                if needs_attention(world, shop.name, order):
                    continue
                pres = str(rb.get("currency") or "") == order.get("presentmentCurrencyCode") \
                    and order.get("presentmentCurrencyCode") != order.get("currencyCode")
                wanted = {_shop_money(order, k, pres) for k in
                          ("totalPriceSet", "currentTotalPriceSet")} - {None}
                total = _money(rb.get("total_total"))
                if total not in wanted:
                    out.append(Violation(_order_key(shop.name, order),
                                         f"Rackbeat order {rb.get('number')} totals {total} "
                                         f"{rb.get('currency')}, Shopify "
                                         f"{' or '.join(sorted(map(str, wanted)))}"))
    return out


def customers_once(world: World) -> list[Violation]:
    """No two Rackbeat customers share an e-mail address (trimmed, any case)."""
    seen = Counter(str(c.get("contact_email") or "").strip().casefold()
                   for c in world.rackbeat.get("customers") or [])
    return [Violation(f"customer {email}", f"{n} Rackbeat customers have this e-mail")
            for email, n in sorted(seen.items()) if email and n > 1]


def on_their_way(world: World) -> dict[str, int]:
    """Case-folded SKU -> units of orders Shopify has taken, in any shop that transfers orders,
    that Rackbeat has not booked (no booked or shipped Rackbeat order names them). Test,
    cancelled and fully refunded orders are not taken; refunded units are not counted; a BOM's
    units count as its components'."""
    return {sku: sum(q for _, q in orders) for sku, orders in orders_on_their_way(world).items()}


def orders_on_their_way(world: World) -> dict[str, list[tuple[str, int]]]:
    """Case-folded SKU -> (``shop #name``, units) of the orders :func:`on_their_way` counts.

    A line of a Rackbeat BOM (lot) counts as its components' units (the BOM's ``lines``)."""
    found = rackbeat_orders_by_ref(world)
    boms = {str(lot["number"]).casefold(): [
        (str(c.get("child_id") or (c.get("item") or {}).get("number")), float(c["quantity"]))
        for c in lot.get("lines") or []] for lot in world.rackbeat.get("lots") or []}
    out: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for shop in world.shops:
        if not shop.orders_enabled:
            continue
        for order in shop.state.get("orders") or []:
            if (order.get("test") and not shop.include_test) or order.get("cancelledAt") \
                    or order.get("displayFinancialStatus") in ("REFUNDED", "VOIDED"):
                continue
            rb = found.get((shop.name, legacy_id(order)), [])
            if any(o.get("is_booked") or o.get("is_shipped") for o in rb):
                continue
            for li in order.get("lineItems") or []:
                qty = int(li.get("currentQuantity") or 0)
                sku = str(li.get("sku") or "").strip().casefold()
                if not sku or not qty:
                    continue
                name = f"{shop.name} {order.get('name')}"
                if sku in boms:
                    for part, per in boms[sku]:
                        out[part.casefold()].append((f"{name} ({sku})", int(qty * per)))
                else:
                    out[sku].append((name, qty))
    return out


def _closure(locations: Iterable[Mapping[str, Any]], chosen: tuple[int, ...] | None) -> set[int]:
    parents = {int(loc["number"]): loc.get("parent_id") for loc in locations}
    if chosen is None:
        return set(parents)
    out = set(chosen)
    grew = True
    while grew:
        grew = False
        for number, parent in parents.items():
            if parent is not None and int(parent) in out and number not in out:
                out.add(number)
                grew = True
    return out


def stock_levels(world: World) -> list[Violation]:
    """In every shop with stock enabled, at every mapped Shopify location, every tracked SKU
    that exactly one variant holds and that is a Rackbeat product shows ``floor(Σ Rackbeat
    available_quantity over the mapped locations and their children) − units on their way
    (:func:`on_their_way`) − the shop's buffer``, never below 0."""
    items = {str(i["number"]).casefold(): i for i in world.rackbeat.get("products") or []}
    locations = world.rackbeat.get("locations") or []
    way_orders = orders_on_their_way(world)
    way = {sku: sum(q for _, q in orders) for sku, orders in way_orders.items()}
    out: list[Violation] = []
    for shop in world.shops:
        if not shop.stock_enabled:
            continue
        loc_ids = {loc["name"]: loc["id"] for loc in shop.state.get("locations") or []}
        inv = {i["id"]: i for i in shop.state.get("inventoryItems") or []}
        for sku, variants in sorted(unique_variants(shop).items()):
            item = items.get(sku)
            if len(variants) != 1 or item is None or not item.get("inventory_enabled", True):
                continue
            ii = inv.get(variants[0].get("inventoryItemId")) or {}
            if not ii.get("tracked"):
                continue
            per_loc = {int(loc["number"]): float(loc.get("available_quantity") or 0)
                       for loc in item.get("locations") or []}
            for loc_name, chosen in shop.stock_targets.items():
                closure = _closure(locations, chosen)
                available = max(0, math.floor(sum(q for n, q in per_loc.items()
                                                  if n in closure) + 1e-9))
                want = max(0, available - way.get(sku, 0) - shop.buffer)
                level = (ii.get("levels") or {}).get(loc_ids.get(loc_name, loc_name))
                have = None if level is None else int(level["quantities"]["available"])
                if have != want and not (have is None and want == 0):
                    out.append(Violation(_sku_key(sku), f"{shop.name}/{loc_name} shows {have}, "
                                         f"Rackbeat available {available} − on their way "
                                         f"{way.get(sku, 0)} − buffer {shop.buffer} = {want}"
                                         + _listing(way_orders.get(sku, []))))
    return out


def _listing(orders: list[tuple[str, int]]) -> str:
    if not orders:
        return ""
    shown = ", ".join(f"{name} x{qty}" for name, qty in orders[:10])
    return f" (on their way: {shown}{' ...' if len(orders) > 10 else ''})"


def products_once(world: World) -> list[Violation]:
    """No item number twice in Rackbeat (any case), and in no shop a SKU on two variants unless
    it was already so when the simulation started."""
    out: list[Violation] = []
    numbers = Counter(str(i["number"]).casefold() for kind in ("products", "lots")
                      for i in world.rackbeat.get(kind) or [])
    out += [Violation(_sku_key(n), f"Rackbeat has {c} items numbered {n}")
            for n, c in sorted(numbers.items()) if c > 1]
    for shop in world.shops:
        before = world.seeded_duplicates.get(shop.name, set())
        for sku, variants in sorted(unique_variants(shop).items()):
            if len(variants) > 1 and sku not in before:
                out.append(Violation(_sku_key(sku), f"{shop.name} has {len(variants)} variants "
                                     f"with this SKU"))
    return out


def currency_rate(world: World, shop: ShopView) -> Decimal | None:
    """Base-currency units per unit of the shop's currency (docs/products.md, "Currencies"):
    1 in the base currency, else ``products.currency_rate``, else Rackbeat's currency table
    (``rate`` per 100 units); ``None`` when there is none."""
    currency = shop.state.get("currency") or world.base_currency
    if currency == world.base_currency:
        return Decimal(1)
    if shop.currency_rate is not None:
        return Decimal(str(shop.currency_rate))
    for row in (world.rackbeat.get("lookups") or {}).get("currencies") or []:
        if str(row.get("code")).upper() == currency and row.get("rate"):
            return Decimal(str(row["rate"])) / 100
    return None


def linked_fields(world: World) -> list[Violation]:
    """In every shop whose ``products.master`` is rackbeat or shopify, for every SKU that one
    variant of a one-variant product holds and that is a Rackbeat product (not barred): the
    product's title equals the item's name, and the price agrees with Rackbeat's sales price
    when the shop syncs those fields. Same currency: the variant price is exactly Rackbeat's
    converted by the shop's tax setting (``rackshop.sync.product_map.shopify_price``, 0 % VAT
    for an untaxed variant). Another currency (docs/products.md): the variant price without
    VAT times the rate equals Rackbeat's price within a cent of each currency; a shop without a
    rate, or with ``price_rounding`` other than cent, is not checked for prices."""
    from rackshop.sync.product_values import shopify_price, vat_factor

    items = {str(i["number"]).casefold(): i for i in world.rackbeat.get("products") or []}
    out: list[Violation] = []
    for shop in world.shops:
        if shop.master not in ("rackbeat", "shopify"):
            continue
        rate = currency_rate(world, shop)
        products = {p["id"]: p for p in shop.state.get("products") or []}
        for sku, variants in sorted(unique_variants(shop).items()):
            item = items.get(sku)
            if len(variants) != 1 or item is None or item.get("is_barred"):
                continue
            v = variants[0]
            product = products[v["productId"]]
            if len(product.get("variantIds") or []) != 1:
                continue
            vat = Decimal(str((item.get("group") or {}).get("vat_domestic", 25) or 0)) \
                if v.get("taxable", True) else Decimal(0)
            rb_price = Decimal(str(item.get("sales_price") or 0))
            price = _money(v.get("price"))
            wrong = ""
            if "sales_price" not in shop.fields or rate is None or price is None \
                    or shop.price_rounding != "cent":
                pass
            elif rate == 1:
                want = shopify_price(rb_price, vat_rate=vat,
                                     rackbeat_includes_vat=world.rackbeat_includes_vat,
                                     shop_includes_tax=shop.prices_include_tax)
                if price != want:
                    wrong = f"Rackbeat {rb_price} gives {want}"
            else:
                net = price
                if shop.prices_include_tax != world.rackbeat_includes_vat:
                    net = price / vat_factor(vat) if shop.prices_include_tax \
                        else price * vat_factor(vat)
                if abs(net * rate - rb_price) > CENT + CENT * rate * vat_factor(vat):
                    wrong = f"Rackbeat {rb_price} at rate {rate} gives {(rb_price / rate):.2f}"
            if wrong:
                out.append(Violation(_sku_key(sku), f"{shop.name} price {v.get('price')} "
                                     f"{shop.state.get('currency', '')}, {wrong} "
                                     f"({shop.master} master)".replace("  ", " ")))
            if "name" in shop.fields and product.get("title") != item.get("name"):
                out.append(Violation(_sku_key(sku), f"{shop.name} title "
                                     f"{product.get('title')!r}, Rackbeat name "
                                     f"{item.get('name')!r} ({shop.master} master)"))
    return out


def shipments_fulfilled(world: World) -> list[Violation]:
    """Every Rackbeat shipment marked shipped, of an order transferred from a shop with
    ``fulfillments.enabled``, is a fulfilment in Shopify carrying its tracking number, unless
    the Shopify order is cancelled, was already wholly fulfilled (by hand), or the shipment is
    listed as needing attention with a reason."""
    by_number = {o.get("number"): o for o in world.rackbeat.get("orders") or []}
    shops = {s.name: s for s in world.shops if s.fulfillments_enabled}
    out: list[Violation] = []
    for shipment in world.rackbeat.get("order_shipments") or []:
        if not shipment.get("is_shipped"):
            continue
        rb_order = by_number.get(shipment.get("order_number")) or {}
        m = REFERENCE.match(str(rb_order.get("other_reference") or ""))
        shop = shops.get(m["shop"]) if m else None
        if m is None or shop is None:
            continue
        order = next((o for o in shop.state.get("orders") or []
                      if legacy_id(o) == m["legacy"]), None)
        if order is None or order.get("cancelledAt"):
            continue
        tracking = str(shipment.get("tracking_number") or "")
        numbers = {str(t.get("number")) for f in order.get("fulfillments") or []
                   for t in f.get("trackingInfo") or []}
        by_hand = order.get("displayFulfillmentStatus") == "FULFILLED" and tracking not in numbers
        if tracking in numbers or by_hand \
                or (shop.name, str(shipment.get("id"))) in world.attention:
            continue
        out.append(Violation(_order_key(shop.name, order),
                             f"Rackbeat shipment {shipment.get('id')} (tracking {tracking}) is "
                             "not a fulfilment in Shopify and not listed as needing attention"))
    return out

def quiet_round_writes_nothing(world: World) -> list[Violation]:
    """In the second round of every job at the quiet point (no events, no faults), neither
    twin's request log has a write request (a mutation, or a POST/PUT/DELETE)."""
    return [Violation(f"write {label}", f"{n} write(s) in the second quiet round")
            for label, n in sorted(world.quiet_writes.items()) if n]


def failures_name_records(world: World) -> list[Violation]:
    """Every job run of the day that ended with a non-zero exit code, was not killed, and was
    not explained by an operation of the day (an overlapping run's lock) reported a failure that
    names its record, or a shop-level error saying what failed; and no job crashed with an
    exception rackshop does not handle."""
    out: list[Violation] = []
    for run in world.runs:
        if run.killed:
            continue
        if run.crashed:
            out.append(Violation(f"job {run.job}", f"crashed: {run.crashed}"))
            continue
        if run.exit_code == 0 or run.exit_code in run.expected:
            continue
        named = [f for f in run.failures if f[1] and f[1] != "(job)"]
        if not named and not any(e for _, e in run.errors):
            out.append(Violation(f"job {run.job}", f"exit {run.exit_code} without a failure "
                                 "naming a record or an error naming the shop"))
    return out


#: The invariants in report order: (name, function).
INVARIANTS: list[tuple[str, Callable[[World], list[Violation]]]] = [
    ("orders once", orders_transferred_once),
    ("totals to the cent", totals_to_the_cent),
    ("customers once", customers_once),
    ("stock levels", stock_levels),
    ("products once", products_once),
    ("linked fields", linked_fields),
    ("shipments fulfilled", shipments_fulfilled),
    ("quiet round writes nothing", quiet_round_writes_nothing),
    ("failures name records", failures_name_records),
]


def check_all(world: World) -> dict[str, list[Violation]]:
    """Every invariant's violations, by name."""
    return {name: fn(world) for name, fn in INVARIANTS}
