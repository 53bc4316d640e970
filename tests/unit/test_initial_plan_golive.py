"""init-sync registers only stock that exists nowhere in Rackbeat for the shop (pure rules).

Issue 23, case 1: units in a child location, units another location feeds the same Shopify
location, a figure sync-stock pushed, and a second shop's go-live.
"""

from __future__ import annotations

from typing import Any

import pytest

from rackshop.sync.initial_plan import PlanOptions, plan_sku
from tests.unit.test_initial_plan import MAP, NAMES, rb, stock_rows, variant

#: Butik (Rackbeat 2) is fed by 2 and its child 21; every shop's sync-stock reads 1, 2 and 21.
FEEDING = {1: frozenset({1, 2, 21}), 2: frozenset({2, 21, 1})}


def opts(**kw: Any) -> PlanOptions:
    return PlanOptions(location_map=MAP, location_names=NAMES, feeding=FEEDING, **kw)


@pytest.mark.parametrize(("shopify", "on_hand", "options", "pushed", "want"), [
    # Rackbeat holds none anywhere: Shopify's quantity is registered
    ({"lager": 4}, {}, {}, False, [(1, "register", 0, 4)]),
    # 5 in the back room (21) under Butik (2): Butik's 5 in Shopify are Rackbeat's
    ({"butik": 5}, {"l21": 5}, {}, False, [(2, "keep", 0, 0)]),
    # 12 at location 2 shown in Lager (a shop fed by every location): not imported at 1
    # (location 2's own 12 are listed too: Shopify's Butik shows 0)
    ({"lager": 12}, {"l2": 12}, {}, False, [(1, "keep", 0, 0), (2, "keep", 12, 12)]),
    # sync-stock pushed it to this shop: its figure is Rackbeat's even when Rackbeat has 0 now
    ({"lager": 3}, {}, {}, True, [(1, "keep", 0, 0)]),
    # the same quantity already: nothing to do, said so
    ({"lager": 3}, {"l1": 3}, {}, False, [(1, "same", 3, 3)]),
    # --overwrite-stock sets the mapped location whatever the tree holds
    ({"butik": 5}, {"l21": 5}, {"overwrite_stock": True}, False, [(2, "register", 0, 5)]),
    # a second shop's go-live: no stock unless named with --stock-for
    ({"lager": 4}, {}, {"live_shop": "dk"}, False, [(1, "keep", 0, 0)]),
    ({"lager": 4}, {}, {"live_shop": "dk", "stock_for": frozenset({"sku-1"})}, False,
     [(1, "register", 0, 4)]),
    # ... and --stock-for does not import what Rackbeat has
    ({"lager": 4}, {"l2": 4}, {"live_shop": "dk", "stock_for": frozenset({"sku-1"})}, False,
     [(1, "keep", 0, 0), (2, "keep", 4, 4)]),
])
def test_stock_rules(shopify: dict[str, int], on_hand: dict[str, int], options: dict[str, Any],
                     pushed: bool, want: list[tuple[int, str, int, int]]) -> None:
    plan = plan_sku("sku-1", [variant("SKU-1", **shopify)], rb(**on_hand), opts(**options),
                    pushed=pushed)
    assert [r[:4] for r in stock_rows(plan)] == want


def test_the_reasons_say_what_rackbeat_has_and_how_to_import() -> None:
    child = plan_sku("sku-1", [variant("SKU-1", butik=5)], rb(l21=5), opts())
    assert child.stock[0].reason.startswith("Rackbeat already has 5; not imported (at Rackbeat "
                                            "location 21")
    second = plan_sku("sku-1", [variant("SKU-1", lager=4)], rb(), opts(live_shop="dk"))
    assert "shop dk is live already" in second.stock[0].reason
    assert "--stock-for SKU-1" in second.stock[0].reason
    pushed = plan_sku("sku-1", [variant("SKU-1", lager=3)], rb(), opts(), pushed=True)
    assert "sync-stock pushed this item" in pushed.stock[0].reason
