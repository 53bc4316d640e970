"""Pure rules of sync-fulfillments: tracking, allocation over fulfilment orders, recognition."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rackshop.sync.fulfillments_plan import (
    Tracking,
    TrackingFields,
    allocate,
    find_made,
    shipment_units,
    tracking_of,
)

L1, L2 = "gid://shopify/Location/1", "gid://shopify/Location/2"


def _order(*fos: tuple[str, str, list[tuple[str, str, int]]], status: str = "OPEN",
           fulfillments: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"fulfillmentOrders": {"nodes": [
        {"id": fo, "status": status, "assignedLocation": {"location": {"id": loc}},
         "lineItems": {"nodes": [{"id": i, "sku": sku, "remainingQuantity": q}
                                 for i, sku, q in lines]}} for fo, loc, lines in fos]},
        "fulfillments": fulfillments or []}


def test_tracking_numbers_split_and_urls_from_a_template() -> None:
    shipment = {"tracking_number": "A1, A2;A2  A3", "carrier": ""}
    fields = TrackingFields(default_company="GLS", url_template="https://t.example/{number}")
    tracking = tracking_of(shipment, fields)
    assert tracking == Tracking("GLS", ("A1", "A2", "A3"), tuple(
        f"https://t.example/{n}" for n in ("A1", "A2", "A3")))
    assert tracking.input() == {"company": "GLS", "numbers": ["A1", "A2", "A3"],
                                "urls": [f"https://t.example/{n}" for n in ("A1", "A2", "A3")]}


def test_tracking_from_a_dotted_path_and_none_at_all() -> None:
    shipment = {"delivery": {"track": ["Z9"]}, "tracking_url": "https://x/Z9"}
    tracking = tracking_of(shipment, TrackingFields(number="delivery.track"))
    assert tracking.input() == {"number": "Z9", "url": "https://x/Z9"}
    assert tracking_of({}, TrackingFields()).input() is None


def test_shipment_units_by_sku_key() -> None:
    shipment = {"lines": [{"child_id": "AB-1", "quantity": 2.0},
                          {"item": {"number": "ab-1 "}, "quantity": 1},
                          {"child_id": "FRAGT", "quantity": 1}]}
    assert shipment_units(shipment) == {"ab-1": 3, "fragt": 1}


def test_allocation_spreads_over_fulfilment_orders_one_group_per_location() -> None:
    order = _order(("fo1", L1, [("i1", "A", 1)]), ("fo2", L2, [("i2", "A", 2), ("i3", "B", 1)]))
    alloc = allocate(order, {"a": 3, "b": 1, "fragt": 1})
    assert not alloc.problem and not alloc.already
    assert [(g.location, g.units) for g in alloc.groups] == [(L1, {"a": 1}),
                                                             (L2, {"a": 2, "b": 1})]
    assert alloc.groups[1].input(Tracking(), notify=True) == {
        "notifyCustomer": True, "lineItemsByFulfillmentOrder": [
            {"fulfillmentOrderId": "fo2", "fulfillmentOrderLineItems": [
                {"id": "i2", "quantity": 2}, {"id": "i3", "quantity": 1}]}]}


def test_a_location_map_keeps_units_at_its_location_or_says_why_not() -> None:
    order = _order(("fo1", L1, [("i1", "A", 1)]), ("fo2", L2, [("i2", "A", 2)]))
    assert [g.location for g in allocate(order, {"a": 2}, L2).groups] == [L2]
    alloc = allocate(order, {"a": 3}, L2)
    assert alloc.problem and "at the mapped location" in alloc.problem


def test_every_unit_fulfilled_already_is_recognised() -> None:
    order = _order(("fo1", L1, [("i1", "A", 0)]), status="CLOSED")
    assert allocate(order, {"a": 1}).already


def test_the_fulfilment_of_a_lost_answer_is_found_by_units_tracking_and_time() -> None:
    since = datetime(2026, 12, 1, tzinfo=UTC)
    made = {"id": "f1", "status": "SUCCESS", "createdAt": "2026-12-01T10:00:00Z",
            "trackingInfo": [{"number": "T1"}],
            "fulfillmentLineItems": {"nodes": [{"quantity": 2, "lineItem": {"sku": "A"}}]}}
    order = _order(fulfillments=[made])
    assert find_made(order, {"a": 2}, Tracking(None, ("T1",)), since) == "f1"
    assert find_made(order, {"a": 1}, Tracking(None, ("T1",)), since) is None
    assert find_made(order, {"a": 2}, Tracking(None, ("T2",)), since) is None
    assert find_made(order, {"a": 2}, Tracking(), datetime(2026, 12, 2, tzinfo=UTC)) is None
    assert find_made(order, {"a": 2}, Tracking(None, ("T1",)), since, claimed=["f1"]) is None


def test_more_lines_than_one_fulfilment_may_name_are_split() -> None:
    from rackshop.sync import fulfillments_plan

    order = _order(("fo1", L1, [("i1", "A", 1), ("i2", "A", 1), ("i3", "B", 2)]))
    alloc = allocate(order, {"a": 2, "b": 2})
    [group] = alloc.groups
    parts = fulfillments_plan._split(group, size=2)
    assert [p.units for p in parts] == [{"a": 2}, {"b": 2}]
    assert [p.by_order for p in parts] == [{"fo1": [("i1", 1), ("i2", 1)]},
                                           {"fo1": [("i3", 2)]}]
