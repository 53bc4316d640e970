"""The pure planning of changes after transfer: line edits, credit notes, what changed."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from rackshop.sync.after_transfer_plan import (
    CreditRules,
    Hold,
    Refund,
    RefundLine,
    baseline,
    changes,
    effective_total,
    only_money,
    plan_credits,
    plan_line_edits,
    read_refunds,
)
from rackshop.sync.mapping import RbLine

D = Decimal
RULES = CreditRules(shipping_item="FRAGT", rounding_item=None, rounding_per_line=D("0.01"),
                    refund_item=None, return_location=None, location_map={})


def _line(item: str, qty: int, price: str, vat: str = "25", ident: int = 0) -> dict[str, Any]:
    return {"id": ident, "item_id": item, "quantity": qty, "line_price": float(price),
            "discount_percentage": 0, "vat_percentage": float(vat), "location_id": 1}


def _rb(item: str, qty: int, price: str, vat: str = "25") -> RbLine:
    return RbLine(item, item, D(qty), D(price), D(0), D(vat))


def test_line_edits_keep_equal_lines_change_add_and_delete_the_rest() -> None:
    existing = [_line("A", 2, "100", ident=1), _line("B", 1, "50", ident=2),
                _line("C", 1, "10", ident=3)]
    edits = plan_line_edits(existing, [_rb("A", 2, "100"), _rb("B", 3, "50")])
    assert [i for i, _ in edits.update] == [2] and edits.update[0][1]["quantity"] == 3
    assert edits.add == () and edits.delete == (3,)
    assert not plan_line_edits(existing[:1], [_rb("A", 2, "100")])  # nothing to do
    grown = plan_line_edits(existing[:1], [_rb("A", 2, "100"), _rb("D", 1, "5")])
    assert [b["item_id"] for b in grown.add] == ["D"] and not grown.update


INVOICE = {"number": 1001, "total_total": 312.5, "other_reference": "rackshop:dk:1 #1001",
           "lines": [_line("A", 2, "100"), _line("FRAGT", 1, "50")]}


def _refund(legacy: str, *lines: RefundLine, shipping: str = "0", tax: str = "0",
            money: str = "0") -> Refund:
    return Refund(f"gid://shopify/Refund/{legacy}", legacy, lines, D(shipping), D(tax), D(money))


def test_credit_notes_split_restocked_lines_and_skip_those_booked() -> None:
    refund = _refund("7", RefundLine("A", 1, True, None), shipping="50", tax="12.50")
    plans = plan_credits("rackshop:dk:1 #1001", INVOICE, [refund], {}, D("125.00"), RULES)
    assert [(p.key, p.stock_returned, p.total) for p in plans] == [
        ("7", False, D("62.50")), ("7/return", True, D("125.00"))]
    assert plans[1].locations == (1,) and plans[0].reference.endswith("refund 7")
    booked = {plans[0].reference: D("62.50"), plans[1].reference: D("125.00")}
    assert plan_credits("rackshop:dk:1 #1001", INVOICE, [refund], booked, D("125.00"),
                        RULES) == []


def test_a_gap_beyond_rounding_holds_and_rounding_goes_on_the_rounding_item() -> None:
    refund = _refund("8", RefundLine("A", 1, False, None))
    with pytest.raises(Hold, match=r"\+0\.01 apart"):
        plan_credits("r", INVOICE, [refund], {}, D("187.49"), RULES)
    rounding = CreditRules(**{**RULES.__dict__, "rounding_item": "AFRUND"})
    plans = plan_credits("r", INVOICE, [refund], {}, D("187.49"), rounding)
    assert plans[0].lines[-1].item == "AFRUND" and plans[0].total == D("125.01")
    with pytest.raises(Hold, match="without a refund"):
        plan_credits("r", INVOICE, [], {}, D("100.00"), RULES)


def test_amount_only_refunds_and_unknown_lines_are_held_with_a_reason() -> None:
    with pytest.raises(Hold, match=r"orders\.refund_item"):
        plan_credits("r", INVOICE, [_refund("9", money="25.00")], {}, D("287.50"), RULES)
    with_item = CreditRules(**{**RULES.__dict__, "refund_item": "REFUSION"})
    plans = plan_credits("r", INVOICE, [_refund("9", money="25.00")], {}, D("287.50"),
                         with_item)
    assert plans[0].lines[0].item == "REFUSION" and plans[0].total == D("25.00")
    with pytest.raises(Hold, match="not on Rackbeat invoice"):
        plan_credits("r", INVOICE, [_refund("10", RefundLine("Q", 1, False, None))], {},
                     D("0"), RULES)


def test_refunds_are_read_oldest_first_with_shipping_tax_out_of_tax_inclusive_amounts() -> None:
    def bag(amount: str) -> dict[str, Any]:
        return {"shopMoney": {"amount": amount}}

    nodes = [{"id": "gid://shopify/Refund/2", "legacyResourceId": "2", "createdAt": "2026-01-02",
              "totalRefundedSet": bag("49.00"), "refundLineItems": {"nodes": []},
              "refundShippingLines": {"nodes": [{"subtotalAmountSet": bag("49.00"),
                                                 "taxAmountSet": bag("9.80")}]}},
             {"id": "gid://shopify/Refund/1", "legacyResourceId": "1", "createdAt": "2026-01-01",
              "totalRefundedSet": bag("100.00"), "refundShippingLines": {"nodes": []},
              "refundLineItems": {"nodes": [{"quantity": 1, "restockType": "RETURN",
                                             "restocked": True, "lineItem": {"sku": "A"},
                                             "location": {"id": "L1"}}]}}]
    first, second = read_refunds(nodes, "shop", taxes_included=True)
    assert first.legacy == "1" and first.lines == (RefundLine("A", 1, True, "L1"),)
    assert second.shipping == D("39.20") and second.shipping_tax == D("9.80")
    assert not second.amount_only


def test_changes_compare_with_the_baseline() -> None:
    order = {"currentTotalPriceSet": {"shopMoney": {"amount": "100.00"}},
             "totalRefundedSet": {"shopMoney": {"amount": "0.00"}}, "cancelledAt": None}
    base = baseline(order, {"A": 2}, "shop")
    assert changes(order, base, {"A": 2}, "shop") == []
    refunded = {**order, "currentTotalPriceSet": {"shopMoney": {"amount": "50.00"}},
                "totalRefundedSet": {"shopMoney": {"amount": "50.00"}},
                "cancelledAt": "2026-01-01T00:00:00Z"}
    found = changes(refunded, base, {"A": 1}, "shop")
    assert found[0] == "cancelled" and any("A 2->1" in c for c in found)
    assert changes(order, {"total": "100.00"}, {"A": 2}, "shop") == []  # an older record


def test_restocked_goods_return_to_the_mapped_location_else_the_return_location() -> None:
    refund = _refund("11", RefundLine("A", 1, True, "gid://shopify/Location/5", "Lager"))
    mapped = CreditRules(**{**RULES.__dict__, "location_map": {"Lager": 7},
                            "return_location": 3})
    assert plan_credits("r", INVOICE, [refund], {}, D("187.50"), mapped)[0].locations == (7,)
    fallback = CreditRules(**{**RULES.__dict__, "return_location": 3})
    assert plan_credits("r", INVOICE, [refund], {}, D("187.50"), fallback)[0].locations == (3,)


def test_an_amount_only_refund_is_credited_whichever_way_shopify_counts_its_current_total() -> None:
    """Shopify may or may not lower currentTotalPriceSet by money back on no line; the credit
    note is the refund's either way, and a gap of anything else still holds."""
    with_item = CreditRules(**{**RULES.__dict__, "refund_item": "REFUSION"})
    refund = _refund("9", money="25.00")
    for current in ("312.50", "287.50"):  # kept out of the current total / taken off it
        order = {"currentTotalPriceSet": {"shopMoney": {"amount": current}}}
        targets = effective_total(order, [refund], "shop", only_money_changed=True)
        plans = plan_credits("r", INVOICE, [refund], {}, targets, with_item)
        assert [(p.lines[0].item, p.total) for p in plans] == [("REFUSION", D("25.00"))]
    order = {"currentTotalPriceSet": {"shopMoney": {"amount": "280.00"}}}
    with pytest.raises(Hold, match="apart"):
        plan_credits("r", INVOICE, [refund], {}, effective_total(
            order, [refund], "shop", only_money_changed=True), with_item)
    assert effective_total(order, [], "shop", only_money_changed=True) == (D("280.00"),)


def test_a_line_edited_away_worth_the_amount_only_refund_is_not_taken_for_it() -> None:
    """Shopify keeps the 25.00 refund out of its total, and an edit removed a 25.00 line
    without paying anything back: the current total is what the 'Shopify lowered it' reading
    expects, so that reading is allowed only when no line changed (review of 046aafa)."""
    with_item = CreditRules(**{**RULES.__dict__, "refund_item": "REFUSION"})
    refund = _refund("9", money="25.00")
    order = {"currentTotalPriceSet": {"shopMoney": {"amount": "287.50"}}}
    changed = changes(order, {"total": "312.50", "refunded": "0.00", "lines": {"A": 2, "B": 1}},
                      {"A": 2}, "shop")
    assert not only_money(changed)
    with pytest.raises(Hold, match="apart"):
        plan_credits("r", INVOICE, [refund], {}, effective_total(
            order, [refund], "shop", only_money_changed=only_money(changed)), with_item)
    assert only_money(["total now 287.50 (was 312.50)", "refunded 25.00 (was 0.00)"])
