"""Catalogue and inventory records: the shop, locations, products, variants, options, handles,
publications and inventory items, the helpers that create and change them, ``query:`` search
fields and paging, ``@idempotent`` and user errors.

Built on this: :mod:`.catalog_schema` (the read resolvers and registration),
:mod:`.product_writes`, :mod:`.inventory_writes`, :mod:`.metafields` and :mod:`.owner_writes`
(``tagsAdd``, ``tagsRemove``, ``metafieldsSet``).

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
from collections.abc import Callable, Iterable
from decimal import Decimal, InvalidOperation
from typing import Any, cast

from graphql import GraphQLError, GraphQLResolveInfo

from . import consistency, search
from .metafields import find_metafield
from .state import Context, ShopState, connection_from_args, gid_number, idempotency_key

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


def does_not_exist(what: str, **payload: Any) -> dict[str, Any]:
    """The answer of a mutation whose ``id`` names no record: the payload's fields (``None``)
    and the user error ``"<what> does not exist"`` on ``id``."""
    return {**payload, "userErrors": [user_error(["id"], f"{what} does not exist")]}


def input_dict(x: Any) -> dict[str, Any]:
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


def stamp_fields(id_kind: str = "id") -> dict[str, search.Field]:
    """The search fields every record of the twin has: ``id`` (searched as ``id_kind``),
    ``created_at`` and ``updated_at``."""
    F = search.Field
    return {
        "id": F(lambda r: r["id"], id_kind),
        "created_at": F(lambda r: r["createdAt"], "time"),
        "updated_at": F(lambda r: r["updatedAt"], "time"),
    }


def product_fields(shop: ShopState) -> dict[str, search.Field]:
    F = search.Field

    def variants(p: dict[str, Any]) -> list[dict[str, Any]]:
        return _product_variants(shop, p)

    return {
        **stamp_fields(),
        "title": F(lambda p: p["title"], "text"),
        "handle": F(lambda p: p["handle"], "string"),
        "product_type": F(lambda p: p["productType"], "string"),
        "vendor": F(lambda p: p["vendor"], "string"),
        "status": F(lambda p: p["status"], "string"),
        "tag": F(lambda p: p["tags"], "tag"),
        "tag_not": F(lambda p: p["tags"], "tag", negate=True),
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
        **stamp_fields(),
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
    }


def item_fields(shop: ShopState) -> dict[str, search.Field]:
    F = search.Field
    return {
        **stamp_fields(),
        "sku": F(lambda i: item_sku(shop, i), "string"),
        "tracked": F(lambda i: i["tracked"], "boolean"),
    }


def location_fields() -> dict[str, search.Field]:
    F = search.Field
    return {
        **stamp_fields(),
        "name": F(lambda loc: loc["name"], "text"),
        "active": F(lambda loc: loc["isActive"], "boolean"),
        "country": F(lambda loc: loc["address"].get("countryCode"), "string"),
    }


def level_fields() -> dict[str, search.Field]:
    F = search.Field
    return {
        **stamp_fields(id_kind="string"),
        "inventory_item_id": F(lambda lv: lv["itemId"], "id"),
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
    return connection_from_args(ordered, args, sort_value=sort_value)


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


def select_option(
    shop: ShopState, product: dict[str, Any], name: str, value: str
) -> dict[str, Any]:
    """A variant's ``selectedOptions`` entry for ``name: value``, adding the option or its value
    to the product when it is new."""
    opt = option_named(product, name)
    if opt is None:
        opt = new_option(shop, name, len(product["options"]) + 1, [])
        product["options"].append(opt)
    ov = add_option_value(shop, opt, value)
    return {"name": opt["name"], "value": value, "optionValue": ov}


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
            shop.publications[gid] = {
                "id": gid,
                "name": name,
                "autoPublish": False,
                "supportsFuturePublishing": name == "Online Store",
            }
    return shop.publications


def online_store(shop: ShopState) -> dict[str, Any]:
    return next(p for p in publications(shop).values() if p["name"] == "Online Store")


def publish(shop: ShopState, product: dict[str, Any], publication_id: str, when: str) -> None:
    """Put a product on a publication; ``publishedAt`` is when it went on the online store."""
    product.setdefault("publications", {}).setdefault(publication_id, when)
    if publication_id == online_store(shop)["id"] and not product.get("publishedAt"):
        product["publishedAt"] = when


#: what a unit price's unit measures (Shopify's UnitPriceMeasurementMeasuredType)
_MEASURED = {
    **dict.fromkeys(("ML", "CL", "L", "M3", "FLOZ", "PT", "QT", "GAL"), "VOLUME"),
    **dict.fromkeys(("MG", "G", "KG", "OZ", "LB"), "WEIGHT"),
    **dict.fromkeys(("MM", "CM", "M", "IN", "FT", "YD"), "LENGTH"),
    **dict.fromkeys(("M2", "FT2"), "AREA"),
    "ITEM": "COUNT",
    "UNKNOWN": "UNKNOWN",
}


def unit_price_measurement(given: dict[str, Any]) -> dict[str, Any]:
    """A variant's unitPriceMeasurement from a UnitPriceMeasurementInput; with nothing given,
    what Shopify answers for a variant without one (recorded: 0, null, 0, null)."""
    unit = given.get("quantityUnit")
    return {
        "measuredType": _MEASURED.get(unit) if unit else None,
        "quantityUnit": unit,
        "quantityValue": float(given.get("quantityValue") or 0),
        "referenceUnit": given.get("referenceUnit"),
        "referenceValue": int(given.get("referenceValue") or 0),
    }


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
    selected = [select_option(shop, product, name, value) for name, value in pairs]
    # in the product's option order, whatever order the input named them in
    order = [o["name"].lower() for o in product["options"]]
    selected.sort(key=lambda s: order.index(s["name"].lower()) if s["name"].lower() in order
                  else len(order))
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
        # recorded defaults (product-variants-bulk-update-allow-partial-and-error-order)
        "taxCode": "",
        "requiresComponents": False,
        "showUnitPrice": False,
        "unitPriceMeasurement": unit_price_measurement({}),
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
    weight = input_dict(input_dict(data.get("measurement")).get("weight"))
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


def product_by_identifier(shop: ShopState, ident: dict[str, Any]) -> dict[str, Any] | None:
    """Find a product by ``{id}``, ``{handle}`` or ``{customId: {namespace, key, value}}``."""
    if ident.get("id"):
        return shop.products.get(ident["id"])
    if ident.get("handle"):
        return handle_owner(shop, ident["handle"])
    cid = input_dict(ident.get("customId"))
    if cid:
        for p in shop.products.values():
            mf = find_metafield(p, cid.get("namespace"), cid["key"])
            if mf is not None and mf["value"] == cid["value"]:
                return p
    return None


# Product fields


# Variant fields


# Inventory item and level fields


# -- resolvers: inventory mutations -----------------------------------------------------------


"""(level, quantity name, delta, ledger document uri) of one quantity change."""
