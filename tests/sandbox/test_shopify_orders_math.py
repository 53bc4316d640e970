"""The Shopify twin's order arithmetic (``ordermath``) against Shopify's recorded answers.

Every case of ``order-create-math-matrix`` is replayed through the pure functions and compared
field by field with what Shopify returned; the line-item-fields and money-bag recordings are
replayed where they concern amounts. The remaining tests pin the choices the recordings do not
cover (allocation of remainders, percentage codes, free shipping, taxes included, refunds).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from rackshop.sandbox.shopify import ordermath as om

D = Decimal
NOW = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)


def _load(conformance_dir: Path, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((conformance_dir / name).read_text(encoding="utf-8"))
    return data


def _compute(
    order: dict[str, Any], shop_currency: str = "CAD"
) -> tuple[om.OrderCalc, list[dict[str, Any]]]:
    assert om.validate_order_input(order, now=NOW) == []
    cur = om.currencies_for(order, shop_currency=shop_currency)
    calc = om.compute_order(order, currencies=cur, taxes_included=bool(order.get("taxesIncluded")))
    return calc, om.transactions_from_input(order, cur)


def _txns(raw: list[dict[str, Any]]) -> list[om.Txn]:
    return [om.Txn(t["kind"], t["status"], t["amount"]) for t in raw]


def _fields(order: dict[str, Any], shop_currency: str = "CAD") -> dict[str, Any]:
    calc, raw = _compute(order, shop_currency)
    fields = om.order_fields(
        calc, om.RefundedSoFar(), _txns(raw), initial_status=order.get("financialStatus")
    )
    fields["displayFulfillmentStatus"] = "UNFULFILLED"  # fulfilment is state, not math
    fields["paymentGatewayNames"] = sorted({t["gateway"] for t in raw if t["status"] == "SUCCESS"})
    fields["lineItems"] = {
        "nodes": [
            {**om.line_item_fields(calc, i, 0), **_echo_line(li)}
            for i, li in enumerate(order["lineItems"])
        ]
    }
    fields["shippingLines"] = {
        "nodes": [
            {**om.shipping_line_fields(calc, i, om.Bag()), **_echo_shipping(s)}
            for i, s in enumerate(order.get("shippingLines") or [])
        ]
    }
    fields["transactions"] = [
        {
            "kind": t["kind"],
            "status": t["status"],
            "gateway": t["gateway"],
            "amountSet": calc.currencies.bag(t["amount"]),
        }
        for t in raw
    ]
    return fields


def _echo_line(li: dict[str, Any]) -> dict[str, Any]:
    return {"title": li["title"], "quantity": li["quantity"], "sku": li.get("sku")}


def _echo_shipping(s: dict[str, Any]) -> dict[str, Any]:
    return {"title": s["title"], "code": s.get("code"), "source": s.get("source")}


def _project(actual: Any, expected: Any, path: str = "") -> list[str]:
    """Compare ``actual`` to ``expected`` on the keys ``expected`` has; ids are not compared."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected an object, got {actual!r}"]
        problems = []
        for key, value in expected.items():
            if key in ("id", "name"):
                continue
            if key not in actual:
                problems.append(f"{path}.{key}: missing")
                continue
            problems.extend(_project(actual[key], value, f"{path}.{key}"))
        return problems
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{path}: expected {expected!r}, got {actual!r}"]
        out = []
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            out.extend(_project(a, e, f"{path}[{i}]"))
        return out
    return [] if actual == expected else [f"{path}: expected {expected!r}, got {actual!r}"]


# -- recorded ground truth -------------------------------------------------------------------------


def test_math_matrix_every_case_reproduced(conformance_dir: Path) -> None:
    data = _load(conformance_dir, "2025-01--order-create-math-matrix.json")
    assert len(data["cases"]) == 5
    checked = 0
    for name, case in data["cases"].items():
        recorded = case["response"]["payload"]["data"]["orderCreate"]["order"]
        actual = _fields(case["variables"]["order"])
        problems = _project(actual, recorded)
        assert problems == [], f"{name}: {problems}"
        checked += len(recorded) - 2  # id and name are the twin's own
    assert checked == 5 * 20


def test_math_matrix_fixed_discount_allocation(conformance_dir: Path) -> None:
    data = _load(conformance_dir, "2025-01--order-create-math-matrix.json")
    order = data["cases"]["fixedDiscount"]["variables"]["order"]
    calc, _ = _compute(order)
    fields = om.line_item_fields(calc, 0, 0)
    assert fields["discountAllocations"][0]["allocatedAmountSet"]["shopMoney"]["amount"] == "5.0"
    assert fields["totalDiscountSet"]["shopMoney"]["amount"] == "5.0"
    assert fields["discountedTotalWithCodesSet"]["shopMoney"]["amount"] == "25.0"
    # code discounts are not in discountedUnitPriceSet (schema: "doesn't include code-based")
    assert fields["discountedUnitPriceSet"]["shopMoney"]["amount"] == "30.0"
    app = om.discount_application_fields(calc.applications[0], calc.currencies)
    assert app["code"] == "MATH5"
    assert app["value"] == {"__typename": "MoneyV2", "amount": "5.0", "currencyCode": "CAD"}


def test_line_item_fields_recording(conformance_dir: Path) -> None:
    data = _load(conformance_dir, "2025-01--order-create-line-item-fields.json")
    order = data["variables"]["order"]
    recorded = data["mutation"]["response"]["data"]["orderCreate"]["order"]
    calc, raw = _compute(order, shop_currency="USD")
    fields = om.order_fields(calc, om.RefundedSoFar(), _txns(raw), initial_status=None)
    for key in ("subtotalPriceSet", "totalDiscountsSet", "currentTotalPriceSet"):
        assert fields[key]["shopMoney"] == recorded[key]["shopMoney"], key
    line = om.line_item_fields(calc, 0, 0)
    rec_line = recorded["lineItems"]["nodes"][0]
    assert (
        line["originalUnitPriceSet"]["shopMoney"] == rec_line["originalUnitPriceSet"]["shopMoney"]
    )
    assert line["discountAllocations"] == rec_line["discountAllocations"] == []


def test_money_bag_presentment_recording(conformance_dir: Path) -> None:
    data = _load(conformance_dir, "2025-01--money-bag-presentment-parity.json")
    order = data["orderCreate"]["variables"]["order"]
    recorded = data["orderCreate"]["response"]["payload"]["data"]["orderCreate"]["order"]
    calc, raw = _compute(order)
    fields = om.order_fields(calc, om.RefundedSoFar(), _txns(raw), initial_status=None)
    assert _project(fields, {k: v for k, v in recorded.items() if k != "lineItems"}) == []
    line = om.line_item_fields(calc, 0, 0)
    assert line["originalUnitPriceSet"] == recorded["lineItems"]["nodes"][0]["originalUnitPriceSet"]

    # orderMarkAsPaid pays the presentment outstanding; the shop side is converted at the rate
    # of the day (any rate in [1.419, 1.41944) explains both recorded conversions).
    market = D("1.4192")
    paid = calc.currencies.from_presentment(D("9.0"), market)
    mark = data["markAsPaid"]["response"]["payload"]["data"]["orderMarkAsPaid"]["order"]
    assert calc.currencies.bag(paid) == mark["transactions"][0]["amountSet"]
    txns = [om.Txn("SALE", "SUCCESS", paid)]
    fields = om.order_fields(calc, om.RefundedSoFar(), txns, initial_status=None)
    assert fields["totalOutstandingSet"] == mark["totalOutstandingSet"]
    assert fields["displayFinancialStatus"] == "PAID"

    refund_money = calc.currencies.from_presentment(D("5.00"), market)
    refund = data["refund"]["response"]["payload"]["data"]["refundCreate"]
    assert calc.currencies.bag(refund_money) == refund["refund"]["totalRefundedSet"]
    txns.append(om.Txn("REFUND", "SUCCESS", refund_money))
    fields = om.order_fields(
        calc, om.RefundedSoFar(adjustments=refund_money), txns, initial_status=None
    )
    assert fields["totalRefundedSet"] == refund["order"]["totalRefundedSet"]
    assert fields["displayFinancialStatus"] == "PARTIALLY_REFUNDED"


def test_state_derived_authorization_recording(conformance_dir: Path) -> None:
    data = _load(conformance_dir, "2025-01--orderCreate-state-derived-payment-and-count.json")
    op = data["operations"]["firstCreate"]
    recorded = op["response"]["payload"]["data"]["orderCreate"]["order"]
    calc, raw = _compute(op["variables"]["order"])
    fields = om.order_fields(calc, om.RefundedSoFar(), _txns(raw), initial_status=None)
    for key in ("totalCapturableSet", "totalOutstandingSet", "totalReceivedSet", "netPaymentSet"):
        assert fields[key]["shopMoney"] == recorded[key]["shopMoney"], key
    assert fields["displayFinancialStatus"] == recorded["displayFinancialStatus"] == "AUTHORIZED"
    assert fields["capturable"] is recorded["capturable"] is True
    assert om.format_money_scalar(D("31.9"), "CAD") == recorded["totalCapturable"]


def test_refund_full_parity_amounts(conformance_dir: Path) -> None:
    data = _load(conformance_dir, "2025-01--refund-create-full-parity.json")
    before = data["upstreamCalls"][0]["response"]["body"]["data"]["order"]
    order = {
        "currency": "CAD",
        "lineItems": [
            {"title": li["title"], "quantity": li["quantity"], "taxable": False,
             "priceSet": {"shopMoney": li["originalUnitPriceSet"]["shopMoney"]}}
            for li in before["lineItems"]["nodes"]
        ],
        "shippingLines": [
            {"title": "Shipping", "priceSet": {"shopMoney": s["originalPriceSet"]["shopMoney"]}}
            for s in before["shippingLines"]["nodes"]
        ],
    }  # fmt: skip
    calc, _ = _compute(order)
    assert calc.currencies.bag(calc.total_price) == before["totalPriceSet"]
    refund = om.refund_amounts(calc, om.RefundedSoFar(), {0: 1}, "full")
    total = om.suggested_refund_total(calc, refund)
    recorded = data["mutation"]["response"]["data"]["refundCreate"]
    assert (
        calc.currencies.bag(total)["shopMoney"]
        == recorded["refund"]["totalRefundedSet"]["shopMoney"]
    )
    after = om.RefundedSoFar(line_qty={0: 1}, shipping=dict(refund.shipping))
    paid = om.Bag(D("15"), D("15"))
    txns = [om.Txn("SALE", "SUCCESS", paid), om.Txn("REFUND", "SUCCESS", total)]
    fields = om.order_fields(calc, after, txns, initial_status=None)
    assert fields["displayFinancialStatus"] == recorded["order"]["displayFinancialStatus"]
    assert (
        fields["totalRefundedSet"]["shopMoney"]
        == recorded["order"]["totalRefundedSet"]["shopMoney"]
    )
    assert fields["currentTotalPriceSet"]["shopMoney"]["amount"] == "0.0"
    assert fields["totalOutstandingSet"]["shopMoney"]["amount"] == "0.0"
    assert fields["totalRefundedShippingSet"]["shopMoney"]["amount"] == "5.0"


# -- money primitives ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [("20.00", "20.0"), ("31.90", "31.9"), ("0.00", "0.0"), ("-0.00", "0.0"), ("12.77", "12.77"),
     ("100", "100.0"), ("-5.50", "-5.5")],
)  # fmt: skip
def test_format_amount_like_shopify(value: str, text: str) -> None:
    assert om.format_amount(D(value)) == text


@pytest.mark.parametrize(
    ("total", "weights", "maximums", "expected"),
    [
        ("0.05", ["0.3", "0.7"], None, ["0.02", "0.03"]),  # Shopify money gem's own example
        ("100", ["1", "1", "1"], None, ["33.34", "33.33", "33.33"]),
        ("30", ["0.667", "0.333"], None, ["20.01", "9.99"]),
        ("10.01", ["1", "1"], None, ["5.01", "5.00"]),
        ("1", ["33", "33", "33"], ["33", "33", "33"], ["0.34", "0.33", "0.33"]),
        ("100", ["5", "2"], ["5", "2"], ["5.00", "2.00"]),  # capped at each line
        ("0", ["1", "2"], None, ["0.00", "0.00"]),
    ],
)
def test_allocate_round_robin_from_first(
    total: str, weights: list[str], maximums: list[str] | None, expected: list[str]
) -> None:
    caps = [D(m) for m in maximums] if maximums else None
    got = om.allocate(D(total), [D(w) for w in weights], "USD", caps)
    assert got == [D(e) for e in expected]


def test_allocate_zero_decimal_currency() -> None:
    assert om.allocate(D("5"), [D("0.3"), D("0.7")], "JPY") == [D("2"), D("3")]
    assert om.round_money(D("10.5"), "JPY") == D("11")


# -- choices the recordings do not cover -----------------------------------------------------------


def _line(title: str, qty: int, price: str, **extra: Any) -> dict[str, Any]:
    return {
        "title": title, "quantity": qty, "taxable": extra.pop("taxable", True),
        "priceSet": {"shopMoney": {"amount": price, "currencyCode": "DKK"}}, **extra,
    }  # fmt: skip


def _amount(bag: dict[str, Any]) -> str:
    amount: str = bag["shopMoney"]["amount"]
    return amount


def test_fixed_discount_spread_over_lines_by_total_remainder_first() -> None:
    order = {
        "lineItems": [_line("A", 1, "10.00"), _line("B", 2, "10.00"), _line("C", 1, "5.00")],
        "discountCode": {
            "itemFixedDiscountCode": {
                "code": "TEN",
                "amountSet": {"shopMoney": {"amount": "10.00", "currencyCode": "DKK"}},
            }
        },
    }
    calc, _ = _compute(order, "DKK")
    allocs = [_amount(om.line_item_fields(calc, i, 0)["totalDiscountSet"]) for i in range(3)]
    # 10 × 10/35 = 2.857 -> 2.85, 10 × 20/35 = 5.714 -> 5.71, 10 × 5/35 = 1.428 -> 1.42 (floored);
    # the two left-over cents go to the first lines, one each
    assert allocs == ["2.86", "5.72", "1.42"]
    fields = om.order_fields(calc, om.RefundedSoFar(), [], initial_status=None)
    assert _amount(fields["totalDiscountsSet"]) == "10.0"
    assert _amount(fields["subtotalPriceSet"]) == "25.0"
    assert fields["displayFinancialStatus"] is None


def test_fixed_discount_larger_than_items_is_capped() -> None:
    order = {
        "lineItems": [_line("A", 1, "3.00")],
        "discountCode": {
            "itemFixedDiscountCode": {
                "code": "BIG",
                "amountSet": {"shopMoney": {"amount": "50.00", "currencyCode": "DKK"}},
            }
        },
    }
    calc, _ = _compute(order, "DKK")
    fields = om.order_fields(calc, om.RefundedSoFar(), [], initial_status=None)
    assert _amount(fields["totalDiscountsSet"]) == "3.0"
    assert _amount(fields["totalPriceSet"]) == "0.0"


def test_percentage_code_rounds_per_line() -> None:
    order = {
        "lineItems": [_line("A", 3, "3.33"), _line("B", 1, "0.05")],
        "discountCode": {"itemPercentageDiscountCode": {"code": "P10", "percentage": 10.0}},
    }
    calc, _ = _compute(order, "DKK")
    # 9.99 × 10% = 0.999 -> 1.00; 0.05 × 10% = 0.005 -> 0.01 (half-up)
    allocs = [_amount(om.line_item_fields(calc, i, 0)["totalDiscountSet"]) for i in range(2)]
    assert allocs == ["1.0", "0.01"]
    app = om.discount_application_fields(calc.applications[0], calc.currencies)
    assert app["value"] == {"__typename": "PricingPercentageValue", "percentage": 10.0}
    assert app["allocationMethod"] == "ACROSS" and app["targetType"] == "LINE_ITEM"


def test_free_shipping_code() -> None:
    order = {
        "lineItems": [_line("A", 1, "100.00")],
        "shippingLines": [
            {"title": "Post", "priceSet": {"shopMoney": {"amount": "39.00", "currencyCode": "DKK"}}}
        ],
        "discountCode": {"freeShippingDiscountCode": {"code": "FREESHIP"}},
    }
    calc, _ = _compute(order, "DKK")
    fields = om.order_fields(calc, om.RefundedSoFar(), [], initial_status=None)
    assert _amount(fields["totalShippingPriceSet"]) == "39.0"  # before discounts
    assert _amount(fields["totalDiscountsSet"]) == "39.0"
    assert _amount(fields["totalPriceSet"]) == "100.0"
    ship = om.shipping_line_fields(calc, 0, om.Bag())
    assert _amount(ship["discountedPriceSet"]) == "0.0"
    assert app_type(calc) == ("SHIPPING_LINE", "EACH")


def app_type(calc: om.OrderCalc) -> tuple[str, str]:
    app = calc.applications[0]
    return app.target_type, app.allocation_method


def test_taxes_included_computed_from_rate() -> None:
    # Danish VAT: 25 % included in 125.00 is 25.00; the total is not raised by the tax.
    order = {
        "taxesIncluded": True,
        "lineItems": [_line("A", 1, "125.00", taxLines=[{"title": "Moms", "rate": "0.25"}])],
        "shippingLines": [
            {"title": "GLS", "priceSet": {"shopMoney": {"amount": "49.00", "currencyCode": "DKK"}},
             "taxLines": [{"title": "Moms", "rate": "0.25"}]}
        ],
    }  # fmt: skip
    calc, _ = _compute(order, "DKK")
    fields = om.order_fields(calc, om.RefundedSoFar(), [], initial_status=None)
    assert _amount(fields["subtotalPriceSet"]) == "125.0"
    assert _amount(fields["totalTaxSet"]) == "34.8"  # 25.00 + 9.80
    assert _amount(fields["totalPriceSet"]) == "174.0"
    assert [(t["title"], t["rate"], _amount(t["priceSet"])) for t in fields["taxLines"]] == [
        ("Moms", 0.25, "34.8")
    ]


def test_taxes_excluded_computed_from_rate_after_discount() -> None:
    order = {
        "lineItems": [_line("A", 2, "50.00", taxLines=[{"title": "VAT", "rate": 0.25}])],
        "discountCode": {"itemPercentageDiscountCode": {"code": "P10", "percentage": 10}},
    }
    calc, _ = _compute(order, "DKK")
    fields = om.order_fields(calc, om.RefundedSoFar(), [], initial_status=None)
    assert _amount(fields["subtotalPriceSet"]) == "90.0"
    assert _amount(fields["totalTaxSet"]) == "22.5"
    assert _amount(fields["totalPriceSet"]) == "112.5"
    line = om.line_item_fields(calc, 0, 0)
    assert line["taxLines"][0]["ratePercentage"] == 25.0


def test_order_level_tax_lines_split_over_taxable_lines() -> None:
    order = {
        "lineItems": [
            _line("A", 1, "10.00"),
            _line("B", 1, "20.00"),
            _line("C", 1, "99.00", taxable=False),
        ],
        "taxLines": [
            {"title": "VAT", "rate": "0.1",
             "priceSet": {"shopMoney": {"amount": "3.01", "currencyCode": "DKK"}}}
        ],
    }  # fmt: skip
    calc, _ = _compute(order, "DKK")
    taxes = [[_amount(t["priceSet"]) for t in om.line_item_fields(calc, i, 0)["taxLines"]]
             for i in range(3)]  # fmt: skip
    assert taxes == [["1.01"], ["2.0"], []]


def test_validation_matrix_codes() -> None:
    order = {
        "processedAt": "2099-01-01T00:00:00Z",
        "customerId": "gid://shopify/Customer/1",
        "customer": {"toUpsert": {"email": "a@example.com"}},
        "lineItems": [
            {"title": "x", "quantity": 1, "taxLines": [{"title": "t", "rate": ""}]},
            {"variantId": "gid://shopify/ProductVariant/1", "quantity": 0},
        ],
        "shippingLines": [{"title": "s", "taxLines": [{"title": "t", "rate": None}]}],
    }
    errors = om.validate_order_input(order, now=NOW)
    assert [(e["field"], e["code"]) for e in errors] == [
        (["order", "processedAt"], "PROCESSED_AT_INVALID"),
        (["order"], "REDUNDANT_CUSTOMER_FIELDS"),
        (["order", "lineItems", 0, "taxLines", 0, "rate"], "TAX_LINE_RATE_MISSING"),
        (["order", "lineItems", 1, "quantity"], "INVALID"),
        (["order", "shippingLines", 0, "taxLines", 0, "rate"], "TAX_LINE_RATE_MISSING"),
    ]
    assert om.validate_order_input({"lineItems": []}, now=NOW) == [
        {
            "field": ["order", "lineItems"],
            "message": "Line items must have at least one line item",
            "code": "INVALID",
        }
    ]


def test_partial_refunds_add_up_and_current_totals_follow() -> None:
    order = {
        "lineItems": [_line("A", 3, "10.00", taxLines=[{"title": "VAT", "rate": "0.25"}])],
        "discountCode": {
            "itemFixedDiscountCode": {
                "code": "ONE",
                "amountSet": {"shopMoney": {"amount": "1.00", "currencyCode": "DKK"}},
            }
        },
        "shippingLines": [
            {"title": "Post", "priceSet": {"shopMoney": {"amount": "5.00", "currencyCode": "DKK"}}}
        ],
    }
    calc, _ = _compute(order, "DKK")
    assert calc.currencies.bag(calc.total_price)["shopMoney"]["amount"] == "41.25"  # 29+7.25+5
    so_far = om.RefundedSoFar()
    first = om.refund_amounts(calc, so_far, {0: 1}, None)
    so_far = om.RefundedSoFar(line_qty={0: 1})
    second = om.refund_amounts(calc, so_far, {0: 2}, "full")
    assert first.items_subtotal + second.items_subtotal == om.Bag(D("29.00"), D("29.00"))
    assert first.items_tax + second.items_tax == om.Bag(D("7.25"), D("7.25"))
    assert first.items_subtotal.shop == D("9.67")
    assert om.suggested_refund_total(calc, first).shop == D("12.09")  # 9.67 + 2.42
    done = om.RefundedSoFar(line_qty={0: 3}, shipping=dict(second.shipping))
    now = om.current_totals(calc, done)
    assert now.total_price.is_zero() and now.subtotal.is_zero() and now.total_tax.is_zero()
    line = om.line_item_fields(calc, 0, 3)
    assert line["currentQuantity"] == 0 and line["quantity"] == 3


def test_financial_status_from_transactions() -> None:
    total = om.Bag(D("100"), D("100"))
    half = om.Bag(D("50"), D("50"))

    def status(*txns: om.Txn, initial: str | None = None) -> str | None:
        return om.financial_summary(
            txns, total_price=total, current_total=total, initial_status=initial
        ).display_status

    assert status() is None
    assert status(initial="PENDING") == "PENDING"
    assert status(om.Txn("SALE", "SUCCESS", total)) == "PAID"
    assert status(om.Txn("SALE", "SUCCESS", half)) == "PARTIALLY_PAID"
    assert status(om.Txn("SALE", "PENDING", total)) == "PENDING"
    assert status(om.Txn("SALE", "FAILURE", total), initial="PENDING") == "PENDING"
    assert status(om.Txn("AUTHORIZATION", "SUCCESS", total)) == "AUTHORIZED"
    assert (
        status(om.Txn("AUTHORIZATION", "SUCCESS", total), om.Txn("VOID", "SUCCESS", total))
        == "VOIDED"
    )
    assert (
        status(om.Txn("SALE", "SUCCESS", total), om.Txn("REFUND", "SUCCESS", half))
        == "PARTIALLY_REFUNDED"
    )
    assert (
        status(om.Txn("SALE", "SUCCESS", total), om.Txn("REFUND", "SUCCESS", total)) == "REFUNDED"
    )


def test_presentment_missing_side_converted_at_order_rate() -> None:
    order = {
        "currency": "DKK",
        "presentmentCurrency": "EUR",
        "lineItems": [
            {"title": "A", "quantity": 1,
             "priceSet": {"shopMoney": {"amount": "74.60", "currencyCode": "DKK"},
                          "presentmentMoney": {"amount": "10.00", "currencyCode": "EUR"}}}
        ],
        "shippingLines": [
            {"title": "Post", "priceSet": {"shopMoney": {"amount": "37.30", "currencyCode": "DKK"}}}
        ],
    }  # fmt: skip
    calc, _ = _compute(order, "DKK")
    fields = om.order_fields(calc, om.RefundedSoFar(), [], initial_status=None)
    assert fields["totalPriceSet"] == {
        "shopMoney": {"amount": "111.9", "currencyCode": "DKK"},
        "presentmentMoney": {"amount": "15.0", "currencyCode": "EUR"},
    }
