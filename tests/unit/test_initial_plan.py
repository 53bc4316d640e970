"""init-sync planning (pure): products created or linked, stock registered only where it may be."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from rackshop.sync.initial_plan import (
    JournalledAdjustment,
    PlanOptions,
    RackbeatStock,
    ShopifyVariant,
    adjustment,
    plan_no_sku,
    plan_sku,
    stock_target,
)

LAGER, BUTIK, OUTLET = ("gid://shopify/Location/1", "gid://shopify/Location/2",
                        "gid://shopify/Location/3")
NAMES = {LAGER: "Lager", BUTIK: "Butik", OUTLET: "Outlet"}
MAP = {LAGER: 1, BUTIK: 2}
OPTS = PlanOptions(location_map=MAP, location_names=NAMES)


def variant(sku: str | None = "SKU-1", n: int = 1, tracked: bool = True,
            **available: int) -> ShopifyVariant:
    gids = {"lager": LAGER, "butik": BUTIK, "outlet": OUTLET}
    return ShopifyVariant(f"gid://shopify/ProductVariant/{n}", "gid://shopify/Product/9", sku,
                          "Tee / Red", tracked, {gids[k]: v for k, v in available.items()})


def rb(number: str = "SKU-1", type_: str = "product", keeps: bool = True,
       **on_hand: int) -> RackbeatStock:
    return RackbeatStock(number, type_, keeps,
                         {int(k[1:]): Decimal(v) for k, v in on_hand.items()})


def levels(available: dict[str, int]) -> ShopifyVariant:
    return variant("SKU-1", 1, True, **available)


def rb_with(on_hand: dict[str, int]) -> RackbeatStock:
    return rb("SKU-1", "product", True, **on_hand)


def stock_rows(plan: object) -> list[tuple[int, str, int, int, str]]:
    return [(s.location, s.action, int(s.before), int(s.after), s.state)
            for s in plan.stock]  # type: ignore[attr-defined]


# -- products ------------------------------------------------------------------------------------


def test_an_unknown_sku_becomes_a_new_product_numbered_as_the_trimmed_sku() -> None:
    plan = plan_sku("sku-1", [variant(" SKU-1 ", lager=5)], None, OPTS)
    assert (plan.product.action, plan.product.number, plan.product.state) == \
        ("create", "SKU-1", "todo")
    assert stock_rows(plan) == [(1, "register", 0, 5, "todo")]


def test_a_known_sku_is_linked_in_rackbeats_spelling_and_left_unchanged() -> None:
    plan = plan_sku("sku-1", [variant("sku-1")], rb("SKU-1"), OPTS)
    assert (plan.product.action, plan.product.number) == ("link", "SKU-1")
    assert "Rackbeat spells it SKU-1" in plan.product.reason
    assert plan.stock == ()


def test_a_duplicate_sku_is_left_out_entirely() -> None:
    plan = plan_sku("sku-1", [variant(n=1, lager=4), variant(n=2, lager=6)], None, OPTS)
    assert plan.product.action == "duplicate"
    assert "2 variants (1, 2)" in plan.product.reason and "--again" in plan.product.reason
    assert plan.stock == () and len(plan.product.holders) == 2


def test_a_variant_without_sku_is_left_out() -> None:
    plan = plan_no_sku(variant(None, lager=3))
    assert plan.product.action == "no_sku" and plan.stock == ()
    with pytest.raises(ValueError):
        plan_sku("", [variant(None)], None, OPTS)


# -- stock ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("shopify", "rackbeat", "overwrite", "expected"), [
    # Rackbeat has none: Shopify's quantity is registered
    ({"lager": 7}, {}, False, [(1, "register", 0, 7, "todo")]),
    # zero on both sides: nothing to say, nothing sent (Rackbeat refuses a zero change)
    ({"lager": 0}, {}, False, []),
    # Rackbeat has some: kept, unless --overwrite-stock
    ({"lager": 5}, {"l1": 3}, False, [(1, "keep", 3, 3, "todo")]),
    ({"lager": 5}, {"l1": 3}, True, [(1, "register", 3, 5, "todo")]),
    # already equal: nothing to send either way
    ({"lager": 3}, {"l1": 3}, False, [(1, "same", 3, 3, "todo")]),
    ({"lager": 3}, {"l1": 3}, True, [(1, "same", 3, 3, "todo")]),
    # --overwrite-stock with Shopify 0 sets Rackbeat to 0
    ({"lager": 0}, {"l1": 4}, True, [(1, "register", 4, 0, "todo")]),
    ({"lager": 0}, {"l1": 4}, False, [(1, "keep", 4, 4, "todo")]),
    # each Rackbeat location on its own
    ({"lager": 2, "butik": 9}, {"l2": 1}, False,
     [(1, "register", 0, 2, "todo"), (2, "keep", 1, 1, "todo")]),
    # negative stock in Rackbeat counts as "has some"
    ({"lager": 2}, {"l1": -1}, False, [(1, "keep", -1, -1, "todo")]),
])
def test_stock_is_registered_only_where_rackbeat_has_none(
        shopify: dict[str, int], rackbeat: dict[str, int], overwrite: bool,
        expected: list[tuple[int, str, int, int, str]]) -> None:
    opts = PlanOptions(location_map=MAP, location_names=NAMES, overwrite_stock=overwrite)
    plan = plan_sku("sku-1", [levels(shopify)], rb_with(rackbeat), opts)
    assert stock_rows(plan) == expected


def test_negative_shopify_quantities_count_as_zero_with_a_note() -> None:
    plan = plan_sku("sku-1", [variant(lager=-3, butik=2)], None, OPTS)
    assert stock_rows(plan) == [(2, "register", 0, 2, "todo")]
    assert plan.notes == ("Shopify has -3 available at Lager; counted as 0",)


def test_two_shopify_locations_into_one_rackbeat_location_add_up_negatives_as_zero() -> None:
    opts = PlanOptions(location_map={LAGER: 1, BUTIK: 1}, location_names=NAMES)
    assert stock_rows(plan_sku("sku-1", [variant(lager=4, butik=5)], None, opts)) == \
        [(1, "register", 0, 9, "todo")]
    plan = plan_sku("sku-1", [variant(lager=4, butik=-5)], None, opts)
    assert stock_rows(plan) == [(1, "register", 0, 4, "todo")]
    assert stock_target(variant(lager=4, butik=-5), (LAGER, BUTIK), NAMES) == \
        (4, ("Shopify has -5 available at Butik; counted as 0",))


def test_stock_at_unmapped_shopify_locations_is_reported_not_imported() -> None:
    plan = plan_sku("sku-1", [variant(lager=1, outlet=6)], None, OPTS)
    assert plan.unmapped == ((OUTLET, 6),)
    assert stock_rows(plan) == [(1, "register", 0, 1, "todo")]


@pytest.mark.parametrize(("item", "tracked", "why"), [
    (rb(type_="lot"), True, "BOM"),
    (rb(keeps=False), True, "no inventory"),
    (rb(), False, "does not track"),
])
def test_no_stock_for_boms_items_without_inventory_and_untracked_variants(
        item: RackbeatStock, tracked: bool, why: str) -> None:
    plan = plan_sku("sku-1", [variant(tracked=tracked, lager=5, butik=0)], item, OPTS)
    assert plan.product.action == "link"
    assert [(s.location, s.action, s.shopify) for s in plan.stock] == [(1, "skip", 5)]
    assert why in plan.stock[0].reason


def test_new_products_in_a_group_without_inventory_get_no_stock() -> None:
    opts = PlanOptions(location_map=MAP, new_items_keep_stock=False)
    plan = plan_sku("sku-1", [variant(lager=5)], None, opts)
    assert plan.product.action == "create"
    assert [s.action for s in plan.stock] == ["skip"]
    assert "default_group" in plan.stock[0].reason


def test_skip_inventory_plans_products_only() -> None:
    opts = PlanOptions(location_map=MAP, skip_inventory=True)
    plan = plan_sku("sku-1", [variant(lager=5)], None, opts)
    assert plan.product.action == "create" and plan.stock == ()


def test_adjustment_never_sends_a_zero_change() -> None:
    assert adjustment("k", "K", 1, 0, Decimal(0), overwrite=True) is None
    same = adjustment("k", "K", 1, 4, Decimal(4), overwrite=True)
    assert same is not None and same.action == "same" and same.change == 0
    reg = adjustment("k", "K", 1, 4, Decimal(1), overwrite=True)
    assert reg is not None and reg.action == "register" and reg.change == 3


# -- resuming an interrupted init-sync -----------------------------------------------------------


def test_a_product_the_interrupted_run_created_still_counts_as_created() -> None:
    for state in ("creating", "created"):
        plan = plan_sku("sku-1", [variant(lager=5)], rb(), OPTS, journal_product=state)
        assert (plan.product.action, plan.product.state) == ("create", "done")
    # journalled, but not in Rackbeat (the create never happened): create it
    plan = plan_sku("sku-1", [variant(lager=5)], None, OPTS, journal_product="creating")
    assert (plan.product.action, plan.product.state) == ("create", "todo")


def test_journalled_adjustments_keep_what_the_interrupted_run_announced() -> None:
    # the interrupted run registered 0 -> 5 at location 1 (booked) and was creating 0 -> 2 at 2;
    # Rackbeat now shows 5 at location 1, which a fresh plan would call "has some: keep".
    journal = {1: JournalledAdjustment("booked", Decimal(0), Decimal(5)),
               2: JournalledAdjustment("creating", Decimal(0), Decimal(2))}
    plan = plan_sku("sku-1", [variant(lager=5, butik=2)], rb(l1=5), OPTS,
                    journal_product="created", journal_stock=journal)
    assert stock_rows(plan) == [(1, "register", 0, 5, "done"), (2, "register", 0, 2, "resume")]


def test_spools_of_dead_processes_are_swept(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from rackshop.sync import initial_spool

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    stale = tmp_path / f"{initial_spool.SPOOL_PREFIX}{dead.stdout.strip()}-abc"
    stale.mkdir()
    mine = tmp_path / f"{initial_spool.SPOOL_PREFIX}{os.getpid()}-xyz"
    mine.mkdir()
    initial_spool._sweep_dead_spools(str(tmp_path))
    assert not stale.exists() and mine.exists()
