"""Fulfilment holds, fulfillmentTrackingInfoUpdateV2 and orderDelete on the Shopify twin (the
recorded V2 and orderDelete answers are replayed by test_shopify_replay.py)."""

from __future__ import annotations

from typing import Any

from rackshop.sandbox.shopify import ShopifyTwin
from tests.sandbox.test_shopify_support import SHOP, run, twin_with

CREATE = """mutation($order: OrderCreateOrderInput!) { orderCreate(order: $order) {
  order { id fulfillmentOrders(first: 5) { nodes { id } } } userErrors { message } } }"""
FO = """query($id: ID!) { fulfillmentOrder(id: $id) { status supportedActions { action }
  fulfillmentHolds { handle reason reasonNotes displayReason heldByRequestingApp
    heldByApp { title } }
  merchantRequests(first: 5) { nodes { kind } }
  order { displayFulfillmentStatus } } }"""
HOLD = """mutation($id: ID!, $hold: FulfillmentOrderHoldInput!) {
  fulfillmentOrderHold(id: $id, fulfillmentHold: $hold) {
    fulfillmentHold { id handle } fulfillmentOrder { status } userErrors { field code } } }"""
RELEASE = """mutation($id: ID!, $holds: [ID!]) {
  fulfillmentOrderReleaseHold(id: $id, holdIds: $holds) {
    fulfillmentOrder { status } userErrors { field code } } }"""
FULFIL = """mutation($f: FulfillmentInput!) { fulfillmentCreate(fulfillment: $f) {
  fulfillment { id } userErrors { message } } }"""
TRACK_V2 = """mutation($id: ID!, $t: FulfillmentTrackingInput!) {
  fulfillmentTrackingInfoUpdateV2(fulfillmentId: $id, trackingInfoInput: $t) {
    fulfillment { trackingInfo(first: 5) { number company } } userErrors { message } } }"""
DELETE = """mutation($id: ID!) { orderDelete(orderId: $id) {
  deletedId userErrors { field message code } } }"""


def _order(twin: ShopifyTwin) -> tuple[str, str]:
    line = {
        "title": "Crate",
        "quantity": 2,
        "priceSet": {"shopMoney": {"amount": "10.00", "currencyCode": "CAD"}},
    }
    got = run(twin, CREATE, {"order": {"lineItems": [line]}})["data"]["orderCreate"]
    assert got["userErrors"] == []
    return got["order"]["id"], got["order"]["fulfillmentOrders"]["nodes"][0]["id"]


def _fo(twin: ShopifyTwin, fo: str) -> dict[str, Any]:
    return run(twin, FO, {"id": fo})["data"]["fulfillmentOrder"]  # type: ignore[no-any-return]


def test_a_fresh_fulfillment_order_has_no_holds_and_no_requests() -> None:
    twin = twin_with()
    _, fo = _order(twin)
    read = _fo(twin, fo)
    assert (read["status"], read["fulfillmentHolds"], read["merchantRequests"]["nodes"]) == (
        "OPEN",
        [],
        [],
    )


def test_a_hold_stops_fulfilment_until_every_hold_is_released() -> None:
    twin = twin_with()
    _, fo = _order(twin)
    first = run(
        twin,
        HOLD,
        {"id": fo, "hold": {"reason": "AWAITING_PAYMENT", "reasonNotes": "bank", "handle": "pay"}},
    )
    assert first["data"]["fulfillmentOrderHold"]["userErrors"] == []
    second = run(twin, HOLD, {"id": fo, "hold": {"reason": "OTHER", "handle": "check"}})
    hold_ids = [
        first["data"]["fulfillmentOrderHold"]["fulfillmentHold"]["id"],
        second["data"]["fulfillmentOrderHold"]["fulfillmentHold"]["id"],
    ]
    dup = run(twin, HOLD, {"id": fo, "hold": {"reason": "OTHER", "handle": "check"}})
    assert [e["code"] for e in dup["data"]["fulfillmentOrderHold"]["userErrors"]] == [
        "DUPLICATE_FULFILLMENT_HOLD_HANDLE"
    ]
    read = _fo(twin, fo)
    assert read["status"] == "ON_HOLD"
    assert read["order"]["displayFulfillmentStatus"] == "ON_HOLD"
    assert read["supportedActions"][0]["action"] == "RELEASE_HOLD"
    assert read["fulfillmentHolds"][0] == {
        "handle": "pay",
        "reason": "AWAITING_PAYMENT",
        "reasonNotes": "bank",
        "displayReason": "Awaiting payment",
        "heldByRequestingApp": True,
        "heldByApp": {"title": "rackshop"},
    }
    refused = run(
        twin, FULFIL, {"f": {"lineItemsByFulfillmentOrder": [{"fulfillmentOrderId": fo}]}}
    )["data"]["fulfillmentCreate"]
    assert refused["fulfillment"] is None and "on_hold" in refused["userErrors"][0]["message"]
    partly = run(twin, RELEASE, {"id": fo, "holds": hold_ids[:1]})
    assert partly["data"]["fulfillmentOrderReleaseHold"]["fulfillmentOrder"]["status"] == "ON_HOLD"
    released = run(twin, RELEASE, {"id": fo, "holds": None})
    assert released["data"]["fulfillmentOrderReleaseHold"]["fulfillmentOrder"]["status"] == "OPEN"
    done = run(twin, FULFIL, {"f": {"lineItemsByFulfillmentOrder": [{"fulfillmentOrderId": fo}]}})[
        "data"
    ]["fulfillmentCreate"]
    assert done["userErrors"] == []


def test_tracking_v2_replaces_the_numbers_and_order_delete_removes_the_order() -> None:
    twin = twin_with()
    order, fo = _order(twin)
    fid = run(
        twin,
        FULFIL,
        {
            "f": {
                "lineItemsByFulfillmentOrder": [{"fulfillmentOrderId": fo}],
                "trackingInfo": {"numbers": ["A1"], "company": "UPS"},
            }
        },
    )["data"]["fulfillmentCreate"]["fulfillment"]["id"]
    got = run(twin, TRACK_V2, {"id": fid, "t": {"numbers": ["B1", "B2"], "company": "DHL"}})
    assert got["data"]["fulfillmentTrackingInfoUpdateV2"]["fulfillment"]["trackingInfo"] == [
        {"number": "B1", "company": "DHL"},
        {"number": "B2", "company": "DHL"},
    ]
    deleted = run(twin, DELETE, {"id": order})["data"]["orderDelete"]
    assert deleted == {"deletedId": order, "userErrors": []}
    assert twin.shop(SHOP).orders == {}
    again = run(twin, DELETE, {"id": order})["data"]["orderDelete"]
    assert [e["code"] for e in again["userErrors"]] == ["NOT_FOUND"]
