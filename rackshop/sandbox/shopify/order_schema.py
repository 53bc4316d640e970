"""The order part of the twin as GraphQL serves it: order search (``query:`` fields and sort
keys), the read resolvers of orders, fulfilment orders, fulfilments, refunds, transactions and
customers, the order mutations, and register(), which attaches them to the twin's schema."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from graphql import GraphQLResolveInfo, GraphQLSchema

from . import consistency
from . import ordermath as om
from .catalog import idempotent
from .metafields import resolve_metafield, resolve_metafields
from .order_customers import _customers
from .order_totals import _currencies, _market_rate_to_shop
from .order_values import _error, _plain, _shop_of, _uncoded
from .orders import (
    _changed,
    _find_fulfillment,
    _fulfillment_order,
    _order_or_none,
    cancel_order,
    create_fulfillment,
    create_order,
    create_refund,
    mark_as_paid,
    set_closed,
    update_order,
)
from .search import Field, compile_search, parse, parsed_term, terms
from .state import ShopState, connection_from_args, gid_number, set_resolvers

_SORTS: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "UPDATED_AT": lambda o: o["updatedAt"],
    "CREATED_AT": lambda o: o["createdAt"],
    "PROCESSED_AT": lambda o: o["processedAt"],
    "ID": lambda o: gid_number(o["id"]),
    "RELEVANCE": lambda o: gid_number(o["id"]),
    "ORDER_NUMBER": lambda o: o["number"],
    "TOTAL_PRICE": lambda o: Decimal(o["totalPriceSet"]["shopMoney"]["amount"]),
    "CURRENT_TOTAL_PRICE": lambda o: Decimal(o["currentTotalPriceSet"]["shopMoney"]["amount"]),
    "FINANCIAL_STATUS": lambda o: o["displayFinancialStatus"] or "",
    "FULFILLMENT_STATUS": lambda o: o["displayFulfillmentStatus"],
    "TOTAL_ITEMS_QUANTITY": lambda o: o["subtotalLineItemsQuantity"],
    "PO_NUMBER": lambda o: o["poNumber"] or "",
    "CUSTOMER_NAME": lambda o: (
        (o["billingAddress"] or o["shippingAddress"] or {}).get("name") or ""
    ),
    "DESTINATION": lambda o: (o["shippingAddress"] or {}).get("country") or "",
}


def _fulfillment_aliases(order: Mapping[str, Any]) -> list[str]:
    return {
        "UNFULFILLED": ["unfulfilled", "unshipped"],
        "PARTIALLY_FULFILLED": ["partial", "unfulfilled"],
        "FULFILLED": ["fulfilled", "shipped"],
    }.get(order["displayFulfillmentStatus"], [order["displayFulfillmentStatus"].lower()])


def _status_aliases(order: Mapping[str, Any]) -> list[str]:
    out = ["closed"] if order["closed"] else ["open", "not_closed"]
    if order["cancelledAt"]:
        out = [s for s in out if s != "open"] + ["cancelled"]
    return out


def _order_fields(query: str | None) -> dict[str, Field]:
    fields: dict[str, Field] = {
        "updated_at": Field(lambda o: o["updatedAt"], "time"),
        "created_at": Field(lambda o: o["createdAt"], "time"),
        "processed_at": Field(lambda o: o["processedAt"], "time"),
        "financial_status": Field(lambda o: (o["displayFinancialStatus"] or "").lower() or None),
        "fulfillment_status": Field(_fulfillment_aliases),
        "status": Field(_status_aliases),
        "tag": Field(lambda o: o["tags"], "tag"),
        "tag_not": Field(lambda o: o["tags"], "tag", negate=True),
        "name": Field(lambda o: [o["name"], o["name"].lstrip("#")]),
        "email": Field(lambda o: o["email"]),
        "test": Field(lambda o: o["test"], "boolean"),
        "id": Field(lambda o: o["id"], "id"),
        "sku": Field(lambda o: [li["sku"] for li in o["lineItems"] if li["sku"]]),
        "customer_id": Field(lambda o: o["customerId"], "id"),
        "source_name": Field(lambda o: o["sourceName"]),
        "source_identifier": Field(lambda o: o["sourceIdentifier"]),
        "gateway": Field(lambda o: o["paymentGatewayNames"]),
        "discount_code": Field(lambda o: o["discountCodes"]),
        "po_number": Field(lambda o: o["poNumber"]),
        "current_total_price": Field(
            lambda o: o["currentTotalPriceSet"]["shopMoney"]["amount"], "number"
        ),
    }
    # metafields.{namespace}.{key} filters: one field per name the query uses.
    try:
        names = {t.field for t in terms(parse(query or "")) if t.field}
    except ValueError:
        names = set()
    for name in names:
        if name.startswith("metafields.") and name.count(".") >= 2:
            _, ns, key = name.split(".", 2)
            fields[name] = Field(_metafield_getter(ns, key))
    return fields


def _metafield_getter(ns: str, key: str) -> Callable[[Mapping[str, Any]], Any]:
    def get(o: Mapping[str, Any]) -> Any:
        for mf in o.get("metafields") or []:
            if mf["namespace"] == ns and mf["key"] == key:
                return mf["value"]
        return None

    return get


def _order_text(o: Mapping[str, Any]) -> list[str]:
    words = [o["name"], o["email"] or "", o["note"] or ""]
    words += [li["title"] for li in o["lineItems"]] + [li["sku"] or "" for li in o["lineItems"]]
    return words


def matching_orders(
    shop: ShopState, query: str | None, warn: Callable[[list[dict[str, str]]], None] | None = None
) -> list[dict[str, Any]]:
    """The shop's orders a ``query:`` string selects (ignored fields reported through ``warn``)."""
    compiled = compile_search(query, _order_fields(query), default=_order_text)
    if compiled.warnings and warn is not None:
        warn(compiled.warnings)
    if not query:
        return list(shop.orders.values())
    return [o for o in shop.orders.values() if consistency.searchable(shop, o, compiled.matches)]


def _warn_into(
    info: GraphQLResolveInfo, query: str | None
) -> Callable[[list[dict[str, str]]], None]:
    def warn(warnings: list[dict[str, str]]) -> None:
        sink = getattr(info.context, "search_warnings", None)
        if isinstance(sink, list):
            entry: dict[str, Any] = {"path": list(info.path.as_list()), "query": query}
            parsed = parsed_term(query)
            if parsed is not None:
                entry["parsed"] = parsed
            entry["warnings"] = warnings
            sink.append(entry)

    return warn


def _sorted_page(
    records: list[dict[str, Any]], args: Mapping[str, Any], sort_key: str | None
) -> dict[str, Any]:
    value = _SORTS.get(sort_key or "ID", _SORTS["ID"])

    def key(r: Mapping[str, Any]) -> tuple[Any, int]:
        return (value(r), gid_number(r["id"]))

    ordered = sorted(records, key=key)

    def cursor_value(r: dict[str, Any]) -> Any:
        v = value(r)
        return str(v) if isinstance(v, Decimal) else v

    return connection_from_args(ordered, args, sort_value=cursor_value)


def _page(items: Sequence[dict[str, Any]], args: Mapping[str, Any]) -> dict[str, Any]:
    return connection_from_args(list(items), args)


def _q_order(_: Any, info: GraphQLResolveInfo, id: str) -> Any:
    return _shop_of(info).orders.get(id)


def _q_orders(_: Any, info: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
    shop = _shop_of(info)
    query = args.get("query")
    records = matching_orders(shop, query, _warn_into(info, query))
    return _sorted_page(records, args, args.get("sortKey") or "PROCESSED_AT")


def _q_orders_count(
    _: Any, info: GraphQLResolveInfo, query: str | None = None, limit: int | None = None, **__: Any
) -> dict[str, Any]:
    n = len(matching_orders(_shop_of(info), query, _warn_into(info, query)))
    if limit is not None and n > limit:
        return {"count": limit, "precision": "AT_LEAST"}
    return {"count": n, "precision": "EXACT"}


def _q_fulfillment_order(_: Any, info: GraphQLResolveInfo, id: str) -> Any:
    found = _fulfillment_order(_shop_of(info), id)
    return found[1] if found else None


def _q_customer(_: Any, info: GraphQLResolveInfo, id: str) -> Any:
    return _customers(_shop_of(info)).get(id)


def _parent_order(obj: Mapping[str, Any], info: GraphQLResolveInfo) -> dict[str, Any] | None:
    return _shop_of(info).orders.get(obj.get("_orderId") or "")


def _line_by_id(order: Mapping[str, Any] | None, gid: str | None) -> dict[str, Any] | None:
    if order is None:
        return None
    return next((li for li in order["lineItems"] if li["id"] == gid), None)


def _o_line_items(o: dict[str, Any], _: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
    return _page(o["lineItems"], args)


def _o_shipping_lines(o: dict[str, Any], _: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
    lines = (
        o["shippingLines"]
        if args.get("includeRemovals")
        else [s for s in o["shippingLines"] if not s["isRemoved"]]
    )
    return _page(lines, args)


def _o_discount_applications(
    o: dict[str, Any], _: GraphQLResolveInfo, **args: Any
) -> dict[str, Any]:
    return _page(o["discountApplications"], args)


def _o_fulfillment_orders(o: dict[str, Any], _: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
    fos = o["fulfillmentOrders"]
    if args.get("displayable"):
        fos = [fo for fo in fos if fo["status"] not in ("CANCELLED", "INCOMPLETE")]
    return _page(fos, args)


def _first(items: Sequence[Any], first: int | None) -> list[Any]:
    return list(items) if first is None else list(items)[:first]


def _o_fulfillments(
    o: dict[str, Any], _: GraphQLResolveInfo, first: int | None = None, **__: Any
) -> list[Any]:
    return _first(o["fulfillments"], first)


def _o_refunds(o: dict[str, Any], _: GraphQLResolveInfo, first: int | None = None) -> list[Any]:
    return _first(o["refunds"], first)


def _o_transactions(
    o: dict[str, Any], _: GraphQLResolveInfo, first: int | None = None,
    capturable: bool | None = None, **__: Any,
) -> list[Any]:  # fmt: skip
    txns = o["transactions"]
    if capturable:
        txns = [t for t in txns if t["kind"] == "AUTHORIZATION" and t["status"] == "SUCCESS"
                and o["capturable"]]  # fmt: skip
    return _first(txns, first)


def _o_customer(o: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    return _customers(_shop_of(info)).get(o.get("customerId") or "")


def _li_variant(li: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    return _shop_of(info).variants.get(li.get("variantId") or "")


def _li_product(li: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    return _shop_of(info).products.get(li.get("productId") or "")


def _li_discounted_total(
    li: dict[str, Any], _: GraphQLResolveInfo, withCodeDiscounts: bool = False
) -> Any:
    return li["discountedTotalWithCodesSet"] if withCodeDiscounts else li["discountedTotalSet"]


def _tax_lines(obj: dict[str, Any], _: GraphQLResolveInfo, first: int | None = None) -> list[Any]:
    return _first(obj["taxLines"], first)


def _owning_order(r: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    return _parent_order(r, info)


def _refund_lines(r: dict[str, Any], _: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
    return _page(r["refundLineItems"], args)


def _refund_shipping(r: dict[str, Any], _: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
    return _page(r["refundShippingLines"], args)


def _refund_transactions(
    r: dict[str, Any], info: GraphQLResolveInfo, **args: Any
) -> dict[str, Any]:
    order = _parent_order(r, info) or {"transactions": []}
    return _page([t for t in order["transactions"] if t["id"] in r["transactionIds"]], args)


def _rli_line(rli: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    return _line_by_id(_parent_order(rli, info), rli["lineItemId"])


def _location(obj: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    return _shop_of(info).locations.get(obj.get("locationId") or "")


def _rsl_shipping(rsl: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    order = _parent_order(rsl, info) or {"shippingLines": []}
    return next((s for s in order["shippingLines"] if s["id"] == rsl["shippingLineId"]), None)


def _f_tracking(f: dict[str, Any], _: GraphQLResolveInfo, first: int | None = None) -> list[Any]:
    return _first(f["trackingInfo"], first)


def _f_line_items(f: dict[str, Any], _: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
    return _page(f["fulfillmentLineItems"], args)


def _fli_line(fli: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    return _line_by_id(_parent_order(fli, info), fli["lineItemId"])


def _fo_line_items(fo: dict[str, Any], _: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
    return _page(fo["lineItems"], args)


def _fo_fulfillments(fo: dict[str, Any], info: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
    order = _parent_order(fo, info) or {"fulfillments": []}
    return _page([f for f in order["fulfillments"] if f["id"] in fo["fulfillmentIds"]], args)


def _fo_location(assigned: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    return _shop_of(info).locations.get(assigned.get("locationId") or "")


def _foli_variant(foli: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    return _shop_of(info).variants.get(foli.get("variantId") or "")


def _txn_parent(t: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    order = _parent_order(t, info) or {"transactions": []}
    return next((p for p in order["transactions"] if p["id"] == t.get("parentTransactionId")), None)


def _legacy_id(rec: dict[str, Any], _: GraphQLResolveInfo) -> str:
    return str(gid_number(rec["id"]))


def _by_typename(value: Any, _info: GraphQLResolveInfo, _type: Any) -> str | None:
    name = value.get("__typename") if isinstance(value, Mapping) else None
    return str(name) if name else None


def _m_order_create(
    _: Any, info: GraphQLResolveInfo, order: dict[str, Any], options: dict[str, Any] | None = None
) -> dict[str, Any]:
    record, errors = create_order(_shop_of(info), order, options)
    return {"order": record, "userErrors": errors}


def _m_mark_as_paid(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    order, errors = mark_as_paid(_shop_of(info), input["id"])
    return {"order": order, "userErrors": _uncoded(errors)}


def _m_order_cancel(_: Any, info: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
    job, errors = cancel_order(
        _shop_of(info),
        args["orderId"],
        reason=args["reason"],
        refund=args.get("refund"),
        refund_method=args.get("refundMethod"),
        restock=bool(args["restock"]),
        staff_note=args.get("staffNote"),
    )
    return {"job": job, "orderCancelUserErrors": errors, "userErrors": _uncoded(errors)}


def _m_order_update(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    order, errors = update_order(_shop_of(info), input)
    return {"order": order, "userErrors": errors}


def _m_order_close(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    order, errors = set_closed(_shop_of(info), input["id"], True)
    return {"order": order, "userErrors": errors}


def _m_order_open(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    order, errors = set_closed(_shop_of(info), input["id"], False)
    return {"order": order, "userErrors": errors}


def _m_fulfillment_create(
    _: Any, info: GraphQLResolveInfo, fulfillment: dict[str, Any], message: str | None = None
) -> dict[str, Any]:
    record, errors = create_fulfillment(_shop_of(info), _plain(fulfillment))
    return {"fulfillment": record, "userErrors": errors}


def _m_tracking_update(
    _: Any, info: GraphQLResolveInfo, fulfillmentId: str, trackingInfoInput: dict[str, Any],
    notifyCustomer: bool | None = None,
) -> dict[str, Any]:  # fmt: skip
    shop = _shop_of(info)
    found = _find_fulfillment(shop, fulfillmentId)
    if found is None:
        missing = _error(["fulfillmentId"], "Fulfillment does not exist.")
        return {"fulfillment": None, "userErrors": [missing]}
    order, record = found
    t = _plain(trackingInfoInput)
    numbers = list(t.get("numbers") or ([t["number"]] if t.get("number") else []))
    urls = list(t.get("urls") or ([t["url"]] if t.get("url") else []))
    record["trackingInfo"] = [
        {"number": n, "url": urls[i] if i < len(urls) else None, "company": t.get("company")}
        for i, n in enumerate(numbers)
    ]
    record["updatedAt"] = shop.now_iso()
    _changed(shop, order)
    return {"fulfillment": record, "userErrors": []}


def _refund_args(shop: ShopState, order: dict[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
    cur = _currencies(order)
    lines: dict[str, int] = {}
    restock_types: dict[str, str] = {}
    locations: dict[str, str | None] = {}
    for rl in data.get("refundLineItems") or []:
        lines[rl["lineItemId"]] = lines.get(rl["lineItemId"], 0) + int(rl["quantity"])
        restock_types[rl["lineItemId"]] = rl.get("restockType") or "NO_RESTOCK"
        locations[rl["lineItemId"]] = rl.get("locationId")
    shipping: om.Bag | str | None = None
    ship_in = data.get("shipping") or {}
    if ship_in.get("fullRefund"):
        shipping = "full"
    elif ship_in.get("amount") is not None:
        shipping = cur.from_presentment(
            om.dec(ship_in["amount"]), _market_rate_to_shop(shop, order)
        )
    return {
        "lines": lines,
        "shipping": shipping,
        "transactions": data.get("transactions") or [],
        "note": data.get("note"),
        "restock_types": restock_types,
        "location_ids": locations,
        "allow_over_refunding": bool(data.get("allowOverRefunding")),
    }


def _m_refund_create(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    shop = _shop_of(info)
    data = _plain(input)

    def run() -> dict[str, Any]:
        order = _order_or_none(shop, data.get("orderId"))
        if order is None:
            return {"refund": None, "order": None,
                    "userErrors": [_error(["orderId"], "Order does not exist")]}  # fmt: skip
        record, errors = create_refund(shop, order, **_refund_args(shop, order, data))
        return {"refund": record, "order": order, "userErrors": errors}

    def mismatch() -> dict[str, Any]:
        return {
            "refund": None,
            "order": _order_or_none(shop, data.get("orderId")),
            "userErrors": [
                _error(None, "The same idempotency key was used with different parameters.")
            ],
        }

    return idempotent(info, {"input": data}, run, mismatch)


def register(schema: GraphQLSchema) -> None:
    """Attach the order resolvers to the twin's schema (built from ``schema_orders.graphql``)."""
    queries: dict[str, Callable[..., Any]] = {
        "order": _q_order,
        "orders": _q_orders,
        "ordersCount": _q_orders_count,
        "fulfillmentOrder": _q_fulfillment_order,
        "customer": _q_customer,
    }
    set_resolvers(schema, "Query", queries)
    mutations: dict[str, Callable[..., Any]] = {
        "orderCreate": _m_order_create,
        "orderMarkAsPaid": _m_mark_as_paid,
        "orderCancel": _m_order_cancel,
        "orderUpdate": _m_order_update,
        "orderClose": _m_order_close,
        "orderOpen": _m_order_open,
        "fulfillmentCreate": _m_fulfillment_create,
        "fulfillmentTrackingInfoUpdate": _m_tracking_update,
        "refundCreate": _m_refund_create,
    }
    set_resolvers(schema, "Mutation", mutations)
    fields: dict[str, dict[str, Callable[..., Any]]] = {
        "Order": {
            "lineItems": _o_line_items,
            "shippingLines": _o_shipping_lines,
            "discountApplications": _o_discount_applications,
            "fulfillmentOrders": _o_fulfillment_orders,
            "fulfillments": _o_fulfillments,
            "refunds": _o_refunds,
            "transactions": _o_transactions,
            "customer": _o_customer,
            "metafield": resolve_metafield,
            "metafields": resolve_metafields,
            "taxLines": _tax_lines,
        },
        "LineItem": {
            "variant": _li_variant,
            "product": _li_product,
            "discountedTotalSet": _li_discounted_total,
            "taxLines": _tax_lines,
        },
        "Refund": {
            "order": _owning_order,
            "refundLineItems": _refund_lines,
            "refundShippingLines": _refund_shipping,
            "transactions": _refund_transactions,
        },
        "RefundLineItem": {"lineItem": _rli_line, "location": _location},
        "RefundShippingLine": {"shippingLine": _rsl_shipping},
        "Fulfillment": {
            "order": _owning_order,
            "trackingInfo": _f_tracking,
            "fulfillmentLineItems": _f_line_items,
            "location": _location,
        },
        "FulfillmentLineItem": {"lineItem": _fli_line},
        "FulfillmentOrder": {
            "order": _owning_order,
            "lineItems": _fo_line_items,
            "fulfillments": _fo_fulfillments,
        },
        "FulfillmentOrderAssignedLocation": {"location": _fo_location},
        "FulfillmentOrderLineItem": {"lineItem": _fli_line, "variant": _foli_variant},
        "OrderTransaction": {"parentTransaction": _txn_parent},
    }
    for type_name, resolvers in fields.items():
        set_resolvers(schema, type_name, resolvers)
    for type_name in ("Order", "Customer", "Refund", "Fulfillment"):
        set_resolvers(schema, type_name, {"legacyResourceId": _legacy_id})
    for abstract in ("DiscountApplication", "PricingValue"):
        t = schema.type_map.get(abstract)
        if t is not None:
            t.resolve_type = _by_typename  # type: ignore[attr-defined]
