"""Make the events of :mod:`.events` happen in the twins, as a person or a customer would.

Everything goes through the twins' own seeding and admin surfaces: the Shopify twin's order
helpers (``place_order``, ``mark_paid``, ``fulfill``, ``cancel``, ``refund``) and in-process
GraphQL (hand edits of prices and SKUs, deleted products), the Rackbeat twin's Python API
(``set_stock``, ``add_product``, ``add_lot``, item updates) and both twins' fault plans. Nothing
here touches rackshop's store or calls a job.

An event whose record is gone or in the wrong state (an order cancelled before its refund comes)
is *skipped* with the reason; what each event touched is remembered per record, so a violation
can list the events behind it.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from rackshop.sandbox.base import FaultRule
from rackshop.sandbox.seed import GROUPS, line_tax, shop_token
from rackshop.sandbox.simulate.events import Event, price_times

if TYPE_CHECKING:
    from rackshop.sandbox.world import Sandbox

log = logging.getLogger("rackshop.simulate")

CENT = Decimal("0.01")
#: VAT per Shopify product type (the sandbox seeds product groups' names as types).
TYPE_VAT = {name: vat for name, vat, _ in GROUPS.values()}
#: Presentment units per shop unit (rough, fixed: only the consistency matters).
RATES_TO = {"EUR": Decimal("0.134"), "USD": Decimal("0.145")}


def order_key(shop: str, name: str) -> str:
    """The record key of a Shopify order in violations and the touch index."""
    return f"order {shop} {name}"


def sku_key(sku: str) -> str:
    """The record key of an item (every shop and Rackbeat) in the touch index."""
    return f"sku {sku.casefold()}"


@dataclass
class Applier:
    """Applies events to a running :class:`~rackshop.sandbox.world.Sandbox`.

    Attributes:
        orders: Event ref -> (shop, order gid) of the orders placed so far.
        touched: Record key -> sequence numbers of the events that touched it.
        skipped: Event seq -> why it could not be applied.
        faults_until: Twin -> offset at which its fault window closes.
        token_until: Shop -> offset at which its revoked token is restored.
    """

    sandbox: Sandbox
    base_fault_rate: float = 0.0
    orders: dict[str, tuple[str, str]] = field(default_factory=dict)
    touched: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    skipped: dict[int, str] = field(default_factory=dict)
    faults_until: dict[str, int] = field(default_factory=dict)
    token_until: dict[str, int] = field(default_factory=dict)
    deleted: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    now: int = 0

    # -- dispatch -------------------------------------------------------------------------------

    def apply(self, event: Event, now: int | None = None) -> None:
        """Apply one event (a job-kind operation is left to the runner).

        Args:
            event: The event.
            now: The simulated offset it happens at (default ``event.at``; a shortened day
                moves it), from which fault windows and revoked tokens are timed.
        """
        self.now = event.at if now is None else now
        kind = event.kind.replace(".", "_")
        handler = getattr(self, f"_{kind}", None)
        if handler is None:
            return
        try:
            handler(event, **event.args)
        except (ValueError, KeyError) as exc:
            self.skipped[event.seq] = f"{type(exc).__name__}: {exc}"[:300]
            log.debug("event %s skipped: %s", event.seq, exc)

    def touch(self, event: Event, *keys: str) -> None:
        for key in keys:
            self.touched[key].append(event.seq)

    # -- Shopify orders ---------------------------------------------------------------------

    def _shopify_order(self, ev: Event, shop: str, ref: str, lines: list[list[Any]],
                       discount: dict[str, Any] | None, shipping: str | None, paid: bool,
                       test: bool, split_tax: bool, presentment: str | None,
                       email: str | None) -> None:
        from rackshop.sandbox.shopify import orders as order_api

        state = self.sandbox.shopify_app.shop(shop)
        currency = state.currency
        incl = state.taxes_included
        rate_to = RATES_TO.get(presentment or "", Decimal(1)) if presentment != currency else 1
        pres = presentment if presentment and presentment != currency else None

        def money(amount: Decimal) -> dict[str, Any]:
            out = {"shopMoney": {"amount": str(amount), "currencyCode": currency}}
            if pres:
                out["presentmentMoney"] = {
                    "amount": str((amount * Decimal(rate_to)).quantize(CENT, ROUND_HALF_UP)),
                    "currencyCode": pres}
            return out

        def taxes(amount: Decimal, rate: Decimal) -> list[dict[str, Any]]:
            tax = line_tax(amount, rate, incl)
            if not rate:
                return []
            if split_tax and rate > 5:  # e.g. a state and a local tax making up the rate
                small = Decimal(5) if rate > 10 else Decimal(2)
                part = (tax * small / rate).quantize(CENT, ROUND_HALF_UP)
                return [{"title": "Moms", "rate": float((rate - small) / 100),
                         "priceSet": money(tax - part)},
                        {"title": "Lokal", "rate": float(small / 100), "priceSet": money(part)}]
            return [{"title": "Moms", "rate": float(rate / 100), "priceSet": money(tax)}]

        by_sku = _variants_by_sku(state)
        items: list[tuple[dict[str, Any], Decimal, Decimal]] = []  # input, total, vat
        for sku, qty in lines:
            variant = by_sku.get(str(sku).casefold()) if sku else None
            if variant is not None:
                product = state.products[variant["productId"]]
                vat = TYPE_VAT.get(product.get("productType") or "", Decimal(25)) \
                    if variant.get("taxable", True) else Decimal(0)
                price = Decimal(str(variant["price"]))
                li: dict[str, Any] = {"variantId": variant["id"], "quantity": int(qty)}
            else:  # a custom line: a SKU this shop does not list, or none at all
                vat, price = Decimal(25), Decimal("25.00")
                li = {"title": f"Tilpasset {sku or 'gaveindpakning'}", "quantity": int(qty)}
                if sku:
                    li["sku"] = sku
            li["priceSet"] = money(price)
            items.append((li, price * int(qty), vat))
        totals = _discounted([t for _, t, _ in items], discount)
        for (li, _, vat), total in zip(items, totals, strict=True):
            li["taxLines"] = taxes(total, vat)
        order: dict[str, Any] = {
            "currency": currency, "taxesIncluded": incl,
            "lineItems": [li for li, _, _ in items],
            "financialStatus": "PAID" if paid else "PENDING", "test": bool(test),
            "billingAddress": _ADDRESS, "shippingAddress": _ADDRESS,
        }
        if pres:
            order["presentmentCurrency"] = pres
        if email:
            order["email"] = email
        if shipping is not None:
            amount = Decimal(shipping)
            order["shippingLines"] = [{"title": "PostNord", "code": "postnord",
                                       "priceSet": money(amount),
                                       "taxLines": taxes(amount, Decimal(25))}]
        if discount and "pct" in discount:
            order["discountCode"] = {"itemPercentageDiscountCode": {
                "code": f"SIM{discount['pct']}", "percentage": float(discount["pct"])}}
        elif discount and "fixed" in discount:
            order["discountCode"] = {"itemFixedDiscountCode": {
                "code": "SIMFIXED", "amountSet": money(Decimal(discount["fixed"]))}}
        gid = order_api.place_order(state, order)
        self.orders[ref] = (shop, gid)
        name = state.orders[gid]["name"]
        self.touch(ev, order_key(shop, name), *(sku_key(str(s)) for s, _ in lines if s))

    def _order(self, ref: str) -> tuple[Any, str, str]:
        if ref not in self.orders:
            raise KeyError(f"order {ref} was never placed")
        shop, gid = self.orders[ref]
        state = self.sandbox.shopify_app.shop(shop)
        return state, gid, order_key(shop, state.orders[gid]["name"])

    def _shopify_order_pay(self, ev: Event, ref: str) -> None:
        from rackshop.sandbox.shopify import orders as order_api

        state, gid, key = self._order(ref)
        order_api.mark_paid(state, gid)
        self.touch(ev, key)

    def _shopify_order_fulfil(self, ev: Event, ref: str) -> None:
        from rackshop.sandbox.shopify import orders as order_api

        state, gid, key = self._order(ref)
        order_api.fulfill(state, gid)
        self.touch(ev, key)

    def _shopify_order_cancel(self, ev: Event, ref: str) -> None:
        from rackshop.sandbox.shopify import orders as order_api

        state, gid, key = self._order(ref)
        paid = state.orders[gid].get("displayFinancialStatus") in ("PAID", "PARTIALLY_PAID")
        order_api.cancel(state, gid, refund=paid)
        self.touch(ev, key)

    def _shopify_order_refund(self, ev: Event, ref: str) -> None:
        from rackshop.sandbox.shopify import orders as order_api

        state, gid, key = self._order(ref)
        order = state.orders[gid]
        line = next((li for li in order["lineItems"] if li.get("refundableQuantity")), None)
        if line is None:
            raise ValueError(f"{key} has nothing left to refund")
        order_api.refund(state, gid, lines={line["id"]: 1}, restock=True)
        self.touch(ev, key, *([sku_key(line["sku"])] if line.get("sku") else []))

    def _shopify_order_edit(self, ev: Event, ref: str, delta: int) -> None:
        """``orderEditBegin`` / ``orderEditSetQuantity`` / ``orderEditCommit``, as staff would."""
        state, gid, key = self._order(ref)
        order = state.orders[gid]
        line = next((li for li in order["lineItems"] if li.get("variantId")
                     and int(li.get("currentQuantity") or 0) + delta > 0), None)
        if line is None or order.get("cancelledAt"):
            raise ValueError(f"{key} has no line whose quantity can move by {delta}")
        shop = state.name
        begun = self._gql(shop, "mutation($id: ID!) { orderEditBegin(id: $id) { "
                                "calculatedOrder { id } userErrors { field message } } }",
                          {"id": gid})
        calc = begun["orderEditBegin"]["calculatedOrder"]["id"]
        line_id = "gid://shopify/CalculatedLineItem/" + str(line["id"]).rsplit("/", 1)[-1]
        self._gql(shop, "mutation($id: ID!, $line: ID!, $q: Int!) { orderEditSetQuantity("
                        "id: $id, lineItemId: $line, quantity: $q, restock: true) { "
                        "userErrors { field message } } }",
                  {"id": calc, "line": line_id, "q": int(line["currentQuantity"]) + delta})
        self._gql(shop, "mutation($id: ID!) { orderEditCommit(id: $id) { "
                        "userErrors { field message } } }", {"id": calc})
        self.touch(ev, key, *([sku_key(line["sku"])] if line.get("sku") else []))

    # -- Shopify hand edits -----------------------------------------------------------------------

    def _variant(self, shop: str, sku: str) -> dict[str, Any]:
        variant = _variants_by_sku(self.sandbox.shopify_app.shop(shop)).get(sku.casefold())
        if variant is None:
            raise KeyError(f"shop {shop} lists no variant with SKU {sku!r}")
        return variant

    def _shopify_stock(self, ev: Event, shop: str, sku: str, quantity: int) -> None:
        twin = self.sandbox.shopify_app
        variant = self._variant(shop, sku)
        state = twin.shop(shop)
        loc = state.primary_location()
        assert loc is not None
        twin.set_available(shop, variant["inventoryItemId"], loc["id"], quantity)
        self.touch(ev, sku_key(sku))

    def _gql(self, shop: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        body = self.sandbox.shopify_app.execute(shop, query, variables)
        data = body.get("data") or {}
        errors = body.get("errors") or [e for v in data.values() if isinstance(v, dict)
                                        for e in v.get("userErrors") or []]
        if errors:
            raise ValueError(json.dumps(errors)[:200])
        return data

    def _shopify_price(self, ev: Event, shop: str, sku: str, factor: str) -> None:
        variant = self._variant(shop, sku)
        self._gql(shop, _VARIANTS_UPDATE, {"productId": variant["productId"], "variants": [
            {"id": variant["id"], "price": price_times(str(variant["price"]), factor)}]})
        self.touch(ev, sku_key(sku))

    def _shopify_sku(self, ev: Event, shop: str, sku: str, new: str) -> None:
        variant = self._variant(shop, sku)
        self._gql(shop, _VARIANTS_UPDATE, {"productId": variant["productId"], "variants": [
            {"id": variant["id"], "inventoryItem": {"sku": new}}]})
        self.touch(ev, sku_key(sku), sku_key(new))

    def _shopify_delete(self, ev: Event, shop: str, sku: str) -> None:
        state = self.sandbox.shopify_app.shop(shop)
        variant = self._variant(shop, sku)
        product = state.products[variant["productId"]]
        if len(product.get("variantIds") or []) != 1:
            raise ValueError(f"{sku} is one of several variants; only whole products are deleted")
        self.deleted[(shop, sku)] = {"title": product["title"],
                                     "product_type": product.get("productType") or "",
                                     "price": str(variant["price"]),
                                     "barcode": variant.get("barcode")}
        self._gql(shop, "mutation($id: ID!) { productDelete(input: {id: $id}) "
                        "{ deletedProductId userErrors { field message } } }",
                  {"id": product["id"]})
        self.touch(ev, sku_key(sku))

    def _shopify_relist(self, ev: Event, shop: str, sku: str) -> None:
        spec = self.deleted.pop((shop, sku), None)
        if spec is None:
            raise KeyError(f"{sku} was not deleted in {shop}")
        self.sandbox.shopify_app.create_product(
            shop, title=spec["title"], product_type=spec["product_type"],
            variants=[{"sku": sku, "price": spec["price"], "barcode": spec["barcode"],
                       "stock": {}}])
        self.touch(ev, sku_key(sku))

    def _shopify_product_new(self, ev: Event, shop: str, sku: str, title: str,
                             price: str) -> None:
        self.sandbox.shopify_app.create_product(
            shop, title=title, product_type="Varer",
            variants=[{"sku": sku, "price": price, "stock": {}}])
        self.touch(ev, sku_key(sku))

    # -- Rackbeat --------------------------------------------------------------------------------

    def _rackbeat_stock(self, ev: Event, sku: str, location: int, delta: int, why: str) -> None:
        twin = self.sandbox.rackbeat_app
        with twin.lock:
            item = twin.account.find_item(sku)
            if item is None or item.type != "product":
                raise KeyError(f"Rackbeat has no product {sku!r}")
            on_hand = float(item.on_hand.get(location, 0.0))
        twin.set_stock(sku, location, max(0.0, on_hand + delta))
        self.touch(ev, sku_key(sku))

    def _update_item(self, sku: str, payload: dict[str, Any]) -> None:
        twin = self.sandbox.rackbeat_app

        def run() -> None:
            item = twin.account.find_item(sku)
            if item is None:
                raise KeyError(f"Rackbeat has no item {sku!r}")
            twin.account.update_item(item, payload)

        twin._python(run)

    def _rackbeat_price(self, ev: Event, sku: str, factor: str) -> None:
        twin = self.sandbox.rackbeat_app
        with twin.lock:
            item = twin.account.find_item(sku)
            price = None if item is None else item.sales_price
        if price is None:
            raise KeyError(f"Rackbeat has no item {sku!r}")
        self._update_item(sku, {"sales_price": float(price_times(str(price), factor))})
        self.touch(ev, sku_key(sku))

    def _rackbeat_name(self, ev: Event, sku: str, name: str) -> None:
        self._update_item(sku, {"name": name})
        self.touch(ev, sku_key(sku))

    def _rackbeat_number(self, ev: Event, sku: str, new: str) -> None:
        self._update_item(sku, {"number": new})
        self.touch(ev, sku_key(sku), sku_key(new))

    def _rackbeat_product_new(self, ev: Event, sku: str, name: str, price: str, group: int,
                              stock: dict[str, int]) -> None:
        self.sandbox.rackbeat_app.add_product(
            sku, name, float(price), group, description=f"{name} (simulated)",
            stock={int(k): v for k, v in stock.items()} or None, default_location=1)
        self.touch(ev, sku_key(sku))

    def _rackbeat_bom_new(self, ev: Event, sku: str, name: str, price: str,
                          components: dict[str, int]) -> None:
        self.sandbox.rackbeat_app.add_lot(sku, name, float(price), 1000, components)
        self.touch(ev, sku_key(sku), *(sku_key(c) for c in components))

    def _rackbeat_ship(self, ev: Event, ref: str, parcels: int, tracking: str) -> None:
        """The warehouse ships a transferred order: one shipment, or two parcels (the first
        half of the lines, then the rest), each marked shipped with its tracking number."""
        state, gid, key = self._order(ref)
        order = state.orders[gid]
        legacy = order.get("legacyResourceId") or str(gid).rsplit("/", 1)[-1]
        prefix = f"rackshop:{state.name}:{legacy} "
        twin = self.sandbox.rackbeat_app

        def run() -> None:
            acc = twin.account
            rb = next((o for o in acc.orders.values()
                       if str(o.header.get("other_reference") or "").startswith(prefix)), None)
            if rb is None:
                raise KeyError(f"{key} is not in Rackbeat (yet)")
            left = [(ln, ln.quantity - ln.shipped - ln.in_shipment) for ln in rb.lines]
            left = [(ln, q) for ln, q in left if q > 0]
            parts: list[dict[str, Any]] = []
            if parcels > 1 and len(left) > 1:
                parts.append({"lines": [{"line_id": ln.id, "quantity": q}
                                        for ln, q in left[: len(left) // 2]]})
            parts.append({})
            for n, part in enumerate(parts, start=1):
                shipment = acc.create_shipment(
                    rb, {**part, "tracking_number": f"{tracking}{n}", "carrier": "PostNord"})
                acc.mark_shipped(shipment, {"pick": True})

        twin._python(run)
        self.touch(ev, key)

    # -- operations --------------------------------------------------------------------------------

    def _ops_faults(self, ev: Event, twin: str, kinds: list[str], rate: float,
                    minutes: int) -> None:
        self.faults_until[twin] = self.now + minutes * 60
        self._set_faults(twin, [FaultRule(rate=rate, kinds=tuple(kinds)),
                                *self._base_rules()])

    def _ops_token(self, ev: Event, shop: str, minutes: int) -> None:
        self._set_token(shop, None)
        self.token_until[shop] = self.now + minutes * 60
        self.touch(ev, f"shop {shop}")

    def _base_rules(self) -> list[FaultRule]:
        """The background faults: every kind but ``slow`` (a slow answer costs real seconds;
        the fault windows bring it)."""
        if self.base_fault_rate <= 0:
            return []
        return [FaultRule(rate=self.base_fault_rate, kinds=("5xx", "429", "drop", "lost"))]

    def _set_faults(self, twin: str, rules: list[FaultRule]) -> None:
        server = self.sandbox.shopify if twin == "shopify" else self.sandbox.rackbeat
        server.faults.configure(rules)

    def _set_token(self, shop: str, token: str | None) -> None:
        """Revoke (``None``) or restore a shop's token through the twin's admin API."""
        import requests

        resp = requests.post(f"{self.sandbox.shopify.url}/__sandbox/token",
                             json={"shop": shop, "token": token}, timeout=10)
        if resp.status_code != 200:
            raise ValueError(f"the Shopify twin cannot revoke tokens ({resp.status_code})")

    def expire(self, at: int) -> None:
        """Close the fault windows and token revocations that end by ``at``."""
        for twin, until in list(self.faults_until.items()):
            if until <= at:
                del self.faults_until[twin]
                self._set_faults(twin, self._base_rules())
        for shop, until in list(self.token_until.items()):
            if until <= at:
                del self.token_until[shop]
                self._set_token(shop, shop_token(shop))

    def quiet(self) -> None:
        """Stop every fault and restore every token (the quiet point before the checks)."""
        for twin in ("shopify", "rackbeat"):
            self._set_faults(twin, [])
        self.faults_until.clear()
        for shop in list(self.token_until):
            self._set_token(shop, shop_token(shop))
        self.token_until.clear()

    def resume(self) -> None:
        """Background faults on again after a quiet point."""
        for twin in ("shopify", "rackbeat"):
            self._set_faults(twin, self._base_rules())


def _variants_by_sku(state: Any) -> dict[str, dict[str, Any]]:
    """SKU (case-folded) -> the first variant of an active product holding it."""
    out: dict[str, dict[str, Any]] = {}
    for v in state.variants.values():
        sku = (v.get("sku") or "").casefold()
        product = state.products.get(v.get("productId"))
        if sku and product is not None and sku not in out:
            out[sku] = v
    return out


def _discounted(totals: list[Decimal], discount: dict[str, Any] | None) -> list[Decimal]:
    """Line totals after an order discount, the way a checkout allocates it."""
    if not discount:
        return totals
    if "pct" in discount:
        pct = Decimal(discount["pct"]) / 100
        return [t - (t * pct).quantize(CENT, ROUND_HALF_UP) for t in totals]
    whole = sum(totals, Decimal(0))
    amount = min(Decimal(discount["fixed"]), whole)
    if whole <= 0:
        return totals
    shares = [(amount * t / whole).quantize(CENT, ROUND_HALF_UP) for t in totals]
    if shares:
        shares[-1] += amount - sum(shares, Decimal(0))
    return [t - s for t, s in zip(totals, shares, strict=True)]


_ADDRESS = {"firstName": "Sim", "lastName": "Kunde", "address1": "Vestergade 1",
            "city": "Aarhus", "zip": "8000", "countryCode": "DK"}

_VARIANTS_UPDATE = (
    "mutation($productId: ID!, $variants: [ProductVariantsBulkInput!]!) { "
    "productVariantsBulkUpdate(productId: $productId, variants: $variants) { "
    "productVariants { id } userErrors { field message } } }")
