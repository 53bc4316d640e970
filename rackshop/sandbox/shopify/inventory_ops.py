"""Inventory and location operations after a transfer: ``inventorySetOnHandQuantities``,
``inventoryMoveQuantities``, ``inventoryDeactivate``, ``locationAdd``, ``locationDeactivate`` and
``locationDelete``.

Validation follows the recordings (inventory-quantity-contracts-2026-04,
inventory-reason-validation, inventory-item-levels-connection-windowing-2026-04): reasons, unknown
items and locations with Shopify's codes and paths, quantity bounds, ``changeFromQuantity``
required from 2026-04 (``INVALID_FIELD_ARGUMENTS``) and ``@idempotent`` required from 2026-04
(``BAD_REQUEST``). Wording the recordings do not show is the twin's (docs/sandbox-shopify.md).
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLResolveInfo, GraphQLSchema

from .catalog import ctx_of, idempotent, input_dict, user_error
from .inventory_writes import (
    ADJUSTABLE_NAMES,
    INVENTORY_REASONS,
    MAX_QUANTITY,
    _invalid_reason,
    _mismatch_payload,
    _require_change_from,
    _row_checks,
    _stocked_level,
    apply_moves,
    no_group,
    quantity_rows,
)
from .state import ShopState, set_resolvers

#: Quantity names a move may take from or give to (``on_hand`` moves with them).
MOVABLE_NAMES = (*ADJUSTABLE_NAMES, "incoming")


def _merge(changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One change per (name, item, location), zero sums dropped (a move within a location
    leaves ``on_hand`` as it was)."""
    out: dict[tuple[str, str, str], dict[str, Any]] = {}
    for c in changes:
        key = (c["name"], c["itemId"], c["locationId"])
        if key in out:
            out[key]["delta"] += c["delta"]
        else:
            out[key] = dict(c)
    return [c for c in out.values() if c["delta"]]


def _m_set_on_hand(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> Any:
    data, rows, shop = quantity_rows(info, input, "setQuantities", "InventorySetQuantityInput")

    def run() -> dict[str, Any]:
        if data.get("reason") not in INVENTORY_REASONS:
            return no_group([user_error(["input", "reason"], _invalid_reason(), "INVALID_REASON")])
        errs, found = _row_checks(shop, rows, "setQuantities")
        for i, r in enumerate(rows):
            path = ["input", "setQuantities", str(i), "quantity"]
            if r["quantity"] < 0:
                errs.append(
                    user_error(path, "The quantity can't be negative.", "INVALID_QUANTITY_NEGATIVE")
                )
            elif r["quantity"] > MAX_QUANTITY:
                errs.append(
                    user_error(
                        path,
                        "The quantity can't be higher than 1,000,000,000.",
                        "INVALID_QUANTITY_TOO_HIGH",
                    )
                )
        if errs:
            return no_group(errs)
        levels = []
        for i, (r, f) in enumerate(zip(rows, found, strict=True)):
            levels.append(_stocked_level(f, r, "on_hand", ["input", "setQuantities", str(i)], errs))
        if errs:
            return no_group(errs)
        moves = []
        for r, level in zip(rows, levels, strict=True):
            assert level is not None
            moves.append((level, "on_hand", r["quantity"] - level["quantities"]["on_hand"], None))
        return apply_moves(shop, data, moves)

    return idempotent(
        info, {"input": data}, run, _mismatch_payload({"inventoryAdjustmentGroup": None})
    )


def _move_checks(
    shop: ShopState, rows: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]]:
    """Existence and shape checks of move rows; (errors, (item, from loc, to loc) per row)."""
    errs: list[dict[str, Any]] = []
    found = []
    for i, r in enumerate(rows):
        base = ["input", "changes", str(i)]
        item = shop.inventory_items.get(r["inventoryItemId"])
        if item is None:
            errs.append(
                user_error(
                    [*base, "inventoryItemId"],
                    "The specified inventory item could not be found.",
                    "INVALID_INVENTORY_ITEM",
                )
            )
        ends = {}
        for end in ("from", "to"):
            terminal = input_dict(r[end])
            loc = shop.locations.get(terminal["locationId"])
            if loc is None:
                errs.append(
                    user_error(
                        [*base, end, "locationId"],
                        "The specified location could not be found.",
                        "INVALID_LOCATION",
                    )
                )
            if terminal["name"] not in MOVABLE_NAMES:
                errs.append(
                    user_error(
                        [*base, end, "name"],
                        "The specified quantity name is invalid. Valid values are: "
                        + ", ".join(MOVABLE_NAMES)
                        + ".",
                        "INVALID_QUANTITY_NAME",
                    )
                )
            ends[end] = loc
        if r["quantity"] < 0:
            errs.append(
                user_error(
                    [*base, "quantity"],
                    "The quantity can't be negative.",
                    "INVALID_QUANTITY_NEGATIVE",
                )
            )
        if item is not None and ends["from"] is not None and ends["to"] is not None:
            src, dst = input_dict(r["from"]), input_dict(r["to"])
            same_place = src["locationId"] == dst["locationId"]
            if same_place and src["name"] == dst["name"]:
                errs.append(
                    user_error(
                        base,
                        "The quantity names must differ for a move within one location.",
                        "SAME_QUANTITY_NAME",
                    )
                )
            elif not same_place and src["name"] != dst["name"]:
                errs.append(
                    user_error(
                        base,
                        "A move between locations must keep the quantity name.",
                        "DIFFERENT_LOCATIONS",
                    )
                )
            found.append((item, ends["from"], ends["to"]))
    return errs, found


def _m_move(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> Any:
    data = input_dict(input)
    rows = [input_dict(c) for c in data.get("changes") or []]
    terminals = [input_dict(r[end]) for r in rows for end in ("from", "to")]
    _require_change_from(info, terminals, "InventoryMoveQuantityTerminalInput")
    shop = ctx_of(info).shop

    def run() -> dict[str, Any]:
        if data.get("reason") not in INVENTORY_REASONS:
            return no_group([user_error(["input", "reason"], _invalid_reason(), "INVALID_REASON")])
        errs, found = _move_checks(shop, rows)
        if errs:
            return no_group(errs)
        legs = []
        for i, (r, (item, src_loc, dst_loc)) in enumerate(zip(rows, found, strict=True)):
            src, dst = input_dict(r["from"]), input_dict(r["to"])
            base = ["input", "changes", str(i)]
            src_level = _stocked_level((item, src_loc), src, src["name"], [*base, "from"], errs)
            dst_level = _stocked_level((item, dst_loc), dst, dst["name"], [*base, "to"], errs)
            legs.append((r, src, dst, src_level, dst_level))
        if errs:
            return no_group(errs)
        moves = []
        for r, src, dst, src_level, dst_level in legs:
            assert src_level is not None and dst_level is not None
            q = r["quantity"]
            moves += [
                (src_level, src["name"], -q, src.get("ledgerDocumentUri")),
                (dst_level, dst["name"], q, dst.get("ledgerDocumentUri")),
            ]
        return apply_moves(shop, data, moves, merge=_merge)

    return idempotent(
        info, {"input": data}, run, _mismatch_payload({"inventoryAdjustmentGroup": None})
    )


def _m_deactivate(_: Any, info: GraphQLResolveInfo, inventoryLevelId: str) -> Any:
    shop = ctx_of(info).shop

    def run() -> dict[str, Any]:
        level = shop.level_by_gid(inventoryLevelId)
        if level is None:
            return {
                "userErrors": [
                    user_error(["inventoryLevelId"], "The inventory level could not be found.")
                ]
            }
        if not level["isActive"]:
            return {"userErrors": []}
        item = shop.inventory_items[level["itemId"]]
        active = [lv for lv in item["levels"].values() if lv["isActive"]]
        if len(active) <= 1:
            name = shop.locations[level["locationId"]]["name"]
            return {
                "userErrors": [
                    user_error(
                        None,
                        f"The product couldn't be unstocked from {name} because products need "
                        "to be stocked at a minimum of 1 location.",
                    )
                ]
            }
        level["isActive"] = False
        level["updatedAt"] = shop.touch(item)
        return {"userErrors": []}

    return idempotent(info, {"inventoryLevelId": inventoryLevelId}, run,
                      _mismatch_payload({}, code=None))


def _m_location_add(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> Any:
    ctx = ctx_of(info)
    shop = ctx.shop
    data = input_dict(input)
    name = str(data.get("name") or "").strip()
    if not name:
        return {
            "location": None,
            "userErrors": [user_error(["input", "name"], "Name can't be blank", "BLANK")],
        }
    if any(loc["name"].lower() == name.lower() for loc in shop.locations.values()):
        return {
            "location": None,
            "userErrors": [user_error(["input", "name"], "Name has already been taken", "TAKEN")],
        }
    loc = ctx.twin._add_location(shop, name)
    address = input_dict(data.get("address") or {})
    for key in ("address1", "address2", "city", "phone", "zip", "provinceCode"):
        if address.get(key) is not None:
            loc["address"][key] = address[key]
    country = address.get("countryCode")
    if country:
        loc["address"]["countryCode"] = country
        loc["address"]["country"] = country
        loc["address"]["formatted"] = [country]
    loc["fulfillsOnlineOrders"] = bool(data.get("fulfillsOnlineOrders", True))
    loc["isPrimary"] = False
    return {"location": loc, "userErrors": []}


def _stock_at(shop: ShopState, location_id: str) -> list[dict[str, Any]]:
    """The levels at a location that hold any quantity."""
    levels = (item["levels"].get(location_id) for item in shop.inventory_items.values())
    return [lv for lv in levels if lv is not None and any(lv["quantities"].values())]


def _location_error(field: str, message: str, code: str) -> dict[str, Any]:
    return {"field": [field], "message": message, "code": code}


def _m_location_deactivate(
    _: Any, info: GraphQLResolveInfo, locationId: str, destinationLocationId: str | None = None
) -> Any:
    """Recorded: a location without stock deactivates (``isActive`` false). Not recorded, the
    twin's choice with Shopify's codes: stock there without a destination refuses
    (``HAS_ACTIVE_INVENTORY_ERROR``), with one the quantities move there; the last active
    location refuses."""
    shop = ctx_of(info).shop
    loc = shop.locations.get(locationId)

    def refused(field: str, message: str, code: str) -> dict[str, Any]:
        error = _location_error(field, message, code)
        return {"location": None, "locationDeactivateUserErrors": [error]}

    if loc is None:
        return refused("locationId", "Location not found.", "LOCATION_NOT_FOUND")
    if not loc["isActive"]:
        return {"location": loc, "locationDeactivateUserErrors": []}
    if not any(o["isActive"] for o in shop.locations.values() if o is not loc):
        return refused(
            "locationId",
            "The location cannot be deactivated: it is the shop's only active location.",
            "PERMANENTLY_BLOCKED_FROM_DEACTIVATION_ERROR",
        )
    stocked = _stock_at(shop, locationId)
    destination = shop.locations.get(destinationLocationId or "")
    if destinationLocationId is not None:
        if destinationLocationId == locationId:
            return refused(
                "destinationLocationId",
                "The destination location cannot be the location being deactivated.",
                "DESTINATION_LOCATION_IS_THE_SAME_LOCATION",
            )
        if destination is None or not destination["isActive"]:
            return refused(
                "destinationLocationId",
                "The destination location was not found or is not active.",
                "DESTINATION_LOCATION_NOT_FOUND_OR_INACTIVE",
            )
    elif stocked:
        return refused(
            "locationId",
            "The location has inventory: give a destination location to move it to.",
            "HAS_ACTIVE_INVENTORY_ERROR",
        )
    for level in stocked:
        assert destination is not None
        item = shop.inventory_items[level["itemId"]]
        target = item["levels"].get(destination["id"]) or shop.new_level(item, destination)
        for name, quantity in level["quantities"].items():
            target["quantities"][name] += quantity
            level["quantities"][name] = 0
    for item in shop.inventory_items.values():
        if locationId in item["levels"]:
            item["levels"][locationId]["isActive"] = False
    ts = shop.now_iso()
    loc.update(
        isActive=False, activatable=True, deactivatable=False, deletable=True,
        deactivatedAt=ts, updatedAt=ts,
    )  # fmt: skip
    return {"location": loc, "locationDeactivateUserErrors": []}


def _m_location_delete(_: Any, info: GraphQLResolveInfo, locationId: str) -> Any:
    """Recorded: a deactivated location without stock is deleted. Not recorded (Shopify's
    codes, the twin's wording): an active one, one holding stock or one with open fulfilment
    orders refuses."""
    shop = ctx_of(info).shop
    loc = shop.locations.get(locationId)
    problem = None
    if loc is None:
        problem = ("Location not found.", "LOCATION_NOT_FOUND")
    elif loc["isActive"]:
        problem = ("The location cannot be deleted while it is active.", "LOCATION_IS_ACTIVE")
    elif _stock_at(shop, locationId):
        problem = ("The location cannot be deleted while it has inventory.",
                   "LOCATION_HAS_INVENTORY")  # fmt: skip
    elif any(
        fo["status"] not in ("CLOSED", "CANCELLED")
        and (fo.get("assignedLocation") or {}).get("locationId") == locationId
        for order in shop.orders.values()
        for fo in order.get("fulfillmentOrders") or []
    ):
        problem = ("The location cannot be deleted while it has orders to fulfil.",
                   "LOCATION_HAS_PENDING_ORDERS")  # fmt: skip
    if problem is not None:
        error = _location_error("locationId", *problem)
        return {"deletedLocationId": None, "locationDeleteUserErrors": [error]}
    for item in shop.inventory_items.values():
        item["levels"].pop(locationId, None)
    del shop.locations[locationId]
    return {"deletedLocationId": locationId, "locationDeleteUserErrors": []}


def register(schema: GraphQLSchema) -> None:
    """Attach the resolvers to the twin's schema (``schema_inventory_ops.graphql``)."""
    set_resolvers(schema, "Mutation", {
        "inventorySetOnHandQuantities": _m_set_on_hand,
        "inventoryMoveQuantities": _m_move,
        "inventoryDeactivate": _m_deactivate,
        "locationAdd": _m_location_add,
        "locationDeactivate": _m_location_deactivate,
        "locationDelete": _m_location_delete,
    })  # fmt: skip
