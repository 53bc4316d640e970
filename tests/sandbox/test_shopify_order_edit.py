"""Shopify twin: order editing (orderEditBegin / SetQuantity / AddVariant / Commit)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from rackshop.sandbox.shopify import orders as twin_orders
from rackshop.sandbox.world import Sandbox
from tests.helpers.shopify_orders import Line, OrderSpec, place, variant_ids

A, B = "BOX/12-Rød", "ÆBLE-1-M"
BEGIN = """mutation($id: ID!) { orderEditBegin(id: $id) {
  orderEditSession { id }
  calculatedOrder { id committed totalPriceSet { shopMoney { amount } }
    lineItems(first: 50) { nodes { id sku quantity editableQuantity } } }
  userErrors { field message } } }"""
QTY = """mutation($id: ID!, $line: ID!, $q: Int!, $restock: Boolean) {
  orderEditSetQuantity(id: $id, lineItemId: $line, quantity: $q, restock: $restock) {
    calculatedLineItem { id quantity }
    calculatedOrder { totalPriceSet { shopMoney { amount } } } userErrors { field message } } }"""
ADD = """mutation($id: ID!, $v: ID!, $q: Int!) { orderEditAddVariant(id: $id, variantId: $v,
  quantity: $q) { calculatedLineItem { id sku quantity }
  calculatedOrder { addedLineItems(first: 5) { nodes { sku } } totalPriceSet {
    shopMoney { amount } } } userErrors { field message } } }"""
COMMIT = """mutation($id: ID!) { orderEditCommit(id: $id, staffNote: "edit") {
  order { edited lineItems(first: 10) { nodes { sku quantity currentQuantity } }
    currentTotalPriceSet { shopMoney { amount } } } userErrors { field message } } }"""


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(seed=3, shops=1, products=12, orders=0, time_scale=50.0) as box:
        yield box


def _x(box: Sandbox, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = box.shopify_app.execute("dk", query, variables)["data"]
    return data


def test_an_edit_lowers_removes_and_adds_lines_as_the_calculated_order_showed(
        sandbox: Sandbox) -> None:
    created = place(sandbox.shopify_app, "dk", OrderSpec([Line(A, 3, "782.50")],
                                                        shipping="49.00"))
    begun = _x(sandbox, BEGIN, {"id": created["id"]})["orderEditBegin"]
    calc = begun["calculatedOrder"]
    assert not begun["userErrors"] and calc["committed"] is False
    line = calc["lineItems"]["nodes"][0]
    assert (line["sku"], line["quantity"]) == (A, 3)
    bad = _x(sandbox, QTY, {"id": calc["id"], "line": line["id"], "q": -1})
    assert bad["orderEditSetQuantity"]["userErrors"][0]["field"] == ["quantity"]
    lowered = _x(sandbox, QTY, {"id": calc["id"], "line": line["id"], "q": 1, "restock": True})
    assert lowered["orderEditSetQuantity"]["calculatedLineItem"]["quantity"] == 1
    added = _x(sandbox, ADD, {"id": calc["id"], "v": variant_ids(sandbox.shopify_app, "dk")[B],
                              "q": 2})["orderEditAddVariant"]
    assert added["calculatedLineItem"]["sku"] == B
    preview = added["calculatedOrder"]["totalPriceSet"]["shopMoney"]["amount"]
    assert Decimal(preview) == Decimal("782.50") + 2 * Decimal("995.00") + Decimal("49.00")
    done = _x(sandbox, COMMIT, {"id": calc["id"]})["orderEditCommit"]
    order = done["order"]
    assert not done["userErrors"] and order["edited"] is True
    assert [(n["sku"], n["quantity"], n["currentQuantity"])
            for n in order["lineItems"]["nodes"]] == [(A, 3, 1), (B, 2, 2)]
    assert order["currentTotalPriceSet"]["shopMoney"]["amount"] == preview
    again = _x(sandbox, COMMIT, {"id": calc["id"]})["orderEditCommit"]
    assert again["userErrors"] and again["order"] is None  # the session is spent


def test_a_cancelled_order_cannot_be_edited(sandbox: Sandbox) -> None:
    created = place(sandbox.shopify_app, "dk", OrderSpec([Line(A, 1, "782.50")]))
    twin_orders.cancel(sandbox.shopify_app.shop("dk"), created["id"], refund=True)
    begun = _x(sandbox, BEGIN, {"id": created["id"]})["orderEditBegin"]
    assert begun["calculatedOrder"] is None and begun["userErrors"]
