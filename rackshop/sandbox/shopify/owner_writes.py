"""``tagsAdd``, ``tagsRemove`` and ``metafieldsSet``: writes that take any owner's gid (a product, a
variant, an order, a customer) and tell the owner's part of the twin that it changed."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLResolveInfo, GraphQLSchema

from . import orders
from .catalog import ctx_of, input_dict, product_changed, sorted_tags, user_error
from .metafields import find_metafield, set_metafield, valid_metafield_value
from .state import ShopState, parse_gid, set_resolvers


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
    orders.order_tags_changed(shop, order_gid)


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
    rows = [input_dict(m) for m in metafields]
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
        if not valid_metafield_value(type_, m["value"]):
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


def register(schema: GraphQLSchema) -> None:
    """Attach the mutations to the twin's schema."""
    set_resolvers(
        schema,
        "Mutation",
        {"tagsAdd": _m_tags_add, "tagsRemove": _m_tags_remove, "metafieldsSet": _m_metafields_set},
    )
