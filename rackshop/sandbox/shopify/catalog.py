"""Catalogue and inventory: the shop, locations, products, variants, inventory items and
levels, ``node``/``nodes``, and the product, inventory, tag and metafield mutations.

Behaviour follows the recorded exchanges in ``shared/shopify/conformance/`` (messages, codes,
field paths, which checks come first). Where the record is silent the choice is documented in
``docs/sandbox-shopify.md``.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, cast

from graphql import GraphQLError, GraphQLResolveInfo, GraphQLSchema

from . import consistency, search
from .state import (
    QUANTITY_NAMES,
    Context,
    ShopState,
    connection,
    gid_number,
    idempotency_key,
    parse_gid,
)

MAX_QUANTITY = 1_000_000_000
INVENTORY_REASONS = (
    "correction",
    "cycle_count_available",
    "damaged",
    "movement_canceled",
    "movement_created",
    "movement_received",
    "movement_updated",
    "other",
    "promotion",
    "quality_control",
    "received",
    "reservation_created",
    "reservation_deleted",
    "reservation_updated",
    "restock",
    "safety_stock",
    "shrinkage",
)
ADJUSTABLE_NAMES = (
    "available",
    "damaged",
    "quality_control",
    "reserved",
    "safety_stock",
    "incoming",
)
IDEMPOTENCY_REQUIRED = (
    "The @idempotent directive is required for this mutation but was not provided."
)
NODE_KINDS = {
    "Product",
    "ProductVariant",
    "InventoryItem",
    "InventoryLevel",
    "Location",
    "Order",
    "BulkOperation",
    "WebhookSubscription",
    "InventoryAdjustmentGroup",
}


def ctx_of(info: GraphQLResolveInfo) -> Context:
    """The resolver context (typed)."""
    ctx = info.context
    assert isinstance(ctx, Context)
    return ctx


# -- small helpers ----------------------------------------------------------------------------


def money(value: Any) -> str | None:
    """A ``Money`` input as Shopify prints it (two decimals), ``None`` for ``None``.

    Raises:
        ValueError: Not a decimal number.
    """
    if value is None:
        return None
    try:
        d = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise ValueError(f"invalid money {value!r}") from exc
    if not d.is_finite():
        raise ValueError(f"invalid money {value!r}")
    return str(d.quantize(Decimal("0.01")))


def normalize_handle(text: str) -> str:
    """Shopify's handle normalisation: lowercase ASCII words joined by ``-``."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def _handle_index(shop: ShopState) -> dict[str, str]:
    """Handle -> product gid, kept up to date incrementally (rebuilt if it went stale)."""
    if shop.handle_index_size != len(shop.products):
        shop.handle_index = {p["handle"]: g for g, p in shop.products.items()}
        shop.handle_index_size = len(shop.products)
    return shop.handle_index


def set_handle(shop: ShopState, product: dict[str, Any], handle: str) -> None:
    """Give a product a handle, keeping the handle index right (always use this: the index is
    only rebuilt when the number of products changes)."""
    idx = _handle_index(shop)
    if idx.get(product.get("handle", "")) == product["id"]:
        del idx[product["handle"]]
    product["handle"] = handle
    if product["id"] in shop.products:
        idx[handle] = product["id"]


def _taken(shop: ShopState, handle: str, exclude: str | None) -> bool:
    owner = handle_owner(shop, handle)
    return owner is not None and owner["id"] != exclude


def unique_handle(shop: ShopState, base: str, exclude: str | None = None) -> str:
    """``base``, or the next free variant of it: a trailing number is counted up (as Shopify
    does), otherwise ``-1``, ``-2``... is appended."""
    if not _taken(shop, base, exclude):
        return base
    m = re.match(r"^(.*?)(\d+)$", base)
    if m:
        stem, n = m.group(1), int(m.group(2))
        while _taken(shop, f"{stem}{n}", exclude):
            n += 1
        return f"{stem}{n}"
    i = 1
    while _taken(shop, f"{base}-{i}", exclude):
        i += 1
    return f"{base}-{i}"


def handle_owner(shop: ShopState, handle: str) -> dict[str, Any] | None:
    """The product with this handle, if any."""
    gid = _handle_index(shop).get(handle)
    p = shop.products.get(gid) if gid else None
    return p if p is not None and p["handle"] == handle else None


def sorted_tags(tags: Iterable[str]) -> list[str]:
    """Tags as Shopify stores them: split on commas, trimmed, unique, sorted."""
    out: dict[str, str] = {}
    for t in tags:
        for part in str(t).split(","):
            part = part.strip()
            if part and part.lower() not in {k.lower() for k in out}:
                out[part] = part
    return sorted(out, key=str.lower)


def strip_html(text: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", text or ""))


def user_error(field: list[str] | None, message: str, code: str | None = None) -> dict[str, Any]:
    err: dict[str, Any] = {"field": field, "message": message}
    if code is not None:
        err["code"] = code
    return err


def _d(x: Any) -> dict[str, Any]:
    """An input object as a dict (graphql-core gives dicts; be lenient with ``None``)."""
    return dict(x) if isinstance(x, dict) else {}


def require_idempotency(info: GraphQLResolveInfo) -> str | None:
    """The idempotency key, enforcing Shopify 2026-04's rule that it must be given.

    Raises:
        GraphQLError: ``BAD_REQUEST`` when a 2026-04+ request has no ``@idempotent``.
    """
    ctx = ctx_of(info)
    key = idempotency_key(info)
    if key is not None and not key.strip():
        raise GraphQLError(
            "The idempotency key cannot be an empty string or whitespace only.",
            info.field_nodes,
            extensions={"code": "BAD_REQUEST"},
        )
    if key is None and ctx.version_at_least("2026-04"):
        raise GraphQLError(
            IDEMPOTENCY_REQUIRED, info.field_nodes, extensions={"code": "BAD_REQUEST"}
        )
    return key


def _fingerprint(field_name: str, args: dict[str, Any]) -> str:
    raw = json.dumps([field_name, args], sort_keys=True, default=str)
    return hashlib.sha256(raw.encode()).hexdigest()


def idempotent(
    info: GraphQLResolveInfo,
    args: dict[str, Any],
    run: Callable[[], dict[str, Any]],
    mismatch: Callable[[], dict[str, Any]],
) -> dict[str, Any]:
    """Run a mutation at most once per ``@idempotent`` key.

    The same key with the same arguments returns the first result without applying anything;
    the same key with other arguments returns ``mismatch()`` (the
    ``IDEMPOTENCY_KEY_PARAMETER_MISMATCH`` payload).
    """
    key = require_idempotency(info)
    if key is None:
        return run()
    shop = ctx_of(info).shop
    fp = _fingerprint(info.field_name, args)
    seen = shop.idempotency.get(key)
    if seen is not None:
        if seen["field"] == info.field_name and seen["fingerprint"] == fp:
            seen["replays"] += 1
            result: dict[str, Any] = seen["result"]
            return result
        return mismatch()
    result = run()
    shop.idempotency[key] = {
        "field": info.field_name,
        "fingerprint": fp,
        "at": shop.now_iso(),
        "replays": 0,
        "result": result,
    }
    return result


# -- searchable fields ------------------------------------------------------------------------


def _product_variants(shop: ShopState, p: dict[str, Any]) -> list[dict[str, Any]]:
    return [shop.variants[v] for v in p["variantIds"] if v in shop.variants]


def product_fields(shop: ShopState) -> dict[str, search.Field]:
    F = search.Field

    def variants(p: dict[str, Any]) -> list[dict[str, Any]]:
        return _product_variants(shop, p)

    return {
        "id": F(lambda p: p["id"], "id"),
        "title": F(lambda p: p["title"], "text"),
        "handle": F(lambda p: p["handle"], "string"),
        "product_type": F(lambda p: p["productType"], "string"),
        "vendor": F(lambda p: p["vendor"], "string"),
        "status": F(lambda p: p["status"], "string"),
        "tag": F(lambda p: p["tags"], "tag"),
        "tag_not": F(lambda p: p["tags"], "tag", negate=True),
        "created_at": F(lambda p: p["createdAt"], "time"),
        "updated_at": F(lambda p: p["updatedAt"], "time"),
        "published_at": F(lambda p: p.get("publishedAt"), "time"),
        "sku": F(lambda p: [v.get("sku") for v in variants(p)], "string"),
        "barcode": F(lambda p: [v.get("barcode") for v in variants(p)], "string"),
        "variant_id": F(lambda p: p["variantIds"], "id"),
        "inventory_total": F(lambda p: total_inventory(shop, p), "number"),
        "gift_card": F(lambda p: False, "boolean"),
        "product_id": F(lambda p: p["id"], "id"),
    }


def variant_fields(shop: ShopState) -> dict[str, search.Field]:
    F = search.Field

    def prod(v: dict[str, Any]) -> dict[str, Any]:
        return shop.products.get(v["productId"], {})

    return {
        "id": F(lambda v: v["id"], "id"),
        "sku": F(lambda v: v.get("sku"), "string"),
        "barcode": F(lambda v: v.get("barcode"), "string"),
        "title": F(lambda v: v["title"], "text"),
        "product_id": F(lambda v: v["productId"], "id"),
        "product_status": F(lambda v: prod(v).get("status"), "string"),
        "product_type": F(lambda v: prod(v).get("productType"), "string"),
        "vendor": F(lambda v: prod(v).get("vendor"), "string"),
        "tag": F(lambda v: prod(v).get("tags", []), "tag"),
        "tag_not": F(lambda v: prod(v).get("tags", []), "tag", negate=True),
        "taxable": F(lambda v: v["taxable"], "boolean"),
        "inventory_quantity": F(lambda v: inventory_quantity(shop, v), "number"),
        "location_id": F(lambda v: list(shop.item_of(v)["levels"]), "id"),
        "created_at": F(lambda v: v["createdAt"], "time"),
        "updated_at": F(lambda v: v["updatedAt"], "time"),
    }


def item_fields(shop: ShopState) -> dict[str, search.Field]:
    F = search.Field
    return {
        "id": F(lambda i: i["id"], "id"),
        "sku": F(lambda i: item_sku(shop, i), "string"),
        "tracked": F(lambda i: i["tracked"], "boolean"),
        "created_at": F(lambda i: i["createdAt"], "time"),
        "updated_at": F(lambda i: i["updatedAt"], "time"),
    }


def location_fields() -> dict[str, search.Field]:
    F = search.Field
    return {
        "id": F(lambda loc: loc["id"], "id"),
        "name": F(lambda loc: loc["name"], "text"),
        "active": F(lambda loc: loc["isActive"], "boolean"),
        "created_at": F(lambda loc: loc["createdAt"], "time"),
        "updated_at": F(lambda loc: loc["updatedAt"], "time"),
        "country": F(lambda loc: loc["address"].get("countryCode"), "string"),
    }


def level_fields() -> dict[str, search.Field]:
    F = search.Field
    return {
        "id": F(lambda lv: lv["id"], "string"),
        "inventory_item_id": F(lambda lv: lv["itemId"], "id"),
        "created_at": F(lambda lv: lv["createdAt"], "time"),
        "updated_at": F(lambda lv: lv["updatedAt"], "time"),
    }


def run_search(
    info: GraphQLResolveInfo,
    query: str | None,
    records: Iterable[dict[str, Any]],
    fields: dict[str, search.Field],
    default: Callable[[Any], list[str]] | None = None,
) -> list[dict[str, Any]]:
    """Filter records by a ``query:`` string, reporting ignored fields like Shopify does."""
    compiled = search.compile_search(query, fields, default=default)
    if compiled.warnings:
        entry: dict[str, Any] = {"path": list(info.path.as_list()), "query": query}
        parsed = search.parsed_term(query)
        if parsed is not None:
            entry["parsed"] = parsed
        entry["warnings"] = compiled.warnings
        ctx_of(info).search_warnings.append(entry)
    if not query:
        return list(records)
    shop = ctx_of(info).shop
    return [r for r in records if consistency.searchable(shop, r, compiled.matches)]


def _sorter(
    sort_key: str | None, table: dict[str, Callable[[dict[str, Any]], Any]]
) -> Callable[[dict[str, Any]], Any]:
    return table.get(sort_key or "ID", lambda r: gid_number(r["id"]))


def paged(
    info: GraphQLResolveInfo,
    records: list[dict[str, Any]],
    args: dict[str, Any],
    sort_value: Callable[[dict[str, Any]], Any],
) -> dict[str, Any]:
    """Sort records and cut the page the arguments ask for."""

    def key(r: dict[str, Any]) -> tuple[Any, int]:
        v = sort_value(r)
        if isinstance(v, str):
            v = v.lower()
        return (v if v is not None else "", gid_number(r["id"]))

    ordered = sorted(records, key=key)
    return connection(
        ordered,
        first=args.get("first"),
        after=args.get("after"),
        last=args.get("last"),
        before=args.get("before"),
        reverse=bool(args.get("reverse")),
        sort_value=sort_value,
    )


# -- derived values ---------------------------------------------------------------------------


def item_sku(shop: ShopState, item: dict[str, Any]) -> str | None:
    v = shop.variants.get(item["variantId"])
    return v.get("sku") if v else None


def inventory_quantity(shop: ShopState, variant: dict[str, Any]) -> int:
    item = shop.inventory_items.get(variant["inventoryItemId"])
    if item is None:
        return 0
    return sum(lv["quantities"]["available"] for lv in item["levels"].values() if lv["isActive"])


def total_inventory(shop: ShopState, product: dict[str, Any]) -> int:
    """Sum of available stock over the product's *tracked* variants (as Shopify counts)."""
    total = 0
    for v in _product_variants(shop, product):
        if shop.inventory_items[v["inventoryItemId"]]["tracked"]:
            total += inventory_quantity(shop, v)
    return total


def refresh_options(shop: ShopState, product: dict[str, Any]) -> None:
    """Recompute option ``values``/``hasVariants`` and variant titles after variant changes."""
    variants = _product_variants(shop, product)
    used: dict[str, set[str]] = {}
    for v in variants:
        for so in v["selectedOptions"]:
            used.setdefault(so["name"], set()).add(so["value"])
    for opt in product["options"]:
        names = used.get(opt["name"], set())
        for ov in opt["optionValues"]:
            ov["hasVariants"] = ov["name"] in names
        opt["values"] = [ov["name"] for ov in opt["optionValues"] if ov["hasVariants"]]
    for v in variants:
        v["title"] = " / ".join(so["value"] for so in v["selectedOptions"]) or "Default Title"
    for i, v in enumerate(variants, start=1):
        v["position"] = i


def new_option(shop: ShopState, name: str, position: int, values: Iterable[str]) -> dict[str, Any]:
    opt: dict[str, Any] = {
        "id": shop.new_gid("ProductOption"),
        "name": name,
        "position": position,
        "optionValues": [],
        "values": [],
    }
    for v in values:
        add_option_value(shop, opt, v)
    return opt


def add_option_value(shop: ShopState, opt: dict[str, Any], value: str) -> dict[str, Any]:
    for existing in opt["optionValues"]:
        if existing["name"] == value:
            return cast(dict[str, Any], existing)
    ov = {"id": shop.new_gid("ProductOptionValue"), "name": value, "hasVariants": False}
    opt["optionValues"].append(ov)
    return ov


def option_named(product: dict[str, Any], name: str) -> dict[str, Any] | None:
    for opt in product["options"]:
        if opt["name"].lower() == name.lower():
            return cast(dict[str, Any], opt)
    return None


def new_product(
    shop: ShopState,
    *,
    title: str,
    handle: str | None = None,
    status: str = "ACTIVE",
    product_type: str = "",
    vendor: str | None = None,
    description_html: str = "",
    tags: Iterable[str] = (),
    template_suffix: str | None = None,
    seo: dict[str, Any] | None = None,
    published: bool = True,
) -> dict[str, Any]:
    """A product record without variants (add them with :func:`new_variant`).

    ``published``: an active product made in the admin is on the online store; one made through
    the API (``productCreate``, ``productSet``) is on no sales channel until published.
    """
    gid = shop.new_gid("Product")
    ts = shop.now_iso()
    product: dict[str, Any] = {
        "id": gid,
        "title": title,
        "handle": handle or unique_handle(shop, normalize_handle(title) or "product"),
        "descriptionHtml": description_html or "",
        "productType": product_type or "",
        "vendor": vendor if vendor is not None else shop.name,
        "status": status,
        "tags": sorted_tags(tags),
        "createdAt": ts,
        "updatedAt": ts,
        "publishedAt": None,
        "publications": {},
        "templateSuffix": template_suffix,
        "seo": {"title": (seo or {}).get("title"), "description": (seo or {}).get("description")},
        "isGiftCard": False,
        "requiresSellingPlan": False,
        "options": [],
        "variantIds": [],
        "metafields": [],
    }
    if published and status == "ACTIVE":
        publish(shop, product, online_store(shop)["id"], ts)
    idx = _handle_index(shop)
    shop.products[gid] = product
    idx[product["handle"]] = gid
    shop.handle_index_size = len(shop.products)
    return product


# -- publications (sales channels) -------------------------------------------------------------

DEFAULT_PUBLICATIONS = ("Online Store", "Point of Sale")


def publications(shop: ShopState) -> dict[str, dict[str, Any]]:
    """The shop's publications (made on first use: the online store and point of sale)."""
    if not shop.publications:
        for name in DEFAULT_PUBLICATIONS:
            gid = shop.new_gid("Publication")
            shop.publications[gid] = {"id": gid, "name": name, "autoPublish": False,
                                      "supportsFuturePublishing": name == "Online Store"}
    return shop.publications


def online_store(shop: ShopState) -> dict[str, Any]:
    return next(p for p in publications(shop).values() if p["name"] == "Online Store")


def publish(shop: ShopState, product: dict[str, Any], publication_id: str, when: str) -> None:
    """Put a product on a publication; ``publishedAt`` is when it went on the online store."""
    product.setdefault("publications", {}).setdefault(publication_id, when)
    if publication_id == online_store(shop)["id"] and not product.get("publishedAt"):
        product["publishedAt"] = when


def _r_publications(_: Any, info: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
    shop = ctx_of(info).shop
    return paged(info, list(publications(shop).values()), args, lambda r: gid_number(r["id"]))


def _p_published_on(p: dict[str, Any], info: GraphQLResolveInfo, publicationId: str) -> bool:
    when = (p.get("publications") or {}).get(publicationId)
    return when is not None and when <= ctx_of(info).shop.now_iso()


def _m_publishable_publish(
    _: Any, info: GraphQLResolveInfo, id: str, input: list[dict[str, Any]]
) -> Any:
    shop = ctx_of(info).shop
    p = shop.products.get(id)
    if p is None:
        return {"publishable": None, "shop": shop_record(shop),
                "userErrors": [user_error(["id"], "Resource does not exist")]}
    pubs = publications(shop)
    errors = []
    for i, entry in enumerate(input):
        entry = _d(entry)
        pid = entry.get("publicationId")
        if not pid or pid not in pubs:
            errors.append(user_error(["input", str(i), "publicationId"],
                                     "Publication does not exist"))
        elif entry.get("publishDate") and not pubs[pid]["supportsFuturePublishing"]:
            errors.append(user_error(["input", str(i), "publishDate"],
                                     "Can't schedule publishing for this channel"))
    if errors:
        return {"publishable": None, "shop": shop_record(shop), "userErrors": errors}
    now = shop.now_iso()
    for entry in input:
        entry = _d(entry)
        publish(shop, p, entry["publicationId"], entry.get("publishDate") or now)
    product_changed(shop, p)
    return {"publishable": p, "shop": shop_record(shop), "userErrors": []}


def new_variant(
    shop: ShopState,
    product: dict[str, Any],
    *,
    options: list[tuple[str, str]] | None = None,
    sku: str | None = None,
    price: Any = "0.00",
    barcode: str | None = None,
    compare_at_price: Any = None,
    taxable: bool = True,
    inventory_policy: str = "DENY",
    tracked: bool = False,
    requires_shipping: bool = True,
    weight: float = 0.0,
    weight_unit: str = "KILOGRAMS",
    cost: Any = None,
    stock: dict[str, int] | None = None,
    stock_primary: bool = True,
) -> dict[str, Any]:
    """Add a variant (and its inventory item) to a product.

    Args:
        options: ``(option name, value)`` pairs; the options are created on the product as
            needed. Default: Shopify's ``Title`` / ``Default Title``.
        stock: Location gid -> available quantity; the item is stocked there.
        stock_primary: Without ``stock``, stock the item at the primary location with 0 (what
            Shopify does for a new variant).
    """
    pairs = options or [("Title", "Default Title")]
    selected = []
    for name, value in pairs:
        opt = option_named(product, name)
        if opt is None:
            opt = new_option(shop, name, len(product["options"]) + 1, [])
            product["options"].append(opt)
        ov = add_option_value(shop, opt, value)
        selected.append({"name": opt["name"], "value": value, "optionValue": ov})
    ts = shop.now_iso()
    vgid = shop.new_gid("ProductVariant")
    igid = shop.new_gid("InventoryItem")
    variant: dict[str, Any] = {
        "id": vgid,
        "title": " / ".join(s["value"] for s in selected),
        "sku": sku,
        "barcode": barcode,
        "price": money(price) or "0.00",
        "compareAtPrice": money(compare_at_price),
        "taxable": taxable,
        "position": len(product["variantIds"]) + 1,
        "inventoryPolicy": inventory_policy,
        "selectedOptions": selected,
        "createdAt": ts,
        "updatedAt": ts,
        "productId": product["id"],
        "inventoryItemId": igid,
        "metafields": [],
    }
    item: dict[str, Any] = {
        "id": igid,
        "variantId": vgid,
        "tracked": tracked,
        "requiresShipping": requires_shipping,
        "measurement": {
            "id": f"gid://shopify/InventoryItemMeasurement/{gid_number(igid)}",
            "weight": {"value": float(weight), "unit": weight_unit},
        },
        "unitCost": None,
        "countryCodeOfOrigin": None,
        "provinceCodeOfOrigin": None,
        "harmonizedSystemCode": None,
        "createdAt": ts,
        "updatedAt": ts,
        "levels": {},
    }
    if cost is not None:
        item["unitCost"] = {"amount": money(cost), "currencyCode": shop.currency}
    shop.variants[vgid] = variant
    shop.inventory_items[igid] = item
    product["variantIds"].append(vgid)
    if stock:
        for loc_key, qty in stock.items():
            loc = shop.location_by_name_or_gid(loc_key)
            if loc is None:
                raise KeyError(f"unknown location {loc_key!r} in shop {shop.name!r}")
            level = item["levels"].get(loc["id"]) or shop.new_level(item, loc)
            shop.change_quantity(level, "available", int(qty) - level["quantities"]["available"])
    elif stock_primary:
        loc = shop.primary_location()
        if loc is not None:
            shop.new_level(item, loc)
    refresh_options(shop, product)
    return variant


def delete_variant(shop: ShopState, variant: dict[str, Any]) -> None:
    product = shop.products.get(variant["productId"])
    if product is not None and variant["id"] in product["variantIds"]:
        product["variantIds"].remove(variant["id"])
    shop.variants.pop(variant["id"], None)
    shop.inventory_items.pop(variant["inventoryItemId"], None)


def apply_item_input(shop: ShopState, item: dict[str, Any], data: dict[str, Any]) -> None:
    """Apply an ``InventoryItemInput`` to an item (and the SKU to its variant)."""
    if "sku" in data:
        v = shop.variants.get(item["variantId"])
        if v is not None:
            v["sku"] = data["sku"]
    for k in ("tracked", "requiresShipping", "countryCodeOfOrigin", "provinceCodeOfOrigin"):
        if k in data and data[k] is not None:
            item[k] = data[k]
    if "harmonizedSystemCode" in data:
        code = data["harmonizedSystemCode"]
        # Shopify keeps only the digits ("1234.56" -> "123456").
        item["harmonizedSystemCode"] = re.sub(r"\D", "", code) if code else None
    if "cost" in data:
        c = data["cost"]
        item["unitCost"] = (
            None if c is None else {"amount": money(c), "currencyCode": shop.currency}
        )
    weight = _d(_d(data.get("measurement")).get("weight"))
    if weight:
        item["measurement"]["weight"] = {"value": float(weight["value"]), "unit": weight["unit"]}
    shop.touch(item)


def product_payload(shop: ShopState, p: dict[str, Any]) -> dict[str, Any]:
    """A product as Shopify's REST webhooks send it (snake_case)."""
    variants = []
    for v in _product_variants(shop, p):
        item = shop.inventory_items[v["inventoryItemId"]]
        variants.append(
            {
                "id": gid_number(v["id"]),
                "product_id": gid_number(p["id"]),
                "title": v["title"],
                "price": v["price"],
                "sku": v.get("sku") or "",
                "position": v["position"],
                "inventory_policy": v["inventoryPolicy"].lower(),
                "compare_at_price": v.get("compareAtPrice"),
                "barcode": v.get("barcode"),
                "taxable": v["taxable"],
                "created_at": v["createdAt"],
                "updated_at": v["updatedAt"],
                "inventory_item_id": gid_number(item["id"]),
                "inventory_quantity": inventory_quantity(shop, v),
                "admin_graphql_api_id": v["id"],
                "option1": (v["selectedOptions"][0]["value"] if v["selectedOptions"] else None),
            }
        )
    return {
        "id": gid_number(p["id"]),
        "admin_graphql_api_id": p["id"],
        "title": p["title"],
        "body_html": p["descriptionHtml"],
        "vendor": p["vendor"],
        "product_type": p["productType"],
        "handle": p["handle"],
        "status": p["status"].lower(),
        "tags": ", ".join(p["tags"]),
        "created_at": p["createdAt"],
        "updated_at": p["updatedAt"],
        "published_at": p.get("publishedAt"),
        "template_suffix": p.get("templateSuffix"),
        "variants": variants,
        "options": [
            {"name": o["name"], "position": o["position"], "values": o["values"]}
            for o in p["options"]
        ],
    }


def product_changed(shop: ShopState, product: dict[str, Any], *, created: bool = False) -> None:
    """Stamp a product and queue its webhook(s)."""
    shop.touch(product)
    refresh_options(shop, product)
    payload = product_payload(shop, product)
    if created:
        shop.emit("products/create", payload)
    shop.emit("products/update", payload)


# -- metafields -------------------------------------------------------------------------------


def compare_digest(mf: dict[str, Any]) -> str:
    raw = f"{mf['namespace']}.{mf['key']}|{mf['type']}|{mf['value']}|{mf['updatedAt']}"
    return hashlib.sha256(raw.encode()).hexdigest()


def find_metafield(
    record: dict[str, Any], namespace: str | None, key: str
) -> dict[str, Any] | None:
    """A record's metafield by namespace (``None``: the app's ``$app``) and key."""
    ns = namespace or "$app"
    for mf in record.get("metafields") or []:
        if mf["namespace"] == ns and mf["key"] == key:
            return cast(dict[str, Any], mf)
    return None


def set_metafield(
    shop: ShopState,
    record: dict[str, Any],
    owner_type: str,
    namespace: str | None,
    key: str,
    value: str,
    type_: str | None,
) -> dict[str, Any]:
    """Create or update one metafield on a record (no validation)."""
    ns = namespace or "$app"
    record.setdefault("metafields", [])
    mf = find_metafield(record, ns, key)
    ts = shop.now_iso()
    if mf is None:
        mf = {
            "id": shop.new_gid("Metafield"),
            "namespace": ns,
            "key": key,
            "type": type_ or "single_line_text_field",
            "value": value,
            "ownerType": owner_type,
            "ownerId": record["id"],
            "createdAt": ts,
            "updatedAt": ts,
        }
        record["metafields"].append(mf)
    else:
        mf["value"] = value
        if type_:
            mf["type"] = type_
        mf["updatedAt"] = ts
    mf["compareDigest"] = compare_digest(mf)
    return mf


def json_value(mf: dict[str, Any]) -> Any:
    t, v = mf["type"], mf["value"]
    try:
        if t in ("number_integer",):
            return int(v)
        if t in ("number_decimal",):
            return str(Decimal(v))
        if t == "boolean":
            return v.lower() == "true"
        if t == "json" or t.startswith("list.") or t in ("dimension", "weight", "volume", "money"):
            return json.loads(v)
    except (ValueError, InvalidOperation):
        return v
    return v


def _valid_metafield_value(t: str, v: str) -> bool:
    try:
        if t == "number_integer":
            int(v)
        elif t == "number_decimal":
            Decimal(v)
        elif t == "boolean":
            return v in ("true", "false")
        elif t == "json" or t.startswith("list."):
            json.loads(v)
    except (ValueError, InvalidOperation):
        return False
    return True


def metafields_page(record: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    mfs = list(record.get("metafields") or [])
    if args.get("namespace"):
        mfs = [m for m in mfs if m["namespace"] == args["namespace"]]
    if args.get("keys"):
        wanted = set(args["keys"])
        mfs = [m for m in mfs if f"{m['namespace']}.{m['key']}" in wanted]
    return connection(
        mfs,
        first=args.get("first"),
        after=args.get("after"),
        last=args.get("last"),
        before=args.get("before"),
        reverse=bool(args.get("reverse")),
    )


def owner_of(shop: ShopState, gid: str) -> tuple[dict[str, Any], str] | None:
    """The record a metafield or tag is set on, and its ``MetafieldOwnerType``."""
    parsed = parse_gid(gid)
    if parsed is None:
        return None
    table = {
        "Product": (shop.products, "PRODUCT"),
        "ProductVariant": (shop.variants, "PRODUCTVARIANT"),
        "Order": (shop.orders, "ORDER"),
    }.get(parsed[0])
    if table is None:
        return None
    rec = table[0].get(gid)
    return (rec, table[1]) if rec is not None else None


def order_changed(shop: ShopState, order_gid: str) -> None:
    """Tell the order part of the twin that an order's tags or metafields changed."""
    try:
        from . import orders
    except ImportError:
        return
    hook = getattr(orders, "order_tags_changed", None)
    if callable(hook):
        hook(shop, order_gid)


# -- resolvers: reads -------------------------------------------------------------------------


def shop_record(shop: ShopState) -> dict[str, Any]:
    plan_names = {"standard": "Shopify", "advanced": "Advanced", "plus": "Shopify Plus"}
    return {
        "id": f"gid://shopify/Shop/{shop.shop_no}",
        "name": shop.name,
        "email": shop.email,
        "contactEmail": shop.email,
        "currencyCode": shop.currency,
        "myshopifyDomain": shop.domain,
        "ianaTimezone": shop.iana_timezone,
        "timezoneAbbreviation": "CET" if shop.iana_timezone.startswith("Europe/") else "UTC",
        "plan": {
            "displayName": plan_names.get(shop.plan, shop.plan.title()),
            "publicDisplayName": plan_names.get(shop.plan, shop.plan.title()),
            "partnerDevelopment": False,
            "shopifyPlus": shop.plan in ("plus", "enterprise"),
        },
        "taxesIncluded": shop.taxes_included,
        "taxShipping": False,
        "url": f"https://{shop.domain}",
        "primaryDomain": {
            "id": f"gid://shopify/Domain/{shop.shop_no}",
            "host": shop.domain,
            "url": f"https://{shop.domain}",
            "sslEnabled": True,
        },
        "weightUnit": shop.weight_unit,
        "enabledPresentmentCurrencies": [shop.currency],
        "createdAt": shop.created_at,
        "updatedAt": shop.created_at,
    }


def _r_shop(_: Any, info: GraphQLResolveInfo) -> dict[str, Any]:
    return shop_record(ctx_of(info).shop)


def _r_location(_: Any, info: GraphQLResolveInfo, id: str | None = None) -> Any:
    shop = ctx_of(info).shop
    if id is None:
        return shop.primary_location()
    return shop.locations.get(id)


def _locations_matching(info: GraphQLResolveInfo, args: dict[str, Any]) -> list[dict[str, Any]]:
    shop = ctx_of(info).shop
    locs = list(shop.locations.values())
    if not args.get("includeInactive"):
        locs = [loc for loc in locs if loc["isActive"]]
    return run_search(info, args.get("query"), locs, location_fields(), lambda r: [r["name"]])


def _r_locations(_: Any, info: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
    sort = _sorter(
        args.get("sortKey"),
        {"NAME": lambda r: r["name"], "ID": lambda r: gid_number(r["id"])},
    )
    return paged(info, _locations_matching(info, args), args, sort)


def _count(n: int, limit: int | None = None) -> dict[str, Any]:
    cap = limit if limit is not None else 10_000
    if n > cap:
        return {"count": cap, "precision": "AT_LEAST"}
    return {"count": n, "precision": "EXACT"}


def _r_locations_count(_: Any, info: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
    return _count(len(_locations_matching(info, args)), args.get("limit"))


PRODUCT_SORTS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "ID": lambda r: gid_number(r["id"]),
    "TITLE": lambda r: r["title"],
    "UPDATED_AT": lambda r: r["updatedAt"],
    "CREATED_AT": lambda r: r["createdAt"],
    "PRODUCT_TYPE": lambda r: r["productType"],
    "VENDOR": lambda r: r["vendor"],
    "PUBLISHED_AT": lambda r: r.get("publishedAt") or "",
    "RELEVANCE": lambda r: gid_number(r["id"]),
}


def _products_matching(info: GraphQLResolveInfo, args: dict[str, Any]) -> list[dict[str, Any]]:
    shop = ctx_of(info).shop
    return run_search(
        info,
        args.get("query"),
        shop.products.values(),
        product_fields(shop),
        lambda p: [p["title"], p["handle"], p["vendor"], p["productType"], *p["tags"]],
    )


def _r_products(_: Any, info: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
    shop = ctx_of(info).shop
    sorts = dict(PRODUCT_SORTS)
    sorts["INVENTORY_TOTAL"] = lambda r: total_inventory(shop, r)
    return paged(info, _products_matching(info, args), args, _sorter(args.get("sortKey"), sorts))


def _r_products_count(_: Any, info: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
    return _count(len(_products_matching(info, args)), args.get("limit"))


def _r_product(_: Any, info: GraphQLResolveInfo, id: str) -> Any:
    return ctx_of(info).shop.products.get(id)


def product_by_identifier(shop: ShopState, ident: dict[str, Any]) -> dict[str, Any] | None:
    """Find a product by ``{id}``, ``{handle}`` or ``{customId: {namespace, key, value}}``."""
    if ident.get("id"):
        return shop.products.get(ident["id"])
    if ident.get("handle"):
        return handle_owner(shop, ident["handle"])
    cid = _d(ident.get("customId"))
    if cid:
        for p in shop.products.values():
            mf = find_metafield(p, cid.get("namespace"), cid["key"])
            if mf is not None and mf["value"] == cid["value"]:
                return p
    return None


def _r_product_by_identifier(_: Any, info: GraphQLResolveInfo, identifier: dict[str, Any]) -> Any:
    return product_by_identifier(ctx_of(info).shop, identifier)


def _variants_matching(info: GraphQLResolveInfo, args: dict[str, Any]) -> list[dict[str, Any]]:
    shop = ctx_of(info).shop
    return run_search(
        info,
        args.get("query"),
        shop.variants.values(),
        variant_fields(shop),
        lambda v: [v["title"], v.get("sku") or "", v.get("barcode") or ""],
    )


def variant_sorts(shop: ShopState) -> dict[str, Callable[[dict[str, Any]], Any]]:
    return {
        "ID": lambda r: gid_number(r["id"]),
        "SKU": lambda r: r.get("sku") or "",
        "TITLE": lambda r: r["title"],
        "NAME": lambda r: r["title"],
        "FULL_TITLE": lambda r: f"{shop.products[r['productId']]['title']} {r['title']}",
        "POSITION": lambda r: r["position"],
        "INVENTORY_QUANTITY": lambda r: inventory_quantity(shop, r),
        "INVENTORY_LEVELS_AVAILABLE": lambda r: inventory_quantity(shop, r),
        "INVENTORY_POLICY": lambda r: r["inventoryPolicy"],
        "RELEVANCE": lambda r: gid_number(r["id"]),
        "POPULAR": lambda r: gid_number(r["id"]),
        "INVENTORY_MANAGEMENT": lambda r: gid_number(r["id"]),
    }


def _r_variants(_: Any, info: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
    shop = ctx_of(info).shop
    sort = _sorter(args.get("sortKey"), variant_sorts(shop))
    return paged(info, _variants_matching(info, args), args, sort)


def _r_variants_count(_: Any, info: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
    return _count(len(_variants_matching(info, args)), args.get("limit"))


def _r_variant(_: Any, info: GraphQLResolveInfo, id: str) -> Any:
    return ctx_of(info).shop.variants.get(id)


def _r_items(_: Any, info: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
    shop = ctx_of(info).shop
    items = run_search(
        info,
        args.get("query"),
        shop.inventory_items.values(),
        item_fields(shop),
        lambda i: [item_sku(shop, i) or ""],
    )
    return paged(info, items, args, lambda r: gid_number(r["id"]))


def _r_item(_: Any, info: GraphQLResolveInfo, id: str) -> Any:
    return ctx_of(info).shop.inventory_items.get(id)


def _r_level(_: Any, info: GraphQLResolveInfo, id: str) -> Any:
    return ctx_of(info).shop.level_by_gid(id)


def _r_node(_: Any, info: GraphQLResolveInfo, id: str) -> Any:
    rec = ctx_of(info).shop.find_record(id)
    if rec is None:
        return None
    return rec if node_type_name(rec, info.schema) else None


def _r_nodes(_: Any, info: GraphQLResolveInfo, ids: list[str]) -> list[Any]:
    return [_r_node(None, info, i) for i in ids]


def node_type_name(rec: Any, schema: GraphQLSchema) -> str | None:
    """The GraphQL type of a record, from its gid (``None`` if the schema lacks that type)."""
    if not isinstance(rec, dict):
        return None
    name = rec.get("__typename")
    if name is None:
        parsed = parse_gid(str(rec.get("id", "")).split("?")[0])
        name = parsed[0] if parsed else None
    if name is None or schema.get_type(name) is None:
        return None
    return str(name)


def _resolve_node_type(value: Any, info: GraphQLResolveInfo, _type: Any) -> str | None:
    return node_type_name(value, info.schema)


# Product fields


def _legacy(rec: dict[str, Any], _: GraphQLResolveInfo) -> str:
    return str(gid_number(rec["id"]))


def _p_description(p: dict[str, Any], _: GraphQLResolveInfo, truncateAt: int | None = None) -> str:
    text = strip_html(p["descriptionHtml"])
    if truncateAt is not None and len(text) > truncateAt:
        return text[:truncateAt].rstrip() + "..."
    return text


def _p_total_inventory(p: dict[str, Any], info: GraphQLResolveInfo) -> int:
    shop = ctx_of(info).shop
    total = total_inventory(shop, p)
    if shop.twin.consistency.enabled:  # a derived total: lags its quantity changes
        items = {
            v["inventoryItemId"]
            for v in _product_variants(shop, p)
            if shop.inventory_items[v["inventoryItemId"]]["tracked"]
        }
        total -= consistency.recent_available(shop, items, p["id"])
    return total


def _p_tracks(p: dict[str, Any], info: GraphQLResolveInfo) -> bool:
    shop = ctx_of(info).shop
    return any(shop.item_of(v)["tracked"] for v in _product_variants(shop, p))


def _p_only_default(p: dict[str, Any], info: GraphQLResolveInfo) -> bool:
    shop = ctx_of(info).shop
    vs = _product_variants(shop, p)
    return len(vs) == 1 and [(s["name"], s["value"]) for s in vs[0]["selectedOptions"]] == [
        ("Title", "Default Title")
    ]


def _p_out_of_stock(p: dict[str, Any], info: GraphQLResolveInfo) -> bool:
    shop = ctx_of(info).shop
    return any(
        shop.item_of(v)["tracked"] and inventory_quantity(shop, v) <= 0
        for v in _product_variants(shop, p)
    )


def _p_options(p: dict[str, Any], _: GraphQLResolveInfo, first: int | None = None) -> list[Any]:
    opts: list[Any] = p["options"]
    return opts[:first] if first is not None else opts


def _p_variants(p: dict[str, Any], info: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
    shop = ctx_of(info).shop
    sort = _sorter(args.get("sortKey") or "POSITION", variant_sorts(shop))
    return paged(info, _product_variants(shop, p), args, sort)


def _p_variants_count(p: dict[str, Any], info: GraphQLResolveInfo) -> dict[str, Any]:
    return _count(len(_product_variants(ctx_of(info).shop, p)))


def resolve_metafield(
    rec: dict[str, Any], _: GraphQLResolveInfo, key: str, namespace: str | None = None
) -> Any:
    """``metafield(namespace:, key:)`` on any owner record (products, variants, orders)."""
    return find_metafield(rec, namespace, key)


def resolve_metafields(rec: dict[str, Any], _: GraphQLResolveInfo, **args: Any
                       ) -> dict[str, Any]:
    """``metafields(...)`` connection on any owner record."""
    return metafields_page(rec, args)


# Variant fields


def _v_display_name(v: dict[str, Any], info: GraphQLResolveInfo) -> str:
    p = ctx_of(info).shop.product_of(v)
    return f"{p['title']} - {v['title']}"


def _v_qty(v: dict[str, Any], info: GraphQLResolveInfo) -> int:
    return inventory_quantity(ctx_of(info).shop, v)


def _v_available(v: dict[str, Any], info: GraphQLResolveInfo) -> bool:
    shop = ctx_of(info).shop
    if shop.product_of(v)["status"] != "ACTIVE":
        return False
    if not shop.item_of(v)["tracked"] or v["inventoryPolicy"] == "CONTINUE":
        return True
    return inventory_quantity(shop, v) > 0


def _v_product(v: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    return ctx_of(info).shop.products.get(v["productId"])


def _v_item(v: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    return ctx_of(info).shop.inventory_items.get(v["inventoryItemId"])


# Inventory item and level fields


def _i_sku(i: dict[str, Any], info: GraphQLResolveInfo) -> str | None:
    return item_sku(ctx_of(info).shop, i)


def _i_variant(i: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    return ctx_of(info).shop.variants.get(i["variantId"])


def _i_level(
    i: dict[str, Any], _: GraphQLResolveInfo, locationId: str, includeInactive: bool = False
) -> Any:
    lv = i["levels"].get(locationId)
    if lv is None or (not lv["isActive"] and not includeInactive):
        return None
    return lv


def _i_levels(i: dict[str, Any], info: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
    levels = [lv for lv in i["levels"].values() if lv["isActive"] or args.get("includeInactive")]
    levels = run_search(info, args.get("query"), levels, level_fields())
    return paged(info, levels, args, lambda lv: gid_number(lv["locationId"]))


def _i_locations_count(i: dict[str, Any], _: GraphQLResolveInfo) -> dict[str, Any]:
    return _count(sum(1 for lv in i["levels"].values() if lv["isActive"]))


def _lv_item(lv: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    return ctx_of(info).shop.inventory_items.get(lv["itemId"])


def _lv_location(lv: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    return ctx_of(info).shop.locations.get(lv["locationId"])


def _lv_quantities(lv: dict[str, Any], _: GraphQLResolveInfo, names: list[str]) -> list[Any]:
    out = []
    for name in names:
        if name not in QUANTITY_NAMES:
            raise GraphQLError(
                f"The quantity name '{name}' is invalid. Valid values are: "
                + ", ".join(QUANTITY_NAMES)
                + "."
            )
        out.append(
            {
                "id": f"gid://shopify/InventoryQuantity/{gid_number(lv['id'])}"
                f"?inventory_item_id={gid_number(lv['itemId'])}&name={name}",
                "name": name,
                "quantity": lv["quantities"][name],
                "updatedAt": lv["quantityUpdatedAt"].get(name),
            }
        )
    return out


def _loc_level(
    loc: dict[str, Any],
    info: GraphQLResolveInfo,
    inventoryItemId: str,
    includeInactive: bool = False,
) -> Any:
    item = ctx_of(info).shop.inventory_items.get(inventoryItemId)
    if item is None:
        return None
    return _i_level(item, info, loc["id"], includeInactive)


def _loc_levels(loc: dict[str, Any], info: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
    shop = ctx_of(info).shop
    levels = [
        it["levels"][loc["id"]]
        for it in shop.inventory_items.values()
        if loc["id"] in it["levels"]
        and (it["levels"][loc["id"]]["isActive"] or args.get("includeInactive"))
    ]
    levels = run_search(info, args.get("query"), levels, level_fields())
    return paged(info, levels, args, lambda lv: gid_number(lv["itemId"]))


def _loc_has_inventory(loc: dict[str, Any], info: GraphQLResolveInfo) -> bool:
    shop = ctx_of(info).shop
    return any(loc["id"] in it["levels"] for it in shop.inventory_items.values())


def _group_changes(
    g: dict[str, Any],
    _: GraphQLResolveInfo,
    inventoryItemIds: list[str] | None = None,
    locationIds: list[str] | None = None,
    quantityNames: list[str] | None = None,
) -> list[Any]:
    out = []
    for c in g["changes"]:
        if inventoryItemIds and c["itemId"] not in inventoryItemIds:
            continue
        if locationIds and c["locationId"] not in locationIds:
            continue
        if quantityNames and c["name"] not in quantityNames:
            continue
        out.append(c)
    return out


def _change_item(c: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    return ctx_of(info).shop.inventory_items.get(c["itemId"])


def _change_location(c: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    return ctx_of(info).shop.locations.get(c["locationId"])


def _mf_json(mf: dict[str, Any], _: GraphQLResolveInfo) -> Any:
    return json_value(mf)


# -- resolvers: product mutations -------------------------------------------------------------


def _length_errors(
    data: dict[str, Any], prefix: list[str], handle: str | None
) -> list[dict[str, Any]]:
    """The 255-character limits, worded as Shopify reports them."""
    errs = []
    title = data.get("title")
    if isinstance(title, str) and len(title) > 255:
        errs.append(user_error([*prefix, "title"], "is too long (maximum is 255 characters)"))
    if handle is not None and len(handle) > 255:
        errs.append(user_error(prefix, "Handle is too long (maximum is 255 characters)"))
    vendor = data.get("vendor")
    if isinstance(vendor, str) and len(vendor) > 255:
        errs.append(user_error(prefix, "Vendor is too long (maximum is 255 characters)"))
    ptype = data.get("productType")
    if isinstance(ptype, str) and len(ptype) > 255:
        errs.append(user_error(prefix, "Product type is too long (maximum is 255 characters)"))
        errs.append(
            user_error(prefix, "Custom product type is too long (maximum is 255 characters)")
        )
    return errs


def _apply_product_scalars(shop: ShopState, p: dict[str, Any], data: dict[str, Any]) -> None:
    for src, dst in (
        ("title", "title"),
        ("descriptionHtml", "descriptionHtml"),
        ("productType", "productType"),
        ("vendor", "vendor"),
        ("templateSuffix", "templateSuffix"),
        ("requiresSellingPlan", "requiresSellingPlan"),
    ):
        if src in data and data[src] is not None:
            p[dst] = data[src]
    if "category" in data:  # a TaxonomyCategory gid, or null to clear it (taxonomy.py)
        p["category"] = data["category"]
    if data.get("status"):
        # The status never publishes: a product is on a channel only once published there.
        p["status"] = data["status"]
    if data.get("tags") is not None:
        p["tags"] = sorted_tags(data["tags"])
    if data.get("seo") is not None:
        seo = _d(data["seo"])
        p["seo"] = {"title": seo.get("title"), "description": seo.get("description")}
    if data.get("metafields") is not None:
        for m in data["metafields"]:
            m = _d(m)
            if m.get("key") and m.get("value") is not None:
                set_metafield(
                    shop, p, "PRODUCT", m.get("namespace"), m["key"], m["value"], m.get("type")
                )


def _m_product_create(
    _: Any, info: GraphQLResolveInfo, product: dict[str, Any] | None = None
) -> Any:
    shop = ctx_of(info).shop
    data = _d(product)
    payload: dict[str, Any] = {"product": None, "shop": shop_record(shop), "userErrors": []}
    title = (data.get("title") or "").strip()
    if not title:
        payload["userErrors"] = [user_error(["title"], "Title can't be blank")]
        return payload
    explicit = normalize_handle(data["handle"]) if (data.get("handle") or "").strip() else None
    if explicit == "":
        explicit = "product"
    errs = _length_errors(data, ["input"], explicit or normalize_handle(title))
    if explicit and handle_owner(shop, explicit) is not None:
        errs.append(
            user_error(
                ["input", "handle"],
                f"Handle '{explicit}' already in use. Please provide a new handle.",
            )
        )
    if errs:
        payload["userErrors"] = errs
        return payload
    p = new_product(
        shop,
        title=title,
        handle=explicit or unique_handle(shop, normalize_handle(title) or "product"),
        status=data.get("status") or "ACTIVE",
        published=False,  # the API publishes nothing: publishablePublish does
    )
    p["vendor"] = shop.name
    _apply_product_scalars(shop, p, data)
    options = [_d(o) for o in data.get("productOptions") or []]
    if options:
        pairs = []
        for i, o in enumerate(options, start=1):
            values = [_d(v)["name"] for v in o.get("values") or []]
            p["options"].append(new_option(shop, o["name"], o.get("position") or i, values))
            if values:
                pairs.append((o["name"], values[0]))
        new_variant(shop, p, options=pairs)
    else:
        new_variant(shop, p)
    product_changed(shop, p, created=True)
    payload["product"] = p
    return payload


def _m_product_update(
    _: Any,
    info: GraphQLResolveInfo,
    product: dict[str, Any] | None = None,
    identifier: dict[str, Any] | None = None,
) -> Any:
    shop = ctx_of(info).shop
    data = _d(product)
    target = None
    if identifier:
        target = product_by_identifier(shop, _d(identifier))
    elif data.get("id"):
        target = shop.products.get(data["id"])
    if target is None:
        return {"product": None, "userErrors": [user_error(["id"], "Product does not exist")]}
    handle = None
    errs: list[dict[str, Any]] = []
    if data.get("handle") is not None:
        handle = normalize_handle(data["handle"]) or "product"
        owner = handle_owner(shop, handle)
        if owner is not None and owner["id"] != target["id"]:
            errs.append(
                user_error(
                    ["input", "handle"],
                    f"Handle '{handle}' already in use. Please provide a new handle.",
                )
            )
    if "title" in data and not (data.get("title") or "").strip():
        errs.append(user_error(["title"], "Title can't be blank"))
    errs += _length_errors(data, ["input"], handle)
    if errs:
        return {"product": None, "userErrors": errs}
    _apply_product_scalars(shop, target, data)
    if handle is not None:
        set_handle(shop, target, handle)
    product_changed(shop, target)
    return {"product": target, "userErrors": []}


def _m_product_delete(
    _: Any, info: GraphQLResolveInfo, input: dict[str, Any], synchronous: bool = True
) -> Any:
    shop = ctx_of(info).shop
    p = shop.products.get(_d(input).get("id", ""))
    if p is None:
        return {
            "deletedProductId": None,
            "shop": shop_record(shop),
            "userErrors": [user_error(["id"], "Product does not exist")],
        }
    for vg in list(p["variantIds"]):
        v = shop.variants.get(vg)
        if v is not None:
            delete_variant(shop, v)
    _handle_index(shop).pop(p["handle"], None)
    del shop.products[p["id"]]
    shop.handle_index_size = len(shop.products)
    shop.emit("products/delete", {"id": gid_number(p["id"]), "admin_graphql_api_id": p["id"]})
    return {"deletedProductId": p["id"], "shop": shop_record(shop), "userErrors": []}


def _option_pairs(raw: Any) -> list[tuple[str, str]]:
    pairs = []
    for ov in raw or []:
        ov = _d(ov)
        pairs.append((ov.get("optionName") or "", ov.get("name") or ""))
    return pairs


def _set_inventory_quantities(
    shop: ShopState, item: dict[str, Any], quantities: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    changed = []
    for q in quantities:
        loc = shop.locations.get(q["locationId"])
        if loc is None:
            continue
        level = item["levels"].get(loc["id"])
        if level is None:
            level = shop.new_level(item, loc)
        name = q.get("name") or "available"
        current = level["quantities"]["on_hand" if name == "on_hand" else "available"]
        if shop.change_quantity(level, name, int(q["quantity"]) - current):
            changed.append(level)
    return changed


def _m_product_set(
    _: Any,
    info: GraphQLResolveInfo,
    input: dict[str, Any],
    synchronous: bool = True,
    identifier: dict[str, Any] | None = None,
) -> Any:
    ctx = ctx_of(info)
    shop = ctx.shop
    data = _d(input)
    ident = _d(identifier)

    def fail(errs: list[dict[str, Any]]) -> dict[str, Any]:
        return {"product": None, "productSetOperation": None, "userErrors": errs}

    if ident and data.get("id") and ctx.version_at_least("2026-04"):
        return fail(
            [
                user_error(
                    ["input"],
                    "The id field is not allowed if identifier is provided.",
                    "ID_NOT_ALLOWED",
                )
            ]
        )
    target: dict[str, Any] | None = None
    if ident:
        target = product_by_identifier(shop, ident)
        if target is None and ident.get("id"):
            return fail(
                [
                    user_error(
                        ["identifier", "id"], "Product does not exist", "PRODUCT_DOES_NOT_EXIST"
                    )
                ]
            )
    elif data.get("id"):
        target = shop.products.get(data["id"])
        if target is None:
            return fail(
                [user_error(["input", "id"], "Product does not exist", "PRODUCT_DOES_NOT_EXIST")]
            )

    errs: list[dict[str, Any]] = []
    creating = target is None
    title = data.get("title")
    if creating and not (title or "").strip():
        errs.append(user_error(["input", "title"], "Title can't be blank", "INVALID_PRODUCT"))
    handle: str | None = None
    if (data.get("handle") or "").strip():
        handle = normalize_handle(data["handle"]) or "product"
    elif creating and ident.get("handle"):
        handle = normalize_handle(ident["handle"]) or "product"
    derived = handle or (normalize_handle(title) if creating and title else None)
    errs += _length_errors(data, ["input"], derived)
    if handle is not None:
        owner = handle_owner(shop, handle)
        if owner is not None and (target is None or owner["id"] != target["id"]):
            errs.append(
                user_error(
                    ["input", "handle"],
                    f"Handle '{handle}' already in use. Please provide a new handle.",
                    "HANDLE_NOT_UNIQUE",
                )
            )
    variants_in = (
        [_d(v) for v in data.get("variants") or []] if data.get("variants") is not None else None
    )
    options_in = (
        [_d(o) for o in data.get("productOptions") or []]
        if data.get("productOptions") is not None
        else None
    )
    if options_in is not None and len(options_in) > 3:
        errs.append(
            user_error(
                ["input", "productOptions"],
                "Can only specify a maximum of 3 options",
                "OPTIONS_OVER_LIMIT",
            )
        )
    if variants_in is not None:
        if len(variants_in) > 2048:
            errs.append(
                user_error(
                    ["input", "variants"],
                    "Exceeded the maximum number of variants allowed",
                    "VARIANTS_OVER_LIMIT",
                )
            )
        seen: dict[tuple[tuple[str, str], ...], int] = {}
        for i, v in enumerate(variants_in):
            key = tuple(sorted((n.lower(), val) for n, val in _option_pairs(v.get("optionValues"))))
            if key in seen:
                label = " / ".join(val for _, val in _option_pairs(v.get("optionValues")))
                errs.append(
                    user_error(
                        ["input", "variants", str(i)],
                        f"The variant '{label}' already exists. "
                        "Please change at least one option value.",
                    )
                )
            else:
                seen[key] = i
            if v.get("id") and (
                v["id"] not in shop.variants
                or target is None
                or shop.variants[v["id"]]["productId"] != target["id"]
            ):
                errs.append(
                    user_error(
                        ["input", "variants", str(i), "id"],
                        "Product variant does not exist",
                        "PRODUCT_VARIANT_DOES_NOT_EXIST",
                    )
                )
            for j, q in enumerate(v.get("inventoryQuantities") or []):
                q = _d(q)
                if q.get("locationId") not in shop.locations:
                    errs.append(
                        user_error(
                            [
                                "input",
                                "variants",
                                str(i),
                                "inventoryQuantities",
                                str(j),
                                "locationId",
                            ],
                            "Location does not exist",
                            "NOT_FOUND",
                        )
                    )
            for field_name in ("price", "compareAtPrice"):
                try:
                    money(v.get(field_name))
                except ValueError:
                    errs.append(
                        user_error(
                            ["input", "variants", str(i), field_name],
                            "is invalid",
                            "INVALID_VARIANT",
                        )
                    )
    if errs:
        return fail(errs)

    if creating:
        p = new_product(
            shop,
            title=title or "",
            handle=handle or unique_handle(shop, normalize_handle(title or "") or "product"),
            status=data.get("status") or "ACTIVE",
            published=False,  # the API publishes nothing: publishablePublish does
        )
        if ident.get("customId"):
            cid = _d(ident["customId"])
            set_metafield(shop, p, "PRODUCT", cid.get("namespace"), cid["key"], cid["value"], "id")
    else:
        assert target is not None
        p = target
        if handle is not None:
            set_handle(shop, p, handle)
    _apply_product_scalars(shop, p, data)
    if data.get("metafields") is not None:
        keep = {(_d(m).get("namespace") or "$app", _d(m).get("key")) for m in data["metafields"]}
        p["metafields"] = [
            m for m in p["metafields"] if (m["namespace"], m["key"]) in keep or m["type"] == "id"
        ]

    # Options: list replacement by name (ids kept for options and values that stay).
    if options_in is not None:
        new_opts = []
        for i, o in enumerate(options_in, start=1):
            existing = None
            if o.get("id"):
                existing = next((x for x in p["options"] if x["id"] == o["id"]), None)
            if existing is None and o.get("name"):
                existing = option_named(p, o["name"])
            if existing is None:
                existing = new_option(shop, o.get("name") or f"Option{i}", i, [])
            if o.get("name"):
                existing["name"] = o["name"]
            existing["position"] = o.get("position") or i
            values = [_d(v).get("name") for v in o.get("values") or []]
            if o.get("values") is not None:
                kept = [ov for ov in existing["optionValues"] if ov["name"] in values]
                existing["optionValues"] = kept
                for val in values:
                    if val:
                        add_option_value(shop, existing, val)
            new_opts.append(existing)
        p["options"] = new_opts

    changed_levels: list[dict[str, Any]] = []
    if variants_in is not None:
        keep_ids: list[str] = []
        for v_in in variants_in:
            pairs = _option_pairs(v_in.get("optionValues")) or [("Title", "Default Title")]
            variant = shop.variants.get(v_in["id"]) if v_in.get("id") else None
            if variant is None:
                wanted = sorted((n.lower(), val) for n, val in pairs)
                for vg in p["variantIds"]:
                    cand = shop.variants[vg]
                    have = sorted((s["name"].lower(), s["value"]) for s in cand["selectedOptions"])
                    if have == wanted and vg not in keep_ids:
                        variant = cand
                        break
            if variant is None:
                variant = new_variant(
                    shop,
                    p,
                    options=pairs,
                    stock_primary=not v_in.get("inventoryQuantities"),
                )
            else:
                selected = []
                for name, value in pairs:
                    opt = option_named(p, name)
                    if opt is None:
                        opt = new_option(shop, name, len(p["options"]) + 1, [])
                        p["options"].append(opt)
                    ov = add_option_value(shop, opt, value)
                    selected.append({"name": opt["name"], "value": value, "optionValue": ov})
                variant["selectedOptions"] = selected
            keep_ids.append(variant["id"])
            _apply_variant_input(shop, variant, v_in)
            if v_in.get("inventoryQuantities"):
                changed_levels += _set_inventory_quantities(
                    shop, shop.item_of(variant), [_d(q) for q in v_in["inventoryQuantities"]]
                )
        for vg in list(p["variantIds"]):
            if vg not in keep_ids:
                delete_variant(shop, shop.variants[vg])
        p["variantIds"] = [vg for vg in keep_ids if vg in shop.variants]
    elif creating:
        new_variant(shop, p)
    product_changed(shop, p, created=creating)
    for lv in changed_levels:
        shop.inventory_event(lv)
    if not synchronous:
        op = {
            "id": shop.new_gid("ProductSetOperation"),
            "status": "COMPLETE",
            "product": p,
            "userErrors": [],
        }
        return {"product": None, "productSetOperation": op, "userErrors": []}
    return {"product": p, "productSetOperation": None, "userErrors": []}


def _apply_variant_input(shop: ShopState, variant: dict[str, Any], data: dict[str, Any]) -> None:
    """Apply the fields of a ``ProductVariantSetInput``/``ProductVariantsBulkInput``."""
    for k in ("barcode", "taxable", "inventoryPolicy"):
        if k in data and data[k] is not None:
            variant[k] = data[k]
    if "barcode" in data and data["barcode"] is None:
        variant["barcode"] = None
    if "sku" in data:
        variant["sku"] = data["sku"]
    if data.get("price") is not None:
        variant["price"] = money(data["price"])
    if "compareAtPrice" in data:
        variant["compareAtPrice"] = money(data["compareAtPrice"])
    if data.get("inventoryItem") is not None:
        apply_item_input(shop, shop.item_of(variant), _d(data["inventoryItem"]))
    for m in data.get("metafields") or []:
        m = _d(m)
        if m.get("key") and m.get("value") is not None:
            set_metafield(
                shop,
                variant,
                "PRODUCTVARIANT",
                m.get("namespace"),
                m["key"],
                m["value"],
                m.get("type"),
            )
    shop.touch(variant)


def _variant_input_errors(i: int, data: dict[str, Any], *, create: bool) -> list[dict[str, Any]]:
    """Per-variant input checks, in Shopify's order (compareAtPrice before price)."""
    errs = []
    limit = Decimal("1000000000000000000")
    cap = data.get("compareAtPrice")
    if cap is not None:
        try:
            if Decimal(str(cap)) >= limit:
                errs.append(
                    user_error(
                        ["variants", str(i), "compareAtPrice"],
                        "must be less than 1000000000000000000",
                        "INVALID_INPUT",
                    )
                )
        except InvalidOperation:
            errs.append(
                user_error(["variants", str(i), "compareAtPrice"], "is invalid", "INVALID_INPUT")
            )
    price = data.get("price")
    if price is not None:
        try:
            d = Decimal(str(price))
            if d < 0:
                errs.append(
                    user_error(
                        ["variants", str(i), "price"],
                        "Price must be greater than or equal to 0",
                        "GREATER_THAN_OR_EQUAL_TO",
                    )
                )
            elif d >= limit:
                errs.append(
                    user_error(
                        ["variants", str(i), "price"],
                        "must be less than 1000000000000000000",
                        "INVALID_INPUT",
                    )
                )
        except InvalidOperation:
            errs.append(user_error(["variants", str(i), "price"], "is invalid", "INVALID_INPUT"))
    if not create and data.get("inventoryQuantities"):
        errs.append(
            user_error(
                ["variants", str(i), "inventoryQuantities"],
                "Inventory quantities can only be provided during create. To update inventory "
                "for existing variants, use inventoryAdjustQuantities.",
                "NO_INVENTORY_QUANTITIES_ON_VARIANTS_UPDATE",
            )
        )
    return errs


def _m_variants_bulk_update(
    _: Any,
    info: GraphQLResolveInfo,
    productId: str,
    variants: list[dict[str, Any]],
    allowPartialUpdates: bool = False,
) -> Any:
    shop = ctx_of(info).shop
    p = shop.products.get(productId)
    if p is None:
        return {
            "product": None,
            "productVariants": None,
            "userErrors": [
                user_error(["productId"], "Product does not exist", "PRODUCT_DOES_NOT_EXIST")
            ],
        }
    errs: list[dict[str, Any]] = []
    ok: list[tuple[dict[str, Any], dict[str, Any]]] = []
    listed: list[dict[str, Any]] = []
    for i, raw in enumerate(variants):
        data = _d(raw)
        var_errs: list[dict[str, Any]] = []
        variant = None
        if not data.get("id"):
            var_errs.append(
                user_error(
                    ["variants", str(i), "id"],
                    "Product variant is missing ID attribute",
                    "PRODUCT_VARIANT_ID_MISSING",
                )
            )
        else:
            variant = shop.variants.get(data["id"])
            if variant is None or variant["productId"] != p["id"]:
                variant = None
                var_errs.append(
                    user_error(
                        ["variants", str(i), "id"],
                        "Product variant does not exist",
                        "PRODUCT_VARIANT_DOES_NOT_EXIST",
                    )
                )
        var_errs += _variant_input_errors(i, data, create=False)
        if variant is not None:
            listed.append(variant)
        errs += var_errs
        if variant is not None and not var_errs:
            ok.append((variant, data))
    if not errs or allowPartialUpdates:
        for variant, data in ok:
            if data.get("optionValues"):
                _set_variant_options(shop, p, variant, _option_pairs(data["optionValues"]))
            _apply_variant_input(shop, variant, data)
        if ok:
            product_changed(shop, p)
    return {"product": p, "productVariants": listed, "userErrors": errs}


def _set_variant_options(
    shop: ShopState, p: dict[str, Any], variant: dict[str, Any], pairs: list[tuple[str, str]]
) -> None:
    selected = {s["name"].lower(): s for s in variant["selectedOptions"]}
    for name, value in pairs:
        opt = option_named(p, name)
        if opt is None:
            opt = new_option(shop, name, len(p["options"]) + 1, [])
            p["options"].append(opt)
        ov = add_option_value(shop, opt, value)
        selected[opt["name"].lower()] = {"name": opt["name"], "value": value, "optionValue": ov}
    order = [o["name"].lower() for o in p["options"]]
    variant["selectedOptions"] = [selected[n] for n in order if n in selected]


def _m_variants_bulk_create(
    _: Any,
    info: GraphQLResolveInfo,
    productId: str,
    variants: list[dict[str, Any]],
    strategy: str = "DEFAULT",
) -> Any:
    shop = ctx_of(info).shop
    p = shop.products.get(productId)
    if p is None:
        return {
            "product": None,
            "productVariants": None,
            "userErrors": [
                user_error(["productId"], "Product does not exist", "PRODUCT_DOES_NOT_EXIST")
            ],
        }
    errs: list[dict[str, Any]] = []
    existing = {
        tuple(sorted((s["name"].lower(), s["value"]) for s in shop.variants[vg]["selectedOptions"]))
        for vg in p["variantIds"]
    }
    for i, raw in enumerate(variants):
        data = _d(raw)
        errs += [{**e, "field": e["field"]} for e in _variant_input_errors(i, data, create=True)]
        key = tuple(sorted((n.lower(), v) for n, v in _option_pairs(data.get("optionValues"))))
        if key in existing:
            label = " / ".join(v for _, v in _option_pairs(data.get("optionValues")))
            errs.append(
                user_error(
                    ["variants", str(i)],
                    f"The variant '{label}' already exists.",
                    "VARIANT_ALREADY_EXISTS",
                )
            )
        existing.add(key)
        for j, q in enumerate(data.get("inventoryQuantities") or []):
            if _d(q).get("locationId") not in shop.locations:
                errs.append(
                    user_error(
                        ["variants", str(i), "inventoryQuantities", str(j), "locationId"],
                        "Location does not exist",
                        "TRACKED_VARIANT_LOCATION_NOT_FOUND",
                    )
                )
    if errs:
        return {"product": p, "productVariants": [], "userErrors": errs}
    standalone = None
    if strategy != "PRESERVE_STANDALONE_VARIANT" and len(p["variantIds"]) == 1:
        only = shop.variants[p["variantIds"][0]]
        if [(s["name"], s["value"]) for s in only["selectedOptions"]] == [
            ("Title", "Default Title")
        ]:
            standalone = only
    if standalone is not None:
        delete_variant(shop, standalone)
        p["options"] = [o for o in p["options"] if o["name"] != "Title"]
    created = []
    changed_levels: list[dict[str, Any]] = []
    for raw in variants:
        data = _d(raw)
        v = new_variant(
            shop,
            p,
            options=_option_pairs(data.get("optionValues")) or None,
            stock_primary=not data.get("inventoryQuantities"),
        )
        _apply_variant_input(shop, v, data)
        quantities = [
            {
                "locationId": _d(q)["locationId"],
                "quantity": _d(q)["availableQuantity"],
                "name": "available",
            }
            for q in data.get("inventoryQuantities") or []
        ]
        changed_levels += _set_inventory_quantities(shop, shop.item_of(v), quantities)
        created.append(v)
    product_changed(shop, p)
    for lv in changed_levels:
        shop.inventory_event(lv)
    return {"product": p, "productVariants": created, "userErrors": []}


def _m_item_update(_: Any, info: GraphQLResolveInfo, id: str, input: dict[str, Any]) -> Any:
    shop = ctx_of(info).shop
    item = shop.inventory_items.get(id)
    if item is None:
        return {
            "inventoryItem": None,
            "userErrors": [user_error(["id"], "Inventory item does not exist")],
        }
    apply_item_input(shop, item, _d(input))
    variant = shop.variants.get(item["variantId"])
    if variant is not None:
        shop.touch(variant)
        product_changed(shop, shop.product_of(variant))
    return {"inventoryItem": item, "userErrors": []}


# -- resolvers: inventory mutations -----------------------------------------------------------


def _invalid_reason() -> str:
    return (
        "The specified reason is invalid. Valid values are: " + ", ".join(INVENTORY_REASONS) + "."
    )


def _require_change_from(
    info: GraphQLResolveInfo, rows: list[dict[str, Any]], type_name: str
) -> None:
    """2026-04+: ``changeFromQuantity`` must be present in every row, even if null."""
    if not ctx_of(info).version_at_least("2026-04"):
        return
    if all("changeFromQuantity" in r for r in rows):
        return
    nodes: list[Any] = list(info.field_nodes)
    arg = next((a for a in info.field_nodes[0].arguments or () if a.name.value == "input"), None)
    if arg is not None and arg.value.kind == "variable":
        name = arg.value.name.value  # type: ignore[attr-defined]
        for vd in info.operation.variable_definitions or ():
            if vd.variable.name.value == name:
                nodes.append(vd)
    raise GraphQLError(
        f"{type_name} must include the following argument: changeFromQuantity.",
        nodes,
        extensions={"code": "INVALID_FIELD_ARGUMENTS"},
    )


def _stocked_level(found: tuple[dict[str, Any], dict[str, Any]] | None, row: Mapping[str, Any],
                   name: str, path: list[str], errs: list[dict[str, Any]]
                   ) -> dict[str, Any] | None:
    """The active level of a checked (item, location) row, appending Shopify's errors.

    ``ITEM_NOT_STOCKED_AT_LOCATION`` (and ``None``) when the item is not stocked there;
    ``CHANGE_FROM_QUANTITY_STALE`` when the row's ``changeFromQuantity`` is not the level's
    current quantity (the level is still returned: other checks go on).
    """
    assert found is not None
    item, loc = found
    level: dict[str, Any] | None = item["levels"].get(loc["id"])
    if level is None or not level["isActive"]:
        errs.append(user_error([*path, "locationId"],
                               "The specified inventory item is not stocked at the location.",
                               "ITEM_NOT_STOCKED_AT_LOCATION"))
        return None
    cfq = row.get("changeFromQuantity")
    if cfq is not None and cfq != level["quantities"][name]:
        errs.append(user_error([*path, "changeFromQuantity"],
                               "The specified compare quantity does not match the current "
                               "quantity.", "CHANGE_FROM_QUANTITY_STALE"))
    return level


def _row_checks(
    shop: ShopState,
    rows: list[dict[str, Any]],
    list_name: str,
) -> tuple[list[dict[str, Any]], list[tuple[dict[str, Any], dict[str, Any]] | None]]:
    """Existence checks per row; returns errors and (item, location) per row (``None`` if bad)."""
    errs: list[dict[str, Any]] = []
    found: list[tuple[dict[str, Any], dict[str, Any]] | None] = []
    for i, r in enumerate(rows):
        item = shop.inventory_items.get(r["inventoryItemId"])
        loc = shop.locations.get(r["locationId"])
        if item is None:
            errs.append(
                user_error(
                    ["input", list_name, str(i), "inventoryItemId"],
                    "The specified inventory item could not be found.",
                    "INVALID_INVENTORY_ITEM",
                )
            )
        if loc is None:
            errs.append(
                user_error(
                    ["input", list_name, str(i), "locationId"],
                    "The specified location could not be found.",
                    "INVALID_LOCATION",
                )
            )
        found.append((item, loc) if item is not None and loc is not None else None)
    return errs, found


def _bounds_error(path: list[str], value: int) -> dict[str, Any] | None:
    if value > MAX_QUANTITY:
        return user_error(
            path, "The quantity can't be higher than 1,000,000,000.", "INVALID_QUANTITY_TOO_HIGH"
        )
    if value < -MAX_QUANTITY:
        return user_error(
            path, "The quantity can't be lower than -1,000,000,000.", "INVALID_QUANTITY_TOO_LOW"
        )
    return None


def _new_group(
    shop: ShopState, reason: str, uri: str | None, changes: list[dict[str, Any]]
) -> dict[str, Any] | None:
    if not changes:
        return None
    g: dict[str, Any] = {
        "id": shop.new_gid("InventoryAdjustmentGroup"),
        "createdAt": shop.now_iso(),
        "reason": reason,
        "referenceDocumentUri": uri,
        "changes": changes,
    }
    shop.adjustment_groups[g["id"]] = g
    return g


def _change(
    name: str, delta: int, level: dict[str, Any], ledger: str | None = None
) -> dict[str, Any]:
    return {
        "name": name,
        "delta": delta,
        "quantityAfterChange": None,
        "ledgerDocumentUri": ledger,
        "itemId": level["itemId"],
        "locationId": level["locationId"],
    }


Move = tuple[dict[str, Any], str, int, "str | None"]
"""(level, quantity name, delta, ledger document uri) of one quantity change."""


def apply_moves(shop: ShopState, data: Mapping[str, Any], moves: Sequence[Move],
                merge: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] | None = None
                ) -> dict[str, Any]:
    """Apply quantity changes as one adjustment group (with its inventory events); the payload.

    Args:
        shop: The shop.
        data: The mutation's input (``reason``, ``referenceDocumentUri``).
        moves: The changes, in order.
        merge: Folds the group's changes before it is recorded (moves between locations).
    """
    changes: list[dict[str, Any]] = []
    touched: list[dict[str, Any]] = []
    for level, name, delta, ledger in moves:
        for qname, d in shop.change_quantity(level, name, delta):
            changes.append(_change(qname, d, level, ledger))
        if delta and not any(t is level for t in touched):
            touched.append(level)
    group = _new_group(shop, data["reason"], data.get("referenceDocumentUri"),
                       merge(changes) if merge else changes)
    for level in touched:
        shop.inventory_event(level)
    return {"inventoryAdjustmentGroup": group, "userErrors": []}


def _mismatch_payload(extra: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    def make() -> dict[str, Any]:
        return {
            **extra,
            "userErrors": [
                user_error(
                    None,
                    "The idempotency key was already used for a request with different parameters.",
                    "IDEMPOTENCY_KEY_PARAMETER_MISMATCH",
                )
            ],
        }

    return make


def _m_set_quantities(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> Any:
    data = _d(input)
    rows = [_d(q) for q in data.get("quantities") or []]
    _require_change_from(info, rows, "InventoryQuantityInput")
    shop = ctx_of(info).shop

    def run() -> dict[str, Any]:
        def fail(errs: list[dict[str, Any]]) -> dict[str, Any]:
            return {"inventoryAdjustmentGroup": None, "userErrors": errs}

        errs: list[dict[str, Any]] = []
        if data.get("reason") not in INVENTORY_REASONS:
            errs.append(user_error(["input", "reason"], _invalid_reason(), "INVALID_REASON"))
        name = data.get("name")
        if name not in ("available", "on_hand"):
            errs.append(
                user_error(
                    ["input", "name"],
                    "The quantity name must be either 'available' or 'on_hand'.",
                    "INVALID_NAME",
                )
            )
        if errs:
            return fail(errs)
        errs, found = _row_checks(shop, rows, "quantities")
        for i, r in enumerate(rows):
            path = ["input", "quantities", str(i), "quantity"]
            if name == "on_hand" and r["quantity"] < 0:
                errs.append(
                    user_error(path, "The quantity can't be negative.", "INVALID_QUANTITY_NEGATIVE")
                )
            else:
                b = _bounds_error(path, r["quantity"])
                if b:
                    errs.append(b)
        pairs: dict[tuple[str, str], list[int]] = {}
        for i, r in enumerate(rows):
            pairs.setdefault((r["inventoryItemId"], r["locationId"]), []).append(i)
        for idxs in pairs.values():
            if len(idxs) > 1:
                for i in idxs:
                    errs.append(
                        user_error(
                            ["input", "quantities", str(i), "locationId"],
                            "The combination of inventoryItemId and locationId must be unique.",
                            "NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR",
                        )
                    )
        if errs:
            return fail(errs)
        levels: list[dict[str, Any] | None] = []
        for i, (r, f) in enumerate(zip(rows, found, strict=True)):
            level = _stocked_level(f, r, str(name), ["input", "quantities", str(i)], errs)
            if level is None:
                levels.append(None)
                continue
            levels.append(level)
        if errs:
            return fail(errs)
        moves = []
        for r, level in zip(rows, levels, strict=True):
            assert level is not None
            moves.append((level, str(name), r["quantity"] - level["quantities"][name], None))
        return apply_moves(shop, data, moves)

    return idempotent(
        info, {"input": data}, run, _mismatch_payload({"inventoryAdjustmentGroup": None})
    )


def _m_adjust_quantities(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> Any:
    data = _d(input)
    rows = [_d(c) for c in data.get("changes") or []]
    _require_change_from(info, rows, "InventoryChangeInput")
    shop = ctx_of(info).shop

    def run() -> dict[str, Any]:
        def fail(errs: list[dict[str, Any]]) -> dict[str, Any]:
            return {"inventoryAdjustmentGroup": None, "userErrors": errs}

        name = data.get("name")
        errs: list[dict[str, Any]] = []
        if data.get("reason") not in INVENTORY_REASONS:
            errs.append(user_error(["input", "reason"], _invalid_reason(), "INVALID_REASON"))
        if name not in ADJUSTABLE_NAMES:
            errs.append(
                user_error(
                    ["input", "name"],
                    "The specified quantity name is invalid. Valid values are: "
                    + ", ".join(ADJUSTABLE_NAMES)
                    + ".",
                    "INVALID_QUANTITY_NAME",
                )
            )
        if errs:
            return fail(errs)
        errs, found = _row_checks(shop, rows, "changes")
        if errs:
            return fail(errs)
        levels: list[dict[str, Any] | None] = []
        for i, (r, f) in enumerate(zip(rows, found, strict=True)):
            level = _stocked_level(f, r, str(name), ["input", "changes", str(i)], errs)
            if level is None:
                levels.append(None)
                continue
            b = _bounds_error(
                ["input", "changes", str(i), "delta"], level["quantities"][name] + r["delta"]
            )
            if b:
                errs.append(b)
            levels.append(level)
        if errs:
            return fail(errs)
        moves = []
        for r, level in zip(rows, levels, strict=True):
            assert level is not None
            moves.append((level, str(name), r["delta"], r.get("ledgerDocumentUri")))
        return apply_moves(shop, data, moves)

    return idempotent(
        info, {"input": data}, run, _mismatch_payload({"inventoryAdjustmentGroup": None})
    )


def _m_activate(
    _: Any,
    info: GraphQLResolveInfo,
    inventoryItemId: str,
    locationId: str,
    available: int | None = None,
    onHand: int | None = None,
    stockAtLegacyLocation: bool = False,
) -> Any:
    shop = ctx_of(info).shop
    args = {
        "inventoryItemId": inventoryItemId,
        "locationId": locationId,
        "available": available,
        "onHand": onHand,
    }

    def run() -> dict[str, Any]:
        item = shop.inventory_items.get(inventoryItemId)
        loc = shop.locations.get(locationId)
        errs = []
        if item is None:
            errs.append(user_error(["inventoryItemId"], "Inventory item does not exist"))
        if loc is None:
            errs.append(user_error(["locationId"], "Location does not exist"))
        if errs:
            return {"inventoryLevel": None, "userErrors": errs}
        assert item is not None and loc is not None
        prefix = f"The product couldn't be stocked at {loc['name']} because"
        level = item["levels"].get(loc["id"])
        if available is not None and onHand is not None:
            msg = f"{prefix} not allowed to set available and on_hand quantities at the same time."
            return {
                "inventoryLevel": None,
                "userErrors": [user_error(["available"], msg), user_error(["onHand"], msg)],
            }
        for arg_name, value in (("available", available), ("onHand", onHand)):
            if value is not None and abs(value) > MAX_QUANTITY:
                return {
                    "inventoryLevel": None,
                    "userErrors": [
                        user_error(
                            [arg_name],
                            f"{prefix} the quantity needs to be between -1 billion and 1 billion.",
                        )
                    ],
                }
        if level is not None and level["isActive"]:
            errs = []
            if onHand is not None:
                errs.append(
                    user_error(
                        ["onHand"],
                        "Not allowed to set an on_hand quantity when the item is already active "
                        "at the location.",
                    )
                )
            if available is not None:
                errs.append(
                    user_error(
                        ["available"],
                        "Not allowed to set an available quantity when the item is already "
                        "active at the location.",
                    )
                )
            return {"inventoryLevel": level, "userErrors": errs}
        if level is None:
            level = shop.new_level(item, loc)
        else:
            level["isActive"] = True
        qty = available if available is not None else onHand
        if qty:
            shop.change_quantity(level, "available", qty)
        shop.inventory_event(level)
        return {"inventoryLevel": level, "userErrors": []}

    return idempotent(info, args, run, _mismatch_payload({"inventoryLevel": None}))


# -- resolvers: tags and metafields -----------------------------------------------------------


def _tags(info: GraphQLResolveInfo, id: str, tags: list[str], add: bool) -> dict[str, Any]:
    shop = ctx_of(info).shop
    owner = owner_of(shop, id)
    if owner is None or owner[1] == "PRODUCTVARIANT":
        return {"node": None, "userErrors": [user_error(["id"], "Invalid id")]}
    rec, kind = owner
    current = list(rec.get("tags") or [])
    given = sorted_tags(tags)
    if add:
        lowered = {t.lower() for t in current}
        new = current + [t for t in given if t.lower() not in lowered]
    else:
        drop = {t.lower() for t in given}
        new = [t for t in current if t.lower() not in drop]
    rec["tags"] = sorted_tags(new)
    if kind == "PRODUCT":
        product_changed(shop, rec)
    else:
        shop.touch(rec)
        order_changed(shop, id)
    return {"node": rec, "userErrors": []}


def _m_tags_add(_: Any, info: GraphQLResolveInfo, id: str, tags: list[str]) -> Any:
    return _tags(info, id, tags, add=True)


def _m_tags_remove(_: Any, info: GraphQLResolveInfo, id: str, tags: list[str]) -> Any:
    return _tags(info, id, tags, add=False)


def _m_metafields_set(_: Any, info: GraphQLResolveInfo, metafields: list[dict[str, Any]]) -> Any:
    shop = ctx_of(info).shop
    errs: list[dict[str, Any]] = []
    rows = [_d(m) for m in metafields]
    owners: list[tuple[dict[str, Any], str] | None] = []
    for i, m in enumerate(rows):
        owner = owner_of(shop, m.get("ownerId", ""))
        owners.append(owner)

        def err(field: str, message: str, code: str, i: int = i) -> None:
            errs.append(
                {**user_error(["metafields", str(i), field], message, code), "elementIndex": i}
            )

        if owner is None:
            err("ownerId", "Owner does not exist.", "INVALID")
            continue
        existing = find_metafield(owner[0], m.get("namespace"), m["key"])
        type_ = m.get("type") or (existing["type"] if existing else None)
        if type_ is None:
            err("type", "Type can't be blank.", "BLANK")
            continue
        if len(m["key"]) < 2:
            err("key", "Key is too short (minimum is 2 characters).", "TOO_SHORT")
        if not _valid_metafield_value(type_, m["value"]):
            err("value", f"Value is invalid for type {type_}.", "INVALID_VALUE")
        digest = m.get("compareDigest")
        if digest is not None and (existing is None or existing["compareDigest"] != digest):
            err(
                "compareDigest",
                "The resource has been updated since it was loaded. "
                "Try again with an updated `compareDigest` value.",
                "STALE_OBJECT",
            )
    if errs:
        return {"metafields": [], "userErrors": errs}
    out = []
    changed: dict[str, tuple[dict[str, Any], str]] = {}
    for m, owner in zip(rows, owners, strict=True):
        assert owner is not None
        rec, kind = owner
        out.append(
            set_metafield(shop, rec, kind, m.get("namespace"), m["key"], m["value"], m.get("type"))
        )
        changed[rec["id"]] = owner
    for gid, (rec, kind) in changed.items():
        if kind == "PRODUCT":
            product_changed(shop, rec)
        elif kind == "PRODUCTVARIANT":
            shop.touch(rec)
            product_changed(shop, shop.product_of(rec))
        else:
            shop.touch(rec)
            order_changed(shop, gid)
    return {"metafields": out, "userErrors": []}


# -- registration -----------------------------------------------------------------------------


def _set(schema: GraphQLSchema, type_name: str, field_name: str, fn: Callable[..., Any]) -> None:
    t = schema.get_type(type_name)
    if t is None or field_name not in getattr(t, "fields", {}):
        return
    t.fields[field_name].resolve = fn  # type: ignore[attr-defined]


def register(schema: GraphQLSchema) -> None:
    """Attach this module's resolvers to the twin's schema."""
    q: dict[str, Callable[..., Any]] = {
        "shop": _r_shop,
        "location": _r_location,
        "locations": _r_locations,
        "locationsCount": _r_locations_count,
        "product": _r_product,
        "products": _r_products,
        "productsCount": _r_products_count,
        "productByIdentifier": _r_product_by_identifier,
        "productVariant": _r_variant,
        "productVariants": _r_variants,
        "productVariantsCount": _r_variants_count,
        "inventoryItem": _r_item,
        "inventoryItems": _r_items,
        "inventoryLevel": _r_level,
        "node": _r_node,
        "nodes": _r_nodes,
        "publications": _r_publications,
    }
    for name, fn in q.items():
        _set(schema, "Query", name, fn)
    m: dict[str, Callable[..., Any]] = {
        "productCreate": _m_product_create,
        "productUpdate": _m_product_update,
        "productDelete": _m_product_delete,
        "productSet": _m_product_set,
        "productVariantsBulkUpdate": _m_variants_bulk_update,
        "productVariantsBulkCreate": _m_variants_bulk_create,
        "inventoryItemUpdate": _m_item_update,
        "inventorySetQuantities": _m_set_quantities,
        "inventoryAdjustQuantities": _m_adjust_quantities,
        "inventoryActivate": _m_activate,
        "tagsAdd": _m_tags_add,
        "tagsRemove": _m_tags_remove,
        "metafieldsSet": _m_metafields_set,
        "publishablePublish": _m_publishable_publish,
    }
    for name, fn in m.items():
        _set(schema, "Mutation", name, fn)
    for type_name in ("Product", "ProductVariant", "InventoryItem", "Location", "Metafield"):
        _set(schema, type_name, "legacyResourceId", _legacy)
    fields: dict[str, dict[str, Callable[..., Any]]] = {
        "Product": {
            "description": _p_description,
            "totalInventory": _p_total_inventory,
            "tracksInventory": _p_tracks,
            "hasOnlyDefaultVariant": _p_only_default,
            "hasOutOfStockVariants": _p_out_of_stock,
            "options": _p_options,
            "variants": _p_variants,
            "variantsCount": _p_variants_count,
            "metafield": resolve_metafield,
            "metafields": resolve_metafields,
            "publishedOnPublication": _p_published_on,
        },
        "ProductVariant": {
            "displayName": _v_display_name,
            "inventoryQuantity": _v_qty,
            "availableForSale": _v_available,
            "product": _v_product,
            "inventoryItem": _v_item,
            "metafield": resolve_metafield,
            "metafields": resolve_metafields,
        },
        "InventoryItem": {
            "sku": _i_sku,
            "variant": _i_variant,
            "inventoryLevel": _i_level,
            "inventoryLevels": _i_levels,
            "locationsCount": _i_locations_count,
        },
        "InventoryLevel": {
            "item": _lv_item,
            "location": _lv_location,
            "quantities": _lv_quantities,
        },
        "Location": {
            "inventoryLevel": _loc_level,
            "inventoryLevels": _loc_levels,
            "hasActiveInventory": _loc_has_inventory,
        },
        "InventoryAdjustmentGroup": {"changes": _group_changes},
        "InventoryChange": {"item": _change_item, "location": _change_location},
        "Metafield": {"jsonValue": _mf_json},
    }
    for type_name, table in fields.items():
        for field_name, fn in table.items():
            _set(schema, type_name, field_name, fn)
    node = schema.get_type("Node")
    if node is not None:
        node.resolve_type = _resolve_node_type  # type: ignore[attr-defined]
    publishable = schema.get_type("Publishable")
    if publishable is not None:
        publishable.resolve_type = (  # type: ignore[attr-defined]
            lambda value, info, _type: "Product")
