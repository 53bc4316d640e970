"""Metafields on any owner record (products, variants, orders, customers): find, set, the
``compareDigest``, typed values, and the ``metafield``/``metafields`` fields every owner type
resolves the same way."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal, InvalidOperation
from typing import Any, cast

from graphql import GraphQLResolveInfo

from .state import ShopState, connection_from_args


def compare_digest(mf: dict[str, Any]) -> str:
    """The ``compareDigest`` of a metafield as it is now (changes with every write)."""
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


def valid_metafield_value(t: str, v: str) -> bool:
    """Whether ``v`` is a valid value of metafield type ``t`` (the types the twin checks)."""
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
    return connection_from_args(mfs, args)


def resolve_metafield(
    rec: dict[str, Any], _: GraphQLResolveInfo, key: str, namespace: str | None = None
) -> Any:
    """``metafield(namespace:, key:)`` on any owner record (products, variants, orders)."""
    return find_metafield(rec, namespace, key)


def resolve_metafields(rec: dict[str, Any], _: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
    """``metafields(...)`` connection on any owner record."""
    return metafields_page(rec, args)


def resolve_json_value(mf: dict[str, Any], _: GraphQLResolveInfo) -> Any:
    """``Metafield.jsonValue``."""
    return json_value(mf)
