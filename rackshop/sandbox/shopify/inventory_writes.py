"""Inventory quantity writes: ``inventorySetQuantities``, ``inventoryAdjustQuantities`` and
``inventoryActivate``, with Shopify's checks (reasons, names, bounds, compare-and-set) and the
adjustment groups they answer. The moves here are also what inventory_ops builds on."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from graphql import GraphQLError, GraphQLResolveInfo

from .catalog import ctx_of, idempotent, input_dict, user_error
from .state import ShopState

MAX_QUANTITY = 1_000_000_000

INVENTORY_REASONS = (
    "correction",
    "cycle_count_available",
    "damaged",
    "movement_canceled",
    "movement_created",
    "movement_received",
    "movement_updated",
    "other",
    "promotion",
    "quality_control",
    "received",
    "reservation_created",
    "reservation_deleted",
    "reservation_updated",
    "restock",
    "safety_stock",
    "shrinkage",
)

ADJUSTABLE_NAMES = (
    "available",
    "damaged",
    "quality_control",
    "reserved",
    "safety_stock",
    "incoming",
)


def _invalid_reason() -> str:
    return (
        "The specified reason is invalid. Valid values are: " + ", ".join(INVENTORY_REASONS) + "."
    )


def _require_change_from(
    info: GraphQLResolveInfo, rows: list[dict[str, Any]], type_name: str
) -> None:
    """2026-04+: ``changeFromQuantity`` must be present in every row, even if null."""
    if not ctx_of(info).version_at_least("2026-04"):
        return
    if all("changeFromQuantity" in r for r in rows):
        return
    nodes: list[Any] = list(info.field_nodes)
    arg = next((a for a in info.field_nodes[0].arguments or () if a.name.value == "input"), None)
    if arg is not None and arg.value.kind == "variable":
        name = arg.value.name.value  # type: ignore[attr-defined]
        for vd in info.operation.variable_definitions or ():
            if vd.variable.name.value == name:
                nodes.append(vd)
    raise GraphQLError(
        f"{type_name} must include the following argument: changeFromQuantity.",
        nodes,
        extensions={"code": "INVALID_FIELD_ARGUMENTS"},
    )


def _stocked_level(
    found: tuple[dict[str, Any], dict[str, Any]] | None,
    row: Mapping[str, Any],
    name: str,
    path: list[str],
    errs: list[dict[str, Any]],
) -> dict[str, Any] | None:
    """The active level of a checked (item, location) row, appending Shopify's errors.

    ``ITEM_NOT_STOCKED_AT_LOCATION`` (and ``None``) when the item is not stocked there;
    ``CHANGE_FROM_QUANTITY_STALE`` when the row's ``changeFromQuantity`` is not the level's
    current quantity (the level is still returned: other checks go on).
    """
    assert found is not None
    item, loc = found
    level: dict[str, Any] | None = item["levels"].get(loc["id"])
    if level is None or not level["isActive"]:
        errs.append(
            user_error(
                [*path, "locationId"],
                "The specified inventory item is not stocked at the location.",
                "ITEM_NOT_STOCKED_AT_LOCATION",
            )
        )
        return None
    cfq = row.get("changeFromQuantity")
    if cfq is not None and cfq != level["quantities"][name]:
        errs.append(
            user_error(
                [*path, "changeFromQuantity"],
                "The specified compare quantity does not match the current quantity.",
                "CHANGE_FROM_QUANTITY_STALE",
            )
        )
    return level


def _stocked_levels(
    rows: list[dict[str, Any]],
    found: list[Any],
    name: str,
    key: str,
    errs: list[dict[str, Any]],
    check: Callable[[int, dict[str, Any], dict[str, Any]], None] | None = None,
) -> list[dict[str, Any] | None]:
    """Each row's level (:func:`_stocked_level`; ``None`` where it is not stocked, with its
    error added to ``errs``); ``check`` looks at each stocked row in turn (its errors stay in
    row order)."""
    levels: list[dict[str, Any] | None] = []
    for i, (r, f) in enumerate(zip(rows, found, strict=True)):
        level = _stocked_level(f, r, name, ["input", key, str(i)], errs)
        if level is not None and check is not None:
            check(i, r, level)
        levels.append(level)
    return levels


#: A row's inventory item and location that do not exist: (key, message, code).
_NOT_FOUND = (
    (
        "inventoryItemId",
        "The specified inventory item could not be found.",
        "INVALID_INVENTORY_ITEM",
    ),
    ("locationId", "The specified location could not be found.", "INVALID_LOCATION"),
)


def _row_checks(
    shop: ShopState,
    rows: list[dict[str, Any]],
    list_name: str,
) -> tuple[list[dict[str, Any]], list[tuple[dict[str, Any], dict[str, Any]] | None]]:
    """Existence checks per row; returns errors and (item, location) per row (``None`` if bad)."""
    errs: list[dict[str, Any]] = []
    found: list[tuple[dict[str, Any], dict[str, Any]] | None] = []
    for i, r in enumerate(rows):
        item = shop.inventory_items.get(r["inventoryItemId"])
        loc = shop.locations.get(r["locationId"])
        for record, (key, message, code) in zip((item, loc), _NOT_FOUND, strict=True):
            if record is None:
                errs.append(user_error(["input", list_name, str(i), key], message, code))
        found.append((item, loc) if item is not None and loc is not None else None)
    return errs, found


def _bounds_error(path: list[str], value: int) -> dict[str, Any] | None:
    if value > MAX_QUANTITY:
        return user_error(
            path, "The quantity can't be higher than 1,000,000,000.", "INVALID_QUANTITY_TOO_HIGH"
        )
    if value < -MAX_QUANTITY:
        return user_error(
            path, "The quantity can't be lower than -1,000,000,000.", "INVALID_QUANTITY_TOO_LOW"
        )
    return None


def _new_group(
    shop: ShopState, reason: str, uri: str | None, changes: list[dict[str, Any]]
) -> dict[str, Any] | None:
    if not changes:
        return None
    g: dict[str, Any] = {
        "id": shop.new_gid("InventoryAdjustmentGroup"),
        "createdAt": shop.now_iso(),
        "reason": reason,
        "referenceDocumentUri": uri,
        "changes": changes,
    }
    shop.adjustment_groups[g["id"]] = g
    return g


def _change(
    name: str, delta: int, level: dict[str, Any], ledger: str | None = None
) -> dict[str, Any]:
    return {
        "name": name,
        "delta": delta,
        "quantityAfterChange": None,
        "ledgerDocumentUri": ledger,
        "itemId": level["itemId"],
        "locationId": level["locationId"],
    }


Move = tuple[dict[str, Any], str, int, "str | None"]


def apply_moves(
    shop: ShopState,
    data: Mapping[str, Any],
    moves: Sequence[Move],
    merge: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """Apply quantity changes as one adjustment group (with its inventory events); the payload.

    Args:
        shop: The shop.
        data: The mutation's input (``reason``, ``referenceDocumentUri``).
        moves: The changes, in order.
        merge: Folds the group's changes before it is recorded (moves between locations).
    """
    changes: list[dict[str, Any]] = []
    touched: list[dict[str, Any]] = []
    for level, name, delta, ledger in moves:
        for qname, d in shop.change_quantity(level, name, delta):
            changes.append(_change(qname, d, level, ledger))
        if delta and not any(t is level for t in touched):
            touched.append(level)
    group = _new_group(
        shop, data["reason"], data.get("referenceDocumentUri"), merge(changes) if merge else changes
    )
    for level in touched:
        shop.inventory_event(level)
    return {"inventoryAdjustmentGroup": group, "userErrors": []}


def _mismatch_payload(extra: dict[str, Any], *, code: str | None =
                      "IDEMPOTENCY_KEY_PARAMETER_MISMATCH") -> Callable[[], dict[str, Any]]:
    """The answer to a reused idempotency key with other arguments (``code=None`` for a payload
    whose userErrors are plain ``UserError``s, which have no code)."""

    def make() -> dict[str, Any]:
        return {
            **extra,
            "userErrors": [
                user_error(
                    None,
                    "The idempotency key was already used for a request with different parameters.",
                    code,
                )
            ],
        }

    return make


def no_group(errs: list[dict[str, Any]]) -> dict[str, Any]:
    """The answer of a quantity mutation that changed nothing."""
    return {"inventoryAdjustmentGroup": None, "userErrors": errs}


def quantity_rows(
    info: GraphQLResolveInfo, input: Any, key: str, type_name: str
) -> tuple[dict[str, Any], list[dict[str, Any]], ShopState]:
    """A quantity mutation's input, its rows under ``key`` (from 2026-04 each must carry
    ``changeFromQuantity``, :func:`_require_change_from`) and the shop."""
    data = input_dict(input)
    rows = [input_dict(r) for r in data.get(key) or []]
    _require_change_from(info, rows, type_name)
    return data, rows, ctx_of(info).shop


def _m_set_quantities(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> Any:
    data, rows, shop = quantity_rows(info, input, "quantities", "InventoryQuantityInput")

    def run() -> dict[str, Any]:
        errs: list[dict[str, Any]] = []
        if data.get("reason") not in INVENTORY_REASONS:
            errs.append(user_error(["input", "reason"], _invalid_reason(), "INVALID_REASON"))
        name = data.get("name")
        if name not in ("available", "on_hand"):
            errs.append(
                user_error(
                    ["input", "name"],
                    "The quantity name must be either 'available' or 'on_hand'.",
                    "INVALID_NAME",
                )
            )
        if errs:
            return no_group(errs)
        errs, found = _row_checks(shop, rows, "quantities")
        for i, r in enumerate(rows):
            path = ["input", "quantities", str(i), "quantity"]
            if name == "on_hand" and r["quantity"] < 0:
                errs.append(
                    user_error(path, "The quantity can't be negative.", "INVALID_QUANTITY_NEGATIVE")
                )
            else:
                b = _bounds_error(path, r["quantity"])
                if b:
                    errs.append(b)
        pairs: dict[tuple[str, str], list[int]] = {}
        for i, r in enumerate(rows):
            pairs.setdefault((r["inventoryItemId"], r["locationId"]), []).append(i)
        for idxs in pairs.values():
            if len(idxs) > 1:
                for i in idxs:
                    errs.append(
                        user_error(
                            ["input", "quantities", str(i), "locationId"],
                            "The combination of inventoryItemId and locationId must be unique.",
                            "NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR",
                        )
                    )
        if errs:
            return no_group(errs)
        levels = _stocked_levels(rows, found, str(name), "quantities", errs)
        if errs:
            return no_group(errs)
        moves = []
        for r, level in zip(rows, levels, strict=True):
            assert level is not None
            moves.append((level, str(name), r["quantity"] - level["quantities"][name], None))
        return apply_moves(shop, data, moves)

    return idempotent(
        info, {"input": data}, run, _mismatch_payload({"inventoryAdjustmentGroup": None})
    )


def _m_adjust_quantities(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> Any:
    data, rows, shop = quantity_rows(info, input, "changes", "InventoryChangeInput")

    def run() -> dict[str, Any]:
        name = data.get("name")
        errs: list[dict[str, Any]] = []
        if data.get("reason") not in INVENTORY_REASONS:
            errs.append(user_error(["input", "reason"], _invalid_reason(), "INVALID_REASON"))
        if name not in ADJUSTABLE_NAMES:
            errs.append(
                user_error(
                    ["input", "name"],
                    "The specified quantity name is invalid. Valid values are: "
                    + ", ".join(ADJUSTABLE_NAMES)
                    + ".",
                    "INVALID_QUANTITY_NAME",
                )
            )
        if errs:
            return no_group(errs)
        errs, found = _row_checks(shop, rows, "changes")
        if errs:
            return no_group(errs)

        def in_bounds(i: int, r: dict[str, Any], level: dict[str, Any]) -> None:
            b = _bounds_error(
                ["input", "changes", str(i), "delta"], level["quantities"][name] + r["delta"]
            )
            if b:
                errs.append(b)

        levels = _stocked_levels(rows, found, str(name), "changes", errs, in_bounds)
        if errs:
            return no_group(errs)
        moves = []
        for r, level in zip(rows, levels, strict=True):
            assert level is not None
            moves.append((level, str(name), r["delta"], r.get("ledgerDocumentUri")))
        return apply_moves(shop, data, moves)

    return idempotent(
        info, {"input": data}, run, _mismatch_payload({"inventoryAdjustmentGroup": None})
    )


def _m_activate(
    _: Any,
    info: GraphQLResolveInfo,
    inventoryItemId: str,
    locationId: str,
    available: int | None = None,
    onHand: int | None = None,
    stockAtLegacyLocation: bool = False,
) -> Any:
    shop = ctx_of(info).shop
    args = {
        "inventoryItemId": inventoryItemId,
        "locationId": locationId,
        "available": available,
        "onHand": onHand,
    }

    def run() -> dict[str, Any]:
        item = shop.inventory_items.get(inventoryItemId)
        loc = shop.locations.get(locationId)
        errs = []
        if item is None:
            errs.append(user_error(["inventoryItemId"], "Inventory item does not exist"))
        if loc is None:
            errs.append(user_error(["locationId"], "Location does not exist"))
        if errs:
            return {"inventoryLevel": None, "userErrors": errs}
        assert item is not None and loc is not None
        prefix = f"The product couldn't be stocked at {loc['name']} because"
        level = item["levels"].get(loc["id"])
        if available is not None and onHand is not None:
            msg = f"{prefix} not allowed to set available and on_hand quantities at the same time."
            return {
                "inventoryLevel": None,
                "userErrors": [user_error(["available"], msg), user_error(["onHand"], msg)],
            }
        for arg_name, value in (("available", available), ("onHand", onHand)):
            if value is not None and abs(value) > MAX_QUANTITY:
                return {
                    "inventoryLevel": None,
                    "userErrors": [
                        user_error(
                            [arg_name],
                            f"{prefix} the quantity needs to be between -1 billion and 1 billion.",
                        )
                    ],
                }
        if level is not None and level["isActive"]:
            errs = []
            if onHand is not None:
                errs.append(
                    user_error(
                        ["onHand"],
                        "Not allowed to set an on_hand quantity when the item is already active "
                        "at the location.",
                    )
                )
            if available is not None:
                errs.append(
                    user_error(
                        ["available"],
                        "Not allowed to set an available quantity when the item is already "
                        "active at the location.",
                    )
                )
            return {"inventoryLevel": level, "userErrors": errs}
        if level is None:
            level = shop.new_level(item, loc)
        else:
            level["isActive"] = True
        qty = available if available is not None else onHand
        if qty:
            shop.change_quantity(level, "available", qty)
        shop.inventory_event(level)
        return {"inventoryLevel": level, "userErrors": []}

    return idempotent(info, args, run, _mismatch_payload({"inventoryLevel": None}))
