"""``customerCreate`` and ``customerDelete`` on the order part's customer table (``orders.py``).

Recorded: webhook-subscription-conformance (a customer made with email and names, answered with
its id and email; deleted, answered with its id). Refusals use the wording Shopify's admin shows
(not recorded through the API): docs/sandbox-shopify.md.
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLResolveInfo, GraphQLSchema

from .catalog import shop_record, user_error
from .order_customers import _customers, _upsert_customer
from .order_values import _plain, _shop_of


def _m_create(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    shop = _shop_of(info)
    data = _plain(input)
    if data.get("id"):
        return {"customer": None, "userErrors": [user_error(["id"], "Id must be blank")]}
    if not any((data.get(k) or "").strip() for k in ("email", "phone", "firstName", "lastName")):
        return {
            "customer": None,
            "userErrors": [
                user_error(None, "A name, phone number, or email address must be present")
            ],
        }
    email = (data.get("email") or "").strip().lower()
    if email and any((c.get("email") or "").lower() == email for c in _customers(shop).values()):
        return {
            "customer": None,
            "userErrors": [user_error(["email"], "Email has already been taken")],
        }
    customer = _upsert_customer(shop, {**data, "id": None}, None)
    shop.emit("customers/create", {"id": int(customer["legacyResourceId"]), "email": email})
    return {"customer": customer, "userErrors": []}


def _m_delete(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    shop = _shop_of(info)
    gid = str(_plain(input).get("id"))
    table = _customers(shop)
    if gid not in table:
        return {
            "deletedCustomerId": None,
            "shop": shop_record(shop),
            "userErrors": [user_error(["id"], "Customer can't be found")],
        }
    if any(o.get("customerId") == gid for o in shop.orders.values()):
        return {
            "deletedCustomerId": None,
            "shop": shop_record(shop),
            "userErrors": [user_error(None, "Customer can't be deleted because they have orders")],
        }
    del table[gid]
    shop.emit("customers/delete", {"id": int(gid.rsplit("/", 1)[1])})
    return {"deletedCustomerId": gid, "shop": shop_record(shop), "userErrors": []}


def register(schema: GraphQLSchema) -> None:
    """Attach the resolvers (``schema_customer_ops.graphql``)."""
    m = schema.mutation_type
    assert m is not None
    m.fields["customerCreate"].resolve = _m_create
    m.fields["customerDelete"].resolve = _m_delete
