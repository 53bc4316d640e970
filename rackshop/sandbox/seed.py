"""Deterministic seed data for both twins: one coherent world from one seed.

The same ``seed`` gives the same catalogue on both sides, so the twins can be seeded separately
(``POST /__sandbox/seed`` on each) and still agree on SKUs, prices and stock. What it holds is
chosen to exercise every rule the jobs have:

* products with and without variants, several VAT rates (25 %, 12 %, 0 %), SKUs with ``/``,
  ``#`` and spaces, unicode names, a barred item, a BOM, a shipping item;
* Rackbeat-only items (for ``sync-products`` with ``create_missing``) and Shopify-only products
  (for ``init-sync`` and Shopify master), a variant without SKU and a duplicated SKU;
* two Rackbeat locations, one with a child location; customers, one of whose e-mails Shopify
  spells in another case;
* Shopify orders in every financial and fulfilment state, taxes included and excluded, with
  discount codes and shipping lines (their tax lines computed the way a checkout would).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from rackshop.sandbox.shopify.state import ShopState


class RackbeatTwin(Protocol):
    """The Rackbeat twin's Python seeding API (rackbeat.app.RackbeatTwin), as used here.

    The twins call this module from their ``seed`` methods, so it names them only by what it
    uses of them.
    """

    def add_location(self, *args: Any, **kwargs: Any) -> Any: ...
    def add_product_group(self, *args: Any, **kwargs: Any) -> Any: ...
    def add_product(self, *args: Any, **kwargs: Any) -> Any: ...
    def add_lot(self, *args: Any, **kwargs: Any) -> Any: ...
    def add_customer(self, *args: Any, **kwargs: Any) -> Any: ...


class ShopifyTwin(Protocol):
    """The Shopify twin's Python seeding API (shopify.app.ShopifyTwin), as used here."""

    def add_shop(self, *args: Any, **kwargs: Any) -> Any: ...
    def shop(self, name: str) -> ShopState: ...
    def create_product(self, *args: Any, **kwargs: Any) -> Any: ...
    def execute(self, *args: Any, **kwargs: Any) -> Any: ...
    def advance_wall_clock(self, *args: Any, **kwargs: Any) -> Any: ...

CENT = Decimal("0.01")

SHOP_NAMES = ("dk", "se", "no", "de", "fi", "nl", "pl", "at")
SHOP_CURRENCY = {"dk": "DKK", "se": "SEK", "no": "NOK", "de": "EUR", "fi": "EUR", "nl": "EUR",
                 "pl": "PLN", "at": "EUR"}

#: Rackbeat product groups: number -> (name, VAT %, has inventory).
GROUPS: dict[int, tuple[str, Decimal, bool]] = {
    1000: ("Varer", Decimal(25), True),
    1100: ("Fødevarer", Decimal(12), True),
    1200: ("Bøger", Decimal(0), True),
    9000: ("Fragt og gebyrer", Decimal(25), False),
}

#: Rackbeat locations: number -> (name, parent).
LOCATIONS: dict[int, tuple[str, int | None]] = {
    1: ("Hovedlager", None),
    2: ("Butik", None),
    21: ("Butik baglager", 2),
}

SHIPPING_ITEM = "FRAGT"
GUEST_CUSTOMER_EMAIL = "guest@sandbox.rackshop.invalid"

_WORDS = ["Uldsokker", "Kaffekop", "Blåbærsyltetøj", "Træske", "Hørviskestykke", "Lysestage",
          "Notesbog", "Tekande", "Strikhue", "Skærebræt", "Honning", "Müsli", "Æblemost",
          "Kogebog", "Sæbe", "Vaffeljern", "Regnjakke", "Lædertaske", "Glasvase", "Tæppe"]
_COLOURS = ["Rød", "Blå", "Grøn", "Sort", "Hvid", "Gul"]
_SIZES = ["S", "M", "L", "XL"]


@dataclass(frozen=True)
class SeedVariant:
    """One sellable unit: a Rackbeat product and/or a Shopify variant."""

    sku: str | None
    option: str | None
    price_ex_vat: Decimal
    barcode: str | None
    weight_kg: Decimal

    def price_incl(self, vat: Decimal) -> Decimal:
        return (self.price_ex_vat * (1 + vat / 100)).quantize(CENT, ROUND_HALF_UP)


@dataclass(frozen=True)
class SeedProduct:
    """A product of the seeded world."""

    title: str
    group: int
    variants: tuple[SeedVariant, ...]
    description: str
    in_rackbeat: bool = True
    in_shopify: bool = True
    barred: bool = False

    @property
    def vat(self) -> Decimal:
        return GROUPS[self.group][1]


@dataclass
class World:
    """The whole seeded catalogue plus stock, customers and order plans."""

    seed: int
    products: list[SeedProduct] = field(default_factory=list)
    stock: dict[str, dict[int, int]] = field(default_factory=dict)  # sku -> location -> on hand
    shopify_stock: dict[str, int] = field(default_factory=dict)  # sku -> available in Shopify
    customers: list[dict[str, str]] = field(default_factory=list)
    boms: list[dict[str, Any]] = field(default_factory=list)

    def sellable(self) -> list[tuple[SeedProduct, SeedVariant]]:
        """Variants that exist on both sides with a unique SKU (safe order lines)."""
        seen: dict[str, int] = {}
        for p in self.products:
            for v in p.variants:
                if v.sku:
                    seen[v.sku] = seen.get(v.sku, 0) + 1
        return [(p, v) for p in self.products for v in p.variants
                if p.in_rackbeat and p.in_shopify and not p.barred and v.sku
                and seen[v.sku] == 1]


def build_world(seed: int = 1, products: int = 40) -> World:
    """The deterministic catalogue for ``seed`` with about ``products`` products."""
    rng = random.Random(seed)
    world = World(seed)
    special_skus = ["BOX/12", "TEE #3", "MUG 350 ML", "ÆBLE-1"]
    for i in range(max(products, 8)):
        word = _WORDS[i % len(_WORDS)]
        title = f"{word} {i + 1}" if i >= len(_WORDS) else word
        # the first products cycle through every VAT rate, so even a small world has each
        group = (1000, 1100, 1200)[i % 3] if i < 6 else rng.choice([1000, 1000, 1000, 1100,
                                                                      1200])
        base_sku = special_skus[i] if i < len(special_skus) else f"RS-{1000 + i}"
        n_variants = 1 if i % 3 else rng.choice([2, 3])
        variants = []
        for j in range(n_variants):
            option = None
            sku = base_sku
            if n_variants > 1:
                option = (_SIZES if i % 2 else _COLOURS)[j]
                sku = f"{base_sku}-{option}"
            variants.append(SeedVariant(
                sku=sku, option=option,
                price_ex_vat=Decimal(rng.randrange(20, 800)),
                barcode=f"57{rng.randrange(10**10, 10**11)}" if rng.random() < 0.7 else None,
                weight_kg=Decimal(rng.randrange(50, 3000)) / 1000,
            ))
        in_rackbeat, in_shopify = True, True
        if i % 11 == 5:
            in_shopify = False  # Rackbeat-only: create_missing pushes it to Shopify
        elif i % 11 == 8:
            in_rackbeat = False  # Shopify-only: init-sync / Shopify master bring it to Rackbeat
        world.products.append(SeedProduct(
            title=title, group=group, variants=tuple(variants),
            description=f"<p>{title} fra sandkassen. <strong>God kvalitet</strong>.</p>",
            in_rackbeat=in_rackbeat, in_shopify=in_shopify, barred=(i == 7),
        ))
    # Shopify oddities: a variant without SKU and a SKU used twice in one shop.
    world.products.append(SeedProduct(
        title="Gavekort uden varenummer", group=1000, description="<p>Uden SKU</p>",
        variants=(SeedVariant(None, None, Decimal(100), None, Decimal(0)),),
        in_rackbeat=False))
    world.products.append(SeedProduct(
        title="Dublet", group=1000, description="<p>Same SKU twice</p>",
        variants=(SeedVariant("DUP-1", "A", Decimal(40), None, Decimal("0.2")),
                  SeedVariant("DUP-1", "B", Decimal(40), None, Decimal("0.2"))),
        in_rackbeat=False))
    for p in world.products:
        for v in p.variants:
            if v.sku and p.in_rackbeat:
                world.stock[v.sku] = {loc: rng.randrange(0, 40) for loc in (1, 2, 21)
                                      if rng.random() < 0.7}
            if v.sku:
                world.shopify_stock[v.sku] = rng.randrange(-2, 30)
    world.customers = [
        {"name": "Karen Blixen", "email": "karen@example.dk"},
        {"name": "Søren Kierkegaard", "email": "Soren.K@Example.dk"},
        {"name": "Astrid Lindgren", "email": "astrid@example.se"},
        {"name": "Gæstekunde", "email": GUEST_CUSTOMER_EMAIL},
    ]
    components = [v.sku for p, v in world.sellable()[:2] if v.sku]
    if len(components) == 2:
        world.boms.append({"number": "KIT-1", "name": "Gavesæt", "price": Decimal(300),
                           "components": {components[0]: 1, components[1]: 2}})
    return world


# -- Rackbeat ----------------------------------------------------------------------------------


def seed_rackbeat(twin: RackbeatTwin, params: Mapping[str, Any]) -> dict[str, Any]:
    """Load the world for ``params['seed']`` into the Rackbeat twin.

    Args:
        twin: The Rackbeat twin (its Python seeding API).
        params: ``seed`` (default 1), ``products`` (default 40).

    Returns:
        Counts of what was created.
    """
    world = build_world(int(params.get("seed", 1)), int(params.get("products", 40)))
    for number, (name, parent) in LOCATIONS.items():
        twin.add_location(number, name, parent=parent, is_default=(number == 1))
    for number, (name, vat, has_inventory) in GROUPS.items():
        twin.add_product_group(number, name, vat_domestic=float(vat), has_inventory=has_inventory)
    twin.add_product(SHIPPING_ITEM, "Fragt", 0.0, 9000, description="Forsendelse")
    created = 0
    for p in world.products:
        if not p.in_rackbeat:
            continue
        for v in p.variants:
            assert v.sku
            name = p.title if v.option is None else f"{p.title} - {v.option}"
            twin.add_product(
                v.sku, name, float(v.price_ex_vat), p.group, barcode=v.barcode,
                description=_plain(p.description), weight=float(v.weight_kg), weight_unit="kg",
                is_barred=p.barred, stock=world.stock.get(v.sku) or None, default_location=1,
            )
            created += 1
    for bom in world.boms:
        twin.add_lot(bom["number"], bom["name"], float(bom["price"]), 1000, bom["components"])
    guest = None
    for c in world.customers:
        number = twin.add_customer(c["name"], c["email"])
        if c["email"] == GUEST_CUSTOMER_EMAIL:
            guest = number
    return {"products": created, "boms": len(world.boms), "customers": len(world.customers),
            "locations": len(LOCATIONS), "guest_customer": guest}


def _plain(html: str) -> str:
    import re

    return re.sub(r"<[^>]+>", "", html).strip()


# -- Shopify -----------------------------------------------------------------------------------


def shop_token(name: str) -> str:
    """The sandbox access token of a shop (fake; only the twin accepts it)."""
    return f"shpat_sandbox_{name}_0123456789abcdef"


def seed_shopify(twin: ShopifyTwin, params: Mapping[str, Any]) -> dict[str, Any]:
    """Create ``params['shops']`` shops in the Shopify twin with the world's products and orders.

    Args:
        twin: The Shopify twin.
        params: ``seed`` (1), ``products`` (40), ``shops`` (2), ``orders`` per shop (12).

    Returns:
        Per shop, counts of products and orders.
    """
    seed = int(params.get("seed", 1))
    world = build_world(seed, int(params.get("products", 40)))
    n_shops = max(1, min(int(params.get("shops", 2)), len(SHOP_NAMES)))
    n_orders = int(params.get("orders", 12))
    summary: dict[str, Any] = {}
    for index, name in enumerate(SHOP_NAMES[:n_shops]):
        taxes_included = index != 1  # the second shop enters prices without tax
        twin.add_shop(name, token=shop_token(name), currency=SHOP_CURRENCY[name],
                      taxes_included=taxes_included,
                      locations=("Lager", "Butik") if index == 0 else ("Lager",))
        variant_ids: dict[str, str] = {}
        products = 0
        for p in world.products:
            if not p.in_shopify:
                continue
            variants = []
            for v in p.variants:
                price = v.price_incl(p.vat) if taxes_included else v.price_ex_vat
                variants.append({
                    "sku": v.sku or "", "price": str(price), "barcode": v.barcode,
                    "weight": float(v.weight_kg), "weight_unit": "KILOGRAMS", "tracked": True,
                    "taxable": p.vat > 0, "option": v.option,
                    "stock": {"Lager": max(0, world.shopify_stock.get(v.sku or "", 0))}
                    if v.sku else {},
                })
            gid = twin.create_product(
                name, title=p.title, variants=variants, product_type=GROUPS[p.group][0],
                description_html=p.description, status="ACTIVE",
                options=["Størrelse" if p.variants[0].option in _SIZES else "Farve"]
                if p.variants[0].option else None,
            )
            products += 1
            product = twin.execute(name, "query($id: ID!) { product(id: $id) { variants(first: "
                                   "10) { nodes { id sku } } } }", {"id": gid})
            for node in product["data"]["product"]["variants"]["nodes"]:
                if node["sku"]:
                    variant_ids.setdefault(node["sku"], node["id"])
        orders = _seed_orders(twin, name, world, variant_ids, n_orders, seed + index,
                              taxes_included)
        summary[name] = {"products": products, "orders": orders}
    return summary


def _money(amount: Decimal, currency: str) -> dict[str, Any]:
    return {"shopMoney": {"amount": str(amount), "currencyCode": currency}}


def _tax_line(amount: Decimal, rate: Decimal, currency: str) -> dict[str, Any]:
    return {"title": "Moms", "rate": float(rate / 100), "priceSet": _money(amount, currency)}


def line_tax(total: Decimal, rate: Decimal, taxes_included: bool) -> Decimal:
    """The tax of a (discounted) line total, as a checkout computes it."""
    if rate == 0:
        return Decimal(0)
    if taxes_included:
        return (total - total / (1 + rate / 100)).quantize(CENT, ROUND_HALF_UP)
    return (total * rate / 100).quantize(CENT, ROUND_HALF_UP)


def _seed_orders(twin: ShopifyTwin, shop: str, world: World, variant_ids: Mapping[str, str],
                 count: int, seed: int, taxes_included: bool) -> int:
    from rackshop.sandbox.shopify import orders as order_api  # the twin, only when it seeds

    rng = random.Random(seed)
    currency = twin.shop(shop).currency
    sellable = [(p, v) for p, v in world.sellable() if v.sku in variant_ids]
    customers = ["karen@example.dk", "SOREN.K@example.dk", "astrid@example.se",
                 "new.customer@example.com", "ny.kunde@example.dk", None]
    states = ["paid", "paid", "paid_fulfilled", "pending", "partially_paid", "cancelled",
              "refunded_partly", "test", "paid", "paid_fulfilled"]
    placed = 0
    for n in range(count):
        state = states[n % len(states)]
        lines = []
        picked = rng.sample(sellable, k=min(len(sellable), rng.randint(1, 3)))
        for p, v in picked:
            qty = rng.randint(1, 3)
            price = v.price_incl(p.vat) if taxes_included else v.price_ex_vat
            lines.append({
                "variantId": variant_ids[str(v.sku)], "quantity": qty,
                "priceSet": _money(price, currency),
                "taxLines": [_tax_line(line_tax(price * qty, p.vat, taxes_included), p.vat,
                                       currency)] if p.vat else [],
            })
        email = customers[n % len(customers)]
        order: dict[str, Any] = {
            "currency": currency, "taxesIncluded": taxes_included, "lineItems": lines,
            "financialStatus": {"pending": "PENDING", "partially_paid": "PARTIALLY_PAID"}.get(
                state, "PAID"),
            "billingAddress": {"firstName": "Test", "lastName": f"Kunde {n}",
                               "address1": "Vestergade 1", "city": "Aarhus", "zip": "8000",
                               "countryCode": "DK"},
            "shippingAddress": {"firstName": "Test", "lastName": f"Kunde {n}",
                                "address1": "Vestergade 1", "city": "Aarhus", "zip": "8000",
                                "countryCode": "DK"},
            "test": state == "test",
        }
        if email:
            order["email"] = email
        if n % 3 == 0:
            ship = Decimal("49.00")
            order["shippingLines"] = [{
                "title": "PostNord", "code": "postnord", "priceSet": _money(ship, currency),
                "taxLines": [_tax_line(line_tax(ship, Decimal(25), taxes_included), Decimal(25),
                                       currency)],
            }]
        gid = order_api.place_order(twin.shop(shop), order)
        if state == "paid_fulfilled":
            order_api.fulfill(twin.shop(shop), gid)
        elif state == "cancelled":
            order_api.cancel(twin.shop(shop), gid)
        elif state == "refunded_partly":
            order_api.refund(twin.shop(shop), gid, lines={str(picked[0][1].sku): 1})
        placed += 1
    return placed


# -- large flat catalogues (benchmarks, scale tests) --------------------------------------------


def flat_sku(i: int) -> str:
    """The SKU of item ``i`` of a flat catalogue."""
    return f"FLAT-{i:06d}"


def seed_flat(rackbeat: RackbeatTwin, shopify: ShopifyTwin, shops: Sequence[str], skus: int, *,
              age_seconds: float = 3600.0) -> None:
    """A large, simple catalogue on both twins: ``skus`` single-variant products in every shop.

    Rackbeat gets locations 1 (with stock), 2 and its child 21; each shop one location
    ``Lager``. The Shopify products are created ``age_seconds`` in the past (the twin's clock is
    moved back and forward again), so a later pass with an ``updated_at`` cursor sees them as
    old, as a real catalogue would be.
    """
    rackbeat.add_location(1, "Lager", is_default=True)
    rackbeat.add_location(2, "Butik")
    rackbeat.add_location(21, "Butik baglager", parent=2)
    rackbeat.add_product_group(1000, "Varer", vat_domestic=25.0)
    rackbeat.add_product(SHIPPING_ITEM, "Fragt", 0.0, 1000)
    for i in range(skus):
        rackbeat.add_product(flat_sku(i), f"Vare {i}", 100.0, 1000,
                             stock={1: i % 7, 21: i % 3} if i % 5 else None)
    shopify.advance_wall_clock(-age_seconds)
    try:
        for name in shops:
            shopify.add_shop(name, token=shop_token(name), currency=SHOP_CURRENCY[name],
                             locations=("Lager",))
            for i in range(skus):
                shopify.create_product(name, title=f"Vare {i}", variants=[{
                    "sku": flat_sku(i), "price": "125.00", "stock": {"Lager": 0}}])
    finally:
        shopify.advance_wall_clock(age_seconds)
