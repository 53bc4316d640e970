"""The catalogue as GraphQL serves it: the read resolvers of the shop, locations, products,
variants, inventory items and levels, nodes and publications (and ``publishablePublish``), and
``register``, which attaches them and the catalogue's writes (product_writes, inventory_writes)
to the twin's schema."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import GraphQLError, GraphQLResolveInfo, GraphQLSchema

from . import consistency
from .catalog import (
    PRODUCT_SORTS,
    _product_variants,
    _sorter,
    ctx_of,
    does_not_exist,
    input_dict,
    inventory_quantity,
    item_fields,
    item_sku,
    level_fields,
    location_fields,
    paged,
    product_by_identifier,
    product_changed,
    product_fields,
    publications,
    publish,
    run_search,
    shop_record,
    strip_html,
    total_inventory,
    user_error,
    variant_fields,
)
from .inventory_writes import _m_activate, _m_adjust_quantities, _m_set_quantities
from .metafields import resolve_json_value, resolve_metafield, resolve_metafields
from .product_writes import (
    _m_item_update,
    _m_options_create,
    _m_product_create,
    _m_product_delete,
    _m_product_set,
    _m_product_update,
    _m_variants_bulk_create,
    _m_variants_bulk_update,
)
from .state import QUANTITY_NAMES, ShopState, gid_number, parse_gid, set_resolvers


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
        return does_not_exist("Resource", publishable=None, shop=shop_record(shop))
    pubs = publications(shop)
    errors = []
    for i, entry in enumerate(input):
        entry = input_dict(entry)
        pid = entry.get("publicationId")
        if not pid or pid not in pubs:
            errors.append(
                user_error(["input", str(i), "publicationId"], "Publication does not exist")
            )
        elif entry.get("publishDate") and not pubs[pid]["supportsFuturePublishing"]:
            errors.append(
                user_error(
                    ["input", str(i), "publishDate"], "Can't schedule publishing for this channel"
                )
            )
    if errors:
        return {"publishable": None, "shop": shop_record(shop), "userErrors": errors}
    now = shop.now_iso()
    for entry in input:
        entry = input_dict(entry)
        publish(shop, p, entry["publicationId"], entry.get("publishDate") or now)
    product_changed(shop, p)
    return {"publishable": p, "shop": shop_record(shop), "userErrors": []}


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


def _r_delivery_locations(_: Any, info: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
    """The origin locations a delivery profile may use: the active ones that are not a
    fulfilment service's (recorded, order-create-fulfillment-assigned-location: the one shop
    location), by id."""
    shop = ctx_of(info).shop
    locs = [loc for loc in shop.locations.values()
            if loc["isActive"] and not loc["isFulfillmentService"]]  # fmt: skip
    return paged(info, locs, args, lambda r: gid_number(r["id"]))


def _count(n: int, limit: int | None = None) -> dict[str, Any]:
    cap = limit if limit is not None else 10_000
    if n > cap:
        return {"count": cap, "precision": "AT_LEAST"}
    return {"count": n, "precision": "EXACT"}


def _r_locations_count(_: Any, info: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
    return _count(len(_locations_matching(info, args)), args.get("limit"))


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


def register(schema: GraphQLSchema) -> None:
    """Attach the catalogue's resolvers, reads and writes, to the twin's schema."""
    q: dict[str, Callable[..., Any]] = {
        "shop": _r_shop,
        "location": _r_location,
        "locations": _r_locations,
        "locationsCount": _r_locations_count,
        "locationsAvailableForDeliveryProfilesConnection": _r_delivery_locations,
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
    set_resolvers(schema, "Query", q)
    m: dict[str, Callable[..., Any]] = {
        "productCreate": _m_product_create,
        "productUpdate": _m_product_update,
        "productDelete": _m_product_delete,
        "productSet": _m_product_set,
        "productVariantsBulkUpdate": _m_variants_bulk_update,
        "productVariantsBulkCreate": _m_variants_bulk_create,
        "productOptionsCreate": _m_options_create,
        "inventoryItemUpdate": _m_item_update,
        "inventorySetQuantities": _m_set_quantities,
        "inventoryAdjustQuantities": _m_adjust_quantities,
        "inventoryActivate": _m_activate,
        "publishablePublish": _m_publishable_publish,
    }
    set_resolvers(schema, "Mutation", m)
    for type_name in ("Product", "ProductVariant", "InventoryItem", "Location", "Metafield"):
        set_resolvers(schema, type_name, {"legacyResourceId": _legacy})
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
        "Metafield": {"jsonValue": resolve_json_value},
    }
    for type_name, table in fields.items():
        set_resolvers(schema, type_name, table)
    node = schema.get_type("Node")
    if node is not None:
        node.resolve_type = _resolve_node_type  # type: ignore[attr-defined]
    publishable = schema.get_type("Publishable")
    if publishable is not None:
        publishable.resolve_type = (  # type: ignore[attr-defined]
            lambda value, info, _type: "Product"
        )
