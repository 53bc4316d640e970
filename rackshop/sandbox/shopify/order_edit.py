"""Order editing in the Shopify twin: ``orderEditBegin``, ``orderEditSetQuantity``,
``orderEditAddVariant``, ``orderEditCommit`` (2026-07 signatures, ``schema_order_edit.graphql``).

An edit session stages changes on the order (``order["_edit"]``) and shows them as a
``CalculatedOrder``; ``orderEditCommit`` applies them as Shopify does:

* a **lower quantity** (0 removes the line) leaves the line's ``quantity`` and lowers its
  ``currentQuantity``, like a refund that moves no money: the order's current totals drop and the
  money becomes owed to the buyer (``totalOutstandingSet`` negative) until a refund pays it; the
  units are released, back to available with ``restock: true``;
* a **higher quantity** raises the line's ``quantity`` (its tax recomputed from its rate);
* an **added variant** becomes a new line at the variant's price, taxed at the rate of the order's
  first taxed line [Inf: the twin has no tax engine], added to the open fulfillment order;
* the order becomes ``edited``, ``updatedAt`` moves, ``orders/edited`` (payload
  ``{"order_edit": {"id", "order_id", ...}}``) and ``orders/updated`` are emitted.

Not modelled: discounts and shipping lines in an edit, custom items, ``orderEditRemoveDiscount``
and the other edit mutations, several concurrent sessions per order (a new begin replaces the
staged one), and the notification preview.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from graphql import GraphQLObjectType, GraphQLResolveInfo, GraphQLSchema

from . import orders as o
from .order_inventory import _release_inventory
from .order_totals import _refunded, _store_refunded
from .order_values import _shop_of
from .state import ShopState, gid_number


def _calc_line_id(line_gid: str) -> str:
    return f"gid://shopify/CalculatedLineItem/{gid_number(line_gid)}"


def _session_order(shop: ShopState, calc_id: Any) -> dict[str, Any] | None:
    for order in shop.orders.values():
        edit = order.get("_edit")
        if edit and edit["calculated"] == calc_id:
            return order
    return None


def _staged(order: dict[str, Any]) -> dict[str, Any]:
    edit: dict[str, Any] = order["_edit"]
    return edit


def _conn(nodes: list[dict[str, Any]]) -> dict[str, Any]:
    return {"nodes": nodes, "edges": [{"cursor": n["id"], "node": n} for n in nodes],
            "pageInfo": {"hasNextPage": False, "hasPreviousPage": False,
                         "startCursor": nodes[0]["id"] if nodes else None,
                         "endCursor": nodes[-1]["id"] if nodes else None}}


def _calculated(shop: ShopState, order: dict[str, Any]) -> dict[str, Any]:
    """The order with the staged changes, as a ``CalculatedOrder``."""
    edit = _staged(order)
    preview = copy.deepcopy(order)
    _apply(shop, preview, edit, preview_only=True)
    existing = []
    staged = {a["id"] for a in edit["added"]}
    for li in preview["lineItems"]:
        # A line this session adds keeps its staged id; one an earlier edit added is a line of
        # the order like any other now.
        cid = li["_addedBy"] if li.get("_addedBy") in staged else _calc_line_id(li["id"])
        existing.append({
            "__typename": "CalculatedLineItem", "id": cid, "quantity": li["currentQuantity"],
            "editableQuantity": li["currentQuantity"], "sku": li["sku"], "title": li["title"],
            "originalUnitPriceSet": li["originalUnitPriceSet"],
            "restockable": li["currentQuantity"] > 0})
    added = [n for n in existing if n["id"] in staged]
    return {
        "__typename": "CalculatedOrder", "id": edit["calculated"], "committed": False,
        "originalOrder": order, "lineItems": _conn(existing), "addedLineItems": _conn(added),
        "subtotalLineItemsQuantity": sum(n["quantity"] for n in existing),
        "totalPriceSet": preview["currentTotalPriceSet"],
    }


def _apply(shop: ShopState, order: dict[str, Any], edit: dict[str, Any], *,
           preview_only: bool = False) -> None:
    """Apply the staged changes to ``order`` (a copy for a preview: no inventory, no events)."""
    so_far = _refunded(order)
    by_id = {li["id"]: li for li in order["lineItems"]}
    math = order["_calc"]["input"]["lineItems"]
    fo = next((f for f in order["fulfillmentOrders"]
               if f["status"] in ("OPEN", "IN_PROGRESS", "SCHEDULED")), None)
    for line_id, wanted in edit["quantities"].items():
        li = by_id[line_id]
        current = int(li["currentQuantity"])
        idx = li["_index"]
        if wanted < current:
            gone = current - wanted
            so_far.line_qty[idx] = so_far.line_qty.get(idx, 0) + gone
            if not preview_only:
                _release_inventory(shop, li, gone, restock=bool(edit["restock"].get(line_id)))
            delta = -gone
        elif wanted > current:
            delta = wanted - current
            math[idx]["quantity"] = int(math[idx]["quantity"]) + delta
            for tax in math[idx].get("taxLines") or []:
                tax.pop("priceSet", None)  # recomputed from the rate for the new quantity
        else:
            continue
        for fli in (fo or {}).get("lineItems") or []:
            if fli["lineItemId"] == line_id:
                fli["remainingQuantity"] = max(0, fli["remainingQuantity"] + delta)
                fli["totalQuantity"] = max(0, fli["totalQuantity"] + max(delta, 0))
    _store_refunded(order, so_far)
    rates = next(([{"title": t.get("title"), "rate": t.get("rate")} for t in m["taxLines"]]
                  for m in math if m.get("taxLines")), [])
    currency = order["_calc"]["currencies"][0]
    for added in edit["added"]:
        lines, display, _errors = o._normalise_lines(
            shop, {"lineItems": [{"variantId": added["variantId"],
                                  "quantity": added["quantity"]}]}, currency)
        line_in, info = lines[0], display[0]
        if line_in.get("taxable", True) and rates:
            line_in["taxLines"] = copy.deepcopy(rates)
        math.append(line_in)
        index = len(order["lineItems"])
        record = {
            "__typename": "LineItem", "id": shop.new_gid("LineItem"), "_index": index,
            "_orderId": order["id"], "_fulfilled": 0, "_committed": {},
            "_inventoryItemId": info["inventoryItemId"], "_addedBy": added["id"],
            "title": info["title"],
            "name": f"{info['title']} - {info['variantTitle']}" if info["variantTitle"]
            else info["title"],
            "variantTitle": info["variantTitle"], "sku": info["sku"], "vendor": info["vendor"],
            "variantId": info["variantId"], "productId": info["productId"],
            "taxable": bool(line_in.get("taxable", True)),
            "requiresShipping": bool(line_in.get("requiresShipping", False)),
            "isGiftCard": False, "customAttributes": [],
        }
        order["lineItems"].append(record)
        if fo is not None:
            fo["lineItems"].append({
                "__typename": "FulfillmentOrderLineItem",
                "id": shop.new_gid("FulfillmentOrderLineItem"), "lineItemId": record["id"],
                "_orderId": order["id"], "totalQuantity": added["quantity"],
                "remainingQuantity": added["quantity"], "productTitle": record["title"],
                "variantTitle": record["variantTitle"], "sku": record["sku"],
                "vendor": record["vendor"], "requiresShipping": record["requiresShipping"],
                "inventoryItemId": record["_inventoryItemId"], "variantId": record["variantId"]})
    o.refresh(shop, order)


# -- resolvers ----------------------------------------------------------------------------------


def _fail(message: str, field: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    return {**extra, "userErrors": [{"field": field, "message": message}]}


def _m_begin(_: Any, info: GraphQLResolveInfo, id: str) -> dict[str, Any]:
    shop = _shop_of(info)
    order = o._order_or_none(shop, id)
    if order is None:
        return _fail("The order does not exist.", ["id"], calculatedOrder=None,
                     orderEditSession=None)
    if order.get("cancelledAt") or order.get("closed"):
        return _fail("The order cannot be edited.", ["id"], calculatedOrder=None,
                     orderEditSession=None)
    session = shop.new_gid("OrderEditSession")
    order["_edit"] = {"session": session,
                      "calculated": f"gid://shopify/CalculatedOrder/{gid_number(session)}",
                      "quantities": {}, "restock": {}, "added": []}
    return {"calculatedOrder": _calculated(shop, order), "orderEditSession": {"id": session},
            "userErrors": []}


def _m_set_quantity(_: Any, info: GraphQLResolveInfo, id: str, lineItemId: str,
                    quantity: int, restock: bool | None = None,
                    locationId: str | None = None) -> dict[str, Any]:
    shop = _shop_of(info)
    order = _session_order(shop, id)
    empty = {"calculatedLineItem": None, "calculatedOrder": None, "orderEditSession": None}
    if order is None:
        return _fail("The calculated order does not exist.", ["id"], **empty)
    if quantity < 0:
        return _fail("Quantity must be greater than or equal to 0.", ["quantity"], **empty)
    edit = _staged(order)
    added = next((a for a in edit["added"] if a["id"] == lineItemId), None)
    if added is not None:
        if quantity == 0:
            edit["added"].remove(added)
        else:
            added["quantity"] = quantity
    else:
        line = next((li for li in order["lineItems"]
                     if _calc_line_id(li["id"]) == lineItemId), None)
        if line is None:
            return _fail("The line item does not exist.", ["lineItemId"], **empty)
        edit["quantities"][line["id"]] = quantity
        edit["restock"][line["id"]] = bool(restock)
    calculated = _calculated(shop, order)
    node = next((n for n in calculated["lineItems"]["nodes"] if n["id"] == lineItemId), None)
    return {"calculatedLineItem": node, "calculatedOrder": calculated,
            "orderEditSession": {"id": edit["session"]}, "userErrors": []}


def _m_add_variant(_: Any, info: GraphQLResolveInfo, id: str, variantId: str, quantity: int,
                   locationId: str | None = None, allowDuplicates: bool = False
                   ) -> dict[str, Any]:
    shop = _shop_of(info)
    order = _session_order(shop, id)
    empty = {"calculatedLineItem": None, "calculatedOrder": None, "orderEditSession": None}
    if order is None:
        return _fail("The calculated order does not exist.", ["id"], **empty)
    if quantity <= 0:
        return _fail("Quantity must be greater than 0.", ["quantity"], **empty)
    if shop.variant(variantId) is None:
        return _fail("The variant does not exist.", ["variantId"], **empty)
    edit = _staged(order)
    present = any(li.get("variantId") == variantId for li in order["lineItems"]) or any(
        a["variantId"] == variantId for a in edit["added"])
    if present and not allowDuplicates:
        return _fail("The variant is already on the order; use orderEditSetQuantity or "
                     "allowDuplicates.", ["variantId"], **empty)
    # numbered from the line items' sequence, so never one of an existing line's
    line_id = _calc_line_id(shop.new_gid("LineItem"))
    edit["added"].append({"id": line_id, "variantId": variantId, "quantity": quantity,
                          "locationId": locationId})
    calculated = _calculated(shop, order)
    node = next((n for n in calculated["lineItems"]["nodes"] if n["id"] == line_id), None)
    return {"calculatedLineItem": node, "calculatedOrder": calculated,
            "orderEditSession": {"id": edit["session"]}, "userErrors": []}


def _m_commit(_: Any, info: GraphQLResolveInfo, id: str, notifyCustomer: bool | None = None,
              staffNote: str | None = None) -> dict[str, Any]:
    shop = _shop_of(info)
    order = _session_order(shop, id)
    if order is None:
        return _fail("The calculated order does not exist.", ["id"], order=None,
                     successMessages=None)
    if not order["_edit"]["quantities"] and not order["_edit"]["added"]:
        # recorded (money-bag-presentment-parity): an edit without a change is refused
        return _fail("There must be at least one change to be made.", ["id"], order=None,
                     successMessages=None)
    edit = order.pop("_edit")
    _apply(shop, order, edit)
    order["edited"] = True
    order["updatedAt"] = shop.now_iso()
    payload = o.webhook_payload(shop, order)
    shop.emit("orders/edited", {"order_edit": {
        "id": gid_number(edit["session"]), "order_id": int(order["legacyResourceId"]),
        "committed_at": order["updatedAt"], "notify_customer": bool(notifyCustomer),
        "staff_note": staffNote or ""}})
    shop.emit("orders/updated", payload)
    return {"order": order, "successMessages": ["Order updated"], "userErrors": []}


def register(schema: GraphQLSchema) -> None:
    """Attach the order-edit mutations (``schema_order_edit.graphql``) to the twin's schema."""
    mutation = schema.mutation_type
    resolvers: dict[str, Callable[..., Any]] = {
        "orderEditBegin": _m_begin, "orderEditSetQuantity": _m_set_quantity,
        "orderEditAddVariant": _m_add_variant, "orderEditCommit": _m_commit}
    if isinstance(mutation, GraphQLObjectType):
        for name, fn in resolvers.items():
            if name in mutation.fields:
                mutation.fields[name].resolve = fn
