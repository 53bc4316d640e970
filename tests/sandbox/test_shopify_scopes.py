"""The Shopify twin refuses what a missing access scope guards, the way Shopify does.

A shop whose scopes were narrowed (``POST /__sandbox/scopes``) answers ``ACCESS_DENIED`` for a
root field that needs a scope it lacks (``write_x`` grants ``read_x``), and fails a bulk query
whose inner query needs one; a shop with every scope is never checked.
"""

from __future__ import annotations

from typing import Any

from rackshop.sandbox.shopify import ShopifyTwin
from rackshop.sandbox.shopify.scopes import REQUIRED, granted

ORDERS = "query { orders(first: 1) { nodes { id } } }"
LOCATIONS = "query { shop { name } locations(first: 1) { nodes { id } } }"


def twin_with(scopes: list[str] | None) -> ShopifyTwin:
    twin = ShopifyTwin()
    shop = twin.add_shop("dk", token="shpat_test")
    if scopes is not None:
        shop.contract_scopes = tuple(scopes)  # what POST /__sandbox/scopes sets
    return twin


def test_a_missing_read_scope_answers_access_denied_in_shopifys_shape() -> None:
    twin = twin_with(["read_products"])
    body: dict[str, Any] = twin.execute("dk", ORDERS)
    assert body["data"] == {"orders": None}
    [error] = body["errors"]
    assert error["message"] == ("Access denied for orders field. Required access: "
                                "`read_orders` access scope.")
    assert error["path"] == ["orders"] and error["locations"] == [{"line": 1, "column": 9}]
    assert error["extensions"]["code"] == "ACCESS_DENIED"
    assert error["extensions"]["requiredAccess"] == "`read_orders` access scope."


def test_write_grants_read_and_fields_without_a_scope_stay_open() -> None:
    twin = twin_with(["write_orders", "write_locations"])
    assert "errors" not in twin.execute("dk", ORDERS)
    assert "errors" not in twin.execute("dk", LOCATIONS)
    assert granted(["write_inventory"], "read_inventory")
    assert not granted(["read_inventory"], "write_inventory")
    assert REQUIRED["inventorySetQuantities"] == "write_inventory"


def test_a_shop_with_every_scope_is_not_checked() -> None:
    assert "errors" not in twin_with(None).execute("dk", ORDERS)


def test_a_bulk_query_needing_a_missing_scope_fails_access_denied() -> None:
    twin = twin_with(["read_orders"])
    run = twin.execute("dk", 'mutation { bulkOperationRunQuery(query: "{ products { edges '
                             '{ node { id } } } }") { bulkOperation { id } userErrors '
                             '{ message } } }')
    op_id = run["data"]["bulkOperationRunQuery"]["bulkOperation"]["id"]
    status: dict[str, Any] = {}
    for _ in range(4):
        status = twin.execute("dk", "query($id: ID!) { node(id: $id) { ... on BulkOperation "
                                    "{ status errorCode objectCount url } } }", {"id": op_id})
        status = status["data"]["node"]
        if status["status"] == "FAILED":
            break
    assert status == {"status": "FAILED", "errorCode": "ACCESS_DENIED", "objectCount": "0",
                      "url": None}
