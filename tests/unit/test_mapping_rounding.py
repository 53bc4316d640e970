"""Every tax-included gross amount reaches Rackbeat to the cent (issue 21, point 2).

Rackbeat rounds each line's net to cents and the VAT on that rounded net, so with 25 % VAT a
single line never totals 5k+2 cents (141.12, 141.17). A rounding line on the configured item
closes such a gap; a real difference (a tip, duties, an adjustment) still fails, named.
"""

from __future__ import annotations

import dataclasses
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from rackshop.sync.mapping import MappingFailure, plan_order, rackbeat_totals
from tests.unit.test_mapping_orders import RULES, bag, line, order

ROUNDING = dataclasses.replace(RULES, rounding_item="AFRUND")
CENTS = [f"141.{c}" for c in range(10, 20)]


def _incl_tax(gross: str, rate: Decimal = Decimal("0.25")) -> str:
    amount = Decimal(gross)
    return str((amount - amount / (1 + rate)).quantize(Decimal("0.01"), ROUND_HALF_UP))


@pytest.mark.parametrize("gross", CENTS)
def test_one_line_at_every_cent_lands_on_shopifys_total(gross: str) -> None:
    plan = plan_order("dk", order(gross), [line("A", 1, gross, _incl_tax(gross))], ROUNDING)
    assert plan.total == Decimal(gross)
    assert rackbeat_totals(plan.lines)[2] == Decimal(gross)
    rounding = [ln for ln in plan.lines if ln.kind == "rounding"]
    assert len(rounding) <= 1
    for ln in rounding:
        assert ln.item == "AFRUND" and ln.vat_percentage == 0 and ln.quantity == 1
        assert abs(ln.line_price) <= Decimal("0.01")
        assert any("rounding line" in n for n in plan.notes)


@pytest.mark.parametrize("gross", ["141.12", "141.17"])
def test_unreachable_cents_need_the_rounding_item(gross: str) -> None:
    plan = plan_order("dk", order(gross), [line("A", 1, gross, _incl_tax(gross))], ROUNDING)
    assert [ln.kind for ln in plan.lines] == ["item", "rounding"]
    with pytest.raises(MappingFailure, match="rounding_item") as info:
        plan_order("dk", order(gross), [line("A", 1, gross, _incl_tax(gross))], RULES)
    assert "tip" not in str(info.value)


def test_fifteen_percent_code_on_897_50() -> None:
    # Shopify: 897.50 - 15 % (134.63) = 762.87, tax included 152.57
    lines = [line("A", 1, "897.50", "152.57", discount="134.63")]
    plan = plan_order("dk", order("762.87"), lines, ROUNDING)
    assert plan.total == rackbeat_totals(plan.lines)[2] == Decimal("762.87")
    with pytest.raises(MappingFailure, match="rounding_item"):
        plan_order("dk", order("762.87"), lines, RULES)


def test_rounding_line_is_bounded_per_line() -> None:
    rules = dataclasses.replace(ROUNDING, rounding_per_line=Decimal(0))
    with pytest.raises(MappingFailure, match="rounding_per_line"):
        plan_order("dk", order("141.12"), [line("A", 1, "141.12", "28.22")], rules)


def _with(amounts: dict[str, str]) -> dict[str, Any]:
    return order("129.95", **{key: bag(value) for key, value in amounts.items()})


@pytest.mark.parametrize(("extra", "named"), [
    ({"totalTipReceivedSet": "30.00"}, "a tip of 30.00"),
    ({"currentTotalDutiesSet": "30.00", "totalTipReceivedSet": "0.00"}, "duties of 30.00"),
    ({"currentTotalAdditionalFeesSet": "30.00"}, "additional fees of 30.00"),
    ({"totalTipReceivedSet": "0.00", "currentTotalDutiesSet": "0.00"},
     "Shopify shows no tip, duties or fees"),
])
def test_a_real_difference_fails_naming_what_shopify_has(extra: dict[str, str],
                                                         named: str) -> None:
    with pytest.raises(MappingFailure) as info:
        plan_order("dk", _with(extra), [line("A", 1, "99.95", "19.99")], ROUNDING)
    text = str(info.value)
    assert named in text and "+30.00" in text and "129.95" in text
    if "tip" not in named:
        assert "a tip of" not in text
