"""inventorySetOnHandQuantities, inventoryMoveQuantities, inventoryDeactivate, locationAdd,
locationDeactivate and locationDelete on the Shopify twin (their recorded answers are replayed by
test_shopify_replay.py; these check the state they leave)."""

from __future__ import annotations

from typing import Any

from rackshop.sandbox.shopify import ShopifyTwin
from tests.sandbox.test_shopify_support import SHOP, run, twin_with

MOVE = """mutation($input: InventoryMoveQuantitiesInput!, $key: String!) {
  inventoryMoveQuantities(input: $input) @idempotent(key: $key) {
    inventoryAdjustmentGroup { changes { name delta location { name } } }
    userErrors { field message code } } }"""
ON_HAND = """mutation($input: InventorySetOnHandQuantitiesInput!, $key: String!) {
  inventorySetOnHandQuantities(input: $input) @idempotent(key: $key) {
    inventoryAdjustmentGroup { changes { name delta } } userErrors { field message code } } }"""
DEACTIVATE = """mutation($id: ID!, $key: String!) {
  inventoryDeactivate(inventoryLevelId: $id) @idempotent(key: $key) { userErrors { message } } }"""
LEVELS = """query($id: ID!) { inventoryItem(id: $id) {
  active: inventoryLevels(first: 5) { nodes { location { name } } }
  all: inventoryLevels(first: 5, includeInactive: true) { nodes { isActive location { name } } }
} }"""
ADD = """mutation($input: LocationAddInput!) { locationAdd(input: $input) {
  location { name isActive address { countryCode } } userErrors { field message code } } }"""


def _stocked(twin: ShopifyTwin, stock: dict[str, int]) -> tuple[str, dict[str, str]]:
    shop = twin.shop(SHOP)
    pid = twin.create_product(SHOP, title="Box", variants=[{"stock": stock}])
    item = shop.variants[shop.products[pid]["variantIds"][0]]["inventoryItemId"]
    locs = {loc["name"]: loc["id"] for loc in shop.locations.values()}
    return str(item), locs


def _quantities(twin: ShopifyTwin, item: str, location: str) -> dict[str, int]:
    level = twin.shop(SHOP).inventory_items[item]["levels"][location]
    return {k: v for k, v in level["quantities"].items() if v}


def _terminal(location: str, name: str, before: int) -> dict[str, Any]:
    return {"locationId": location, "name": name, "changeFromQuantity": before}


def test_move_to_damaged_within_a_location_keeps_on_hand() -> None:
    twin = twin_with(("Shop location",))
    item, locs = _stocked(twin, {"Shop location": 9})
    loc = locs["Shop location"]
    got = run(
        twin,
        MOVE,
        {
            "key": "m1",
            "input": {
                "reason": "damaged",
                "referenceDocumentUri": "logistics://m1",
                "changes": [
                    {
                        "inventoryItemId": item,
                        "quantity": 2,
                        "from": _terminal(loc, "available", 9),
                        "to": _terminal(loc, "damaged", 0),
                    }
                ],
            },
        },
    )
    payload = got["data"]["inventoryMoveQuantities"]
    assert payload["userErrors"] == []
    assert sorted(
        (c["name"], c["delta"]) for c in payload["inventoryAdjustmentGroup"]["changes"]
    ) == [("available", -2), ("damaged", 2)]
    assert _quantities(twin, item, loc) == {"available": 7, "damaged": 2, "on_hand": 9}


def test_move_between_locations_and_its_refusals() -> None:
    twin = twin_with(("Shop location", "Backroom"))
    item, locs = _stocked(twin, {"Shop location": 5, "Backroom": 0})
    a, b = locs["Shop location"], locs["Backroom"]
    change = {
        "inventoryItemId": item,
        "quantity": 3,
        "from": _terminal(a, "available", 5),
        "to": _terminal(b, "available", 0),
    }
    got = run(
        twin,
        MOVE,
        {
            "key": "m2",
            "input": {
                "reason": "movement_created",
                "referenceDocumentUri": "logistics://m2",
                "changes": [change],
            },
        },
    )
    assert got["data"]["inventoryMoveQuantities"]["userErrors"] == []
    assert _quantities(twin, item, a) == {"available": 2, "on_hand": 2}
    assert _quantities(twin, item, b) == {"available": 3, "on_hand": 3}
    # the same key again: the first answer, nothing moved twice
    run(
        twin,
        MOVE,
        {
            "key": "m2",
            "input": {
                "reason": "movement_created",
                "referenceDocumentUri": "logistics://m2",
                "changes": [change],
            },
        },
    )
    assert _quantities(twin, item, a) == {"available": 2, "on_hand": 2}
    stale = {**change, "from": _terminal(a, "available", 5), "to": _terminal(b, "damaged", 0)}
    got = run(
        twin,
        MOVE,
        {
            "key": "m3",
            "input": {
                "reason": "movement_created",
                "referenceDocumentUri": "logistics://m3",
                "changes": [stale],
            },
        },
    )
    assert [e["code"] for e in got["data"]["inventoryMoveQuantities"]["userErrors"]] == [
        "DIFFERENT_LOCATIONS"
    ]
    assert _quantities(twin, item, a) == {"available": 2, "on_hand": 2}


def test_set_on_hand_moves_available_with_it() -> None:
    twin = twin_with(("Shop location",))
    item, locs = _stocked(twin, {"Shop location": 7})
    loc = locs["Shop location"]
    got = run(
        twin,
        ON_HAND,
        {
            "key": "s1",
            "input": {
                "reason": "correction",
                "setQuantities": [
                    {
                        "inventoryItemId": item,
                        "locationId": loc,
                        "quantity": 9,
                        "changeFromQuantity": 7,
                    }
                ],
            },
        },
    )
    payload = got["data"]["inventorySetOnHandQuantities"]
    assert payload["userErrors"] == []
    assert payload["inventoryAdjustmentGroup"]["changes"] == [
        {"name": "available", "delta": 2},
        {"name": "on_hand", "delta": 2},
    ]
    assert _quantities(twin, item, loc) == {"available": 9, "on_hand": 9}
    got = run(
        twin,
        ON_HAND,
        {
            "key": "s2",
            "input": {
                "reason": "correction",
                "setQuantities": [
                    {
                        "inventoryItemId": item,
                        "locationId": loc,
                        "quantity": 1,
                        "changeFromQuantity": 7,
                    }
                ],
            },
        },
    )
    assert [e["code"] for e in got["data"]["inventorySetOnHandQuantities"]["userErrors"]] == [
        "CHANGE_FROM_QUANTITY_STALE"
    ]


def test_deactivate_hides_the_level_but_not_the_last_one() -> None:
    twin = twin_with(("Shop location", "Backroom"))
    item, locs = _stocked(twin, {"Shop location": 1, "Backroom": 0})
    level = twin.shop(SHOP).inventory_items[item]["levels"][locs["Backroom"]]["id"]
    got = run(twin, DEACTIVATE, {"id": level, "key": "d1"})
    assert got["data"]["inventoryDeactivate"]["userErrors"] == []
    read = run(twin, LEVELS, {"id": item})["data"]["inventoryItem"]
    assert [n["location"]["name"] for n in read["active"]["nodes"]] == ["Shop location"]
    assert [(n["location"]["name"], n["isActive"]) for n in read["all"]["nodes"]] == [
        ("Shop location", True),
        ("Backroom", False),
    ]
    last = twin.shop(SHOP).inventory_items[item]["levels"][locs["Shop location"]]["id"]
    got = run(twin, DEACTIVATE, {"id": last, "key": "d2"})
    assert "minimum of 1 location" in got["data"]["inventoryDeactivate"]["userErrors"][0]["message"]


def test_location_add_and_a_taken_name() -> None:
    twin = twin_with(("Shop location",))
    new = {"name": "Overflow", "address": {"countryCode": "US"}}
    got = run(twin, ADD, {"input": new})["data"]["locationAdd"]
    assert got == {
        "location": {"name": "Overflow", "isActive": True, "address": {"countryCode": "US"}},
        "userErrors": [],
    }
    assert len(twin.shop(SHOP).locations) == 2
    again = run(twin, ADD, {"input": new})["data"]["locationAdd"]
    assert again["location"] is None
    assert [e["code"] for e in again["userErrors"]] == ["TAKEN"]


LOC_DEACTIVATE = """mutation($id: ID!, $to: ID) {
  locationDeactivate(locationId: $id, destinationLocationId: $to) {
    location { name isActive } locationDeactivateUserErrors { field code } } }"""
LOC_DELETE = """mutation($id: ID!) { locationDelete(locationId: $id) {
  deletedLocationId locationDeleteUserErrors { field code } } }"""


def _codes(payload: dict[str, Any], key: str) -> list[str]:
    return [e["code"] for e in payload[key]]


def test_location_with_stock_deactivates_only_onto_a_destination_then_deletes() -> None:
    twin = twin_with(("Shop location", "Backroom"))
    item, locs = _stocked(twin, {"Shop location": 2, "Backroom": 3})
    back, main = locs["Backroom"], locs["Shop location"]
    got = run(twin, LOC_DELETE, {"id": back})["data"]["locationDelete"]
    assert _codes(got, "locationDeleteUserErrors") == ["LOCATION_IS_ACTIVE"]
    got = run(twin, LOC_DEACTIVATE, {"id": back})["data"]["locationDeactivate"]
    assert _codes(got, "locationDeactivateUserErrors") == ["HAS_ACTIVE_INVENTORY_ERROR"]
    got = run(twin, LOC_DEACTIVATE, {"id": back, "to": back})["data"]["locationDeactivate"]
    assert _codes(got, "locationDeactivateUserErrors") == [
        "DESTINATION_LOCATION_IS_THE_SAME_LOCATION"
    ]
    got = run(twin, LOC_DEACTIVATE, {"id": back, "to": main})["data"]["locationDeactivate"]
    assert got == {
        "location": {"name": "Backroom", "isActive": False},
        "locationDeactivateUserErrors": [],
    }
    assert _quantities(twin, item, main) == {"available": 5, "on_hand": 5}
    got = run(twin, LOC_DEACTIVATE, {"id": main})["data"]["locationDeactivate"]
    assert _codes(got, "locationDeactivateUserErrors") == [
        "PERMANENTLY_BLOCKED_FROM_DEACTIVATION_ERROR"
    ]
    got = run(twin, LOC_DELETE, {"id": back})["data"]["locationDelete"]
    assert got == {"deletedLocationId": back, "locationDeleteUserErrors": []}
    assert back not in twin.shop(SHOP).locations
    assert back not in twin.shop(SHOP).inventory_items[item]["levels"]
    got = run(twin, LOC_DELETE, {"id": back})["data"]["locationDelete"]
    assert _codes(got, "locationDeleteUserErrors") == ["LOCATION_NOT_FOUND"]


def test_delivery_profile_locations_are_the_active_ones() -> None:
    twin = twin_with(("Shop location", "Backroom"))
    back = twin.shop(SHOP).location_by_name_or_gid("Backroom")
    assert back is not None
    read = "{ locationsAvailableForDeliveryProfilesConnection(first: 5) { nodes { name } } }"

    def names() -> list[str]:
        got = run(twin, read)["data"]["locationsAvailableForDeliveryProfilesConnection"]
        return [n["name"] for n in got["nodes"]]

    assert names() == ["Shop location", "Backroom"]
    run(twin, LOC_DEACTIVATE, {"id": back["id"]})
    assert names() == ["Shop location"]
