"""``rackshop sandbox simulate``: the event stream is a function of the seed, each invariant
catches what it names on a hand-made world, and a short run completes and reports."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from rackshop.sandbox.simulate import invariants as inv
from rackshop.sandbox.simulate.clock import CRON, timetable
from rackshop.sandbox.simulate.events import Catalogue, event_log, generate, log_digest
from rackshop.sandbox.simulate.invariants import JobRun, ShopView, World

CATALOGUE = Catalogue({"dk": ["A-1", "B-2", "C-3"], "se": ["A-1", "D-4"]},
                      ["A-1", "B-2", "C-3", "D-4"], [1, 2, 21], ["KIT-1"])


# -- the event stream --------------------------------------------------------------------------


def test_same_seed_and_days_give_the_same_events_byte_for_byte() -> None:
    first = generate(7, 3, copy.deepcopy(CATALOGUE), faults=0.05)
    second = generate(7, 3, copy.deepcopy(CATALOGUE), faults=0.05)
    assert event_log(first) == event_log(second)
    assert log_digest(first) == log_digest(second)
    assert len(first) > 200
    assert log_digest(generate(8, 3, copy.deepcopy(CATALOGUE), faults=0.05)) != log_digest(first)


def test_the_stream_holds_every_kind_of_event_in_time_order() -> None:
    events = generate(3, 3, copy.deepcopy(CATALOGUE), faults=0.05)
    kinds = {e.kind for e in events}
    for kind in ("shopify.order", "shopify.order.pay", "shopify.order.fulfil",
                 "shopify.order.cancel", "shopify.order.refund", "rackbeat.stock",
                 "rackbeat.price", "rackbeat.product.new", "rackbeat.ship", "rackbeat.number",
                 "ops.faults",
                 "ops.overlap", "ops.kill"):
        assert kind in kinds, kind
    assert [e.at for e in events] == sorted(e.at for e in events)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    deltas = [e.args["delta"] for e in events if e.kind == "rackbeat.stock"]
    assert deltas.count(1) and deltas.count(-1)  # stock moves by one, up and down
    orders = [e for e in events if e.kind == "shopify.order"]
    assert any(o.args["discount"] for o in orders) and any(not o.args["paid"] for o in orders)
    many = [e for e in generate(3, 10, copy.deepcopy(CATALOGUE)) if e.kind == "shopify.order"]
    assert any(len(o.args["lines"]) >= 60 for o in many)  # now and then a big order
    assert any(["KIT-1", 1] in o.args["lines"] for o in orders)  # BOMs are sold too
    assert any([None, 1] in o.args["lines"] for o in orders)  # and lines without SKU


def test_no_operations_without_faults() -> None:
    assert not [e for e in generate(3, 2, copy.deepcopy(CATALOGUE)) if e.kind.startswith("ops.")]


def test_timetable_follows_the_readme_cron() -> None:
    ticks = timetable(0, 3600)
    assert sum(t.job == "sync-orders" for t in ticks) == 12
    assert sum(t.job == "sync-stock" for t in ticks) == 4
    assert [t.at for t in ticks if t.job == "sync-products"] == [CRON["sync-products"][1]]
    assert sum(t.job == "sync-fulfillments" for t in ticks) == 6  # */10, as the README has it


# -- the invariants on a hand-made world -----------------------------------------------------------


def _order(number: int, *, status: str = "PAID", sku: str = "A-1", qty: int = 2,
           total: str = "250.00", **extra: Any) -> dict[str, Any]:
    money = {"shopMoney": {"amount": total, "currencyCode": "DKK"},
             "presentmentMoney": {"amount": total, "currencyCode": "DKK"}}
    return {"id": f"gid://shopify/Order/{number}", "legacyResourceId": str(number),
            "name": f"#{number}", "test": False, "cancelledAt": None,
            "displayFinancialStatus": status, "displayFulfillmentStatus": "UNFULFILLED",
            "currencyCode": "DKK", "presentmentCurrencyCode": "DKK",
            "totalPriceSet": money, "currentTotalPriceSet": money,
            "lineItems": [{"sku": sku, "currentQuantity": qty}], **extra}


def _world() -> World:
    """Two orders transferred and booked, one pending; stock and prices in step."""
    shop_state = {
        "locations": [{"id": "L1", "name": "Lager"}],
        "products": [{"id": "P1", "title": "Alfa", "variantIds": ["V1"]},
                     {"id": "P2", "title": "Beta", "variantIds": ["V2"]}],
        "variants": [{"id": "V1", "sku": "A-1", "price": "125.00", "taxable": True,
                      "productId": "P1", "inventoryItemId": "I1"},
                     {"id": "V2", "sku": "B-2", "price": "62.50", "taxable": True,
                      "productId": "P2", "inventoryItemId": "I2"}],
        "inventoryItems": [
            {"id": "I1", "tracked": True, "levels": {"L1": {"quantities": {"available": 5}}}},
            {"id": "I2", "tracked": True, "levels": {"L1": {"quantities": {"available": 3}}}}],
        "orders": [_order(1001, fulfillments=[{"trackingInfo": [{"number": "T-1"}]}]),
                   _order(1002), _order(1003, status="PENDING", sku="B-2", qty=1,
                                        total="62.50")],
    }
    group = {"vat_domestic": 25}
    rackbeat = {
        "locations": [{"number": 1, "parent_id": None}, {"number": 2, "parent_id": None},
                      {"number": 21, "parent_id": 2}],
        "products": [
            {"number": "A-1", "name": "Alfa", "sales_price": 100.0, "group": group,
             "inventory_enabled": True, "is_barred": False,
             "locations": [{"number": 1, "available_quantity": 5.0},
                           {"number": 21, "available_quantity": 9.0}]},
            {"number": "B-2", "name": "Beta", "sales_price": 50.0, "group": group,
             "inventory_enabled": True, "is_barred": False,
             "locations": [{"number": 1, "available_quantity": 4.0}]}],
        "lots": [],
        "orders": [
            {"number": 5001, "other_reference": "rackshop:dk:1001 #1001", "total_total": 250.0,
             "currency": "DKK", "is_booked": True},
            {"number": 5002, "other_reference": "rackshop:dk:1002 #1002", "total_total": 250.0,
             "currency": "DKK", "is_booked": True}],
        "customers": [{"contact_email": "karen@example.dk"}, {"contact_email": "ole@example.dk"}],
        "order_shipments": [{"id": 71, "order_number": 5001, "is_shipped": True,
                             "tracking_number": "T-1"},
                            {"id": 72, "order_number": 5002, "is_shipped": False,
                             "tracking_number": "T-2"}],
    }
    shop = ShopView("dk", shop_state, master="rackbeat", fields=("name", "sales_price"),
                    prices_include_tax=True, transfer_on="paid", stock_enabled=True,
                    stock_targets={"Lager": (1,)}, buffer=0, fulfillments_enabled=True)
    return World(rackbeat=rackbeat, shops=[shop],
                 runs=[JobRun("sync-orders", 0), JobRun("sync-orders", 1,
                                                        failures=[("dk", "#1003", "no SKU")])])


def test_the_hand_made_world_holds_every_invariant() -> None:
    found = inv.check_all(_world())
    assert {name: v for name, v in found.items() if v} == {}


def _plant(change: Any) -> World:
    world = _world()
    change(world)
    return world


def _rb_orders(w: World) -> list[dict[str, Any]]:
    return w.rackbeat["orders"]  # type: ignore[no-any-return]


PLANTED = {
    "order in Rackbeat twice": (inv.orders_transferred_once, lambda w: _rb_orders(w).append(
        dict(_rb_orders(w)[0], number=5009))),
    "paid order missing": (inv.orders_transferred_once, lambda w: _rb_orders(w).pop()),
    "total a cent off": (inv.totals_to_the_cent, lambda w: _rb_orders(w)[0].update(
        total_total=250.01)),
    "customer twice": (inv.customers_once, lambda w: w.rackbeat["customers"].append(
        {"contact_email": " Karen@Example.dk"})),
    "stock not pushed": (inv.stock_levels, lambda w: w.rackbeat["products"][1]["locations"]
                         [0].update(available_quantity=9.0)),
    "order on its way ignored": (inv.stock_levels, lambda w: _rb_orders(w)[0].update(
        is_booked=False)),
    "Rackbeat number twice": (inv.products_once, lambda w: w.rackbeat["lots"].append(
        {"number": "a-1"})),
    "SKU on two variants": (inv.products_once, lambda w: w.shops[0].state["variants"].append(
        {"id": "V9", "sku": "A-1", "productId": "P2", "inventoryItemId": "I1"})),
    "price not synced": (inv.linked_fields, lambda w: w.rackbeat["products"][0].update(
        sales_price=104.0)),
    "name not synced": (inv.linked_fields, lambda w: w.rackbeat["products"][1].update(
        name="Beta 2")),
    "shipment not fulfilled": (inv.shipments_fulfilled, lambda w: w.shops[0].state["orders"]
                               [0].update(fulfillments=[])),
    "second parcel not fulfilled": (inv.shipments_fulfilled, lambda w: w.rackbeat[
        "order_shipments"][1].update(is_shipped=True)),
    "quiet round wrote": (inv.quiet_round_writes_nothing, lambda w: setattr(
        w, "quiet_writes", {"shopify mutation inventorySetQuantities": 1})),
    "exit 1 naming nothing": (inv.failures_name_records, lambda w: w.runs.append(
        JobRun("sync-stock", 1))),
    "job crashed": (inv.failures_name_records, lambda w: w.runs.append(
        JobRun("sync-stock", 70, crashed="KeyError: 'sku'"))),
}


@pytest.mark.parametrize("name", sorted(PLANTED))
def test_each_invariant_catches_its_planted_violation(name: str) -> None:
    check, plant = PLANTED[name]
    assert check(_world()) == []
    violations = check(_plant(plant))
    assert violations, name
    assert all(v.record and v.detail for v in violations)


def test_pending_order_listed_as_needing_attention_is_not_a_violation() -> None:
    world = _world()
    world.shops[0].transfer_on = "created"  # the pending order is now due
    assert [v.record for v in inv.orders_transferred_once(world)] == ["order dk #1003"]
    world.attention = {("dk", "#1003"): "a line without SKU"}
    assert inv.orders_transferred_once(world) == []


def test_expected_lock_exit_of_an_overlap_is_not_a_violation() -> None:
    world = _world()
    world.runs.append(JobRun("sync-stock", 6, expected=(6,)))
    world.runs.append(JobRun("sync-stock", 9, killed=True))
    assert inv.failures_name_records(world) == []


# -- a short end-to-end run -----------------------------------------------------------------------


def test_a_short_simulation_completes_reports_and_repeats_its_events(tmp_path: Path) -> None:
    from rackshop.sandbox.simulate import SimOptions, run_simulation

    opts = SimOptions(seed=5, days=1, shops=2, faults=0.0, day_seconds=2 * 3600,
                      orders_per_day=600, products=12, kills=False)
    report = run_simulation(opts, tmp_path / "a")
    assert report.completed_days == 1
    assert report.events > 0 and report.passes >= 24 + 6  # 2 h of cron + the quiet rounds
    assert set(report.violations) == {name for name, _ in inv.INVARIANTS}
    assert all(len(days) == 1 for days in report.violations.values())
    assert json.loads(json.dumps(report.as_json()))["seed"] == 5
    log_a = (tmp_path / "a" / "events.jsonl").read_bytes()
    again = run_simulation(SimOptions(seed=5, days=1, shops=2, day_seconds=3600,
                                      orders_per_day=600, products=12, kills=False),
                           tmp_path / "b")
    # the stream is drawn for whole days; a shorter day only runs its first hours
    assert (tmp_path / "b" / "events.jsonl").read_bytes() == log_a
    assert again.event_digest == report.event_digest


# -- the command ---------------------------------------------------------------------------


def _canned(violations: int) -> Any:
    from rackshop.sandbox.simulate.report import FirstViolation, SimReport

    def run(opts: Any, workdir: Path, progress: Any = None) -> SimReport:
        report = SimReport(opts.seed, opts.days, ["dk"], opts.faults, events=3, passes=9,
                           completed_days=opts.days)
        for name, _ in inv.INVARIANTS:
            report.violations[name] = [0] * opts.days
        if violations:
            report.violations["stock levels"][0] = violations
            report.first.append(FirstViolation("stock levels", opts.seed, 1, "sku a-1",
                                               "dk/Lager shows 3, want 2",
                                               ["#4 d1 08:00 rackbeat.stock sku=A-1"]))
        return report

    return run


@pytest.mark.parametrize(("violations", "code"), [(0, 0), (2, 1)])
def test_simulate_command_renders_and_exits_1_on_a_violation(
        monkeypatch: pytest.MonkeyPatch, violations: int, code: int) -> None:
    from typer.testing import CliRunner

    from rackshop import cli
    from rackshop.sandbox import simulate

    monkeypatch.setattr(simulate, "run_simulation", _canned(violations))
    table = CliRunner().invoke(cli.app, ["sandbox", "simulate", "--days", "2", "--seed", "4"])
    assert table.exit_code == code, table.output
    assert "stock levels" in table.output
    if violations:
        assert "rerun with --seed 4 --days 2" in table.output
        assert "rackbeat.stock sku=A-1" in table.output
    js = CliRunner().invoke(cli.app, ["sandbox", "simulate", "--days", "2", "--seed", "4",
                                      "--format", "json"])
    assert js.exit_code == code
    doc = json.loads(js.stdout)
    assert doc["violations"]["stock levels"] == [violations, 0]
    assert doc["ok"] is (violations == 0)


def test_prices_of_a_shop_in_another_currency_are_compared_at_its_rate() -> None:
    world = _world()
    shop = world.shops[0]
    shop.state["currency"] = "SEK"  # type: ignore[index]
    shop.currency_rate = 0.65
    shop.master = "shopify"
    # 100.00 DKK ex VAT is 153.85 SEK ex VAT, 192.31 SEK with 25 % VAT; 50.00 DKK is 96.15 SEK
    shop.state["variants"][0]["price"] = "192.31"  # type: ignore[index]
    shop.state["variants"][1]["price"] = "96.15"  # type: ignore[index]
    assert inv.linked_fields(world) == []
    shop.state["variants"][0]["price"] = "199.00"  # type: ignore[index]
    assert [v.record for v in inv.linked_fields(world)] == ["sku a-1"]
    shop.currency_rate = None  # no rate: Rackbeat's currency table (SEK 65.0 per 100)
    world.rackbeat["lookups"] = {"currencies": [{"code": "SEK", "rate": 65.0}]}  # type: ignore[index]
    assert [v.record for v in inv.linked_fields(world)] == ["sku a-1"]


def test_a_users_config_is_served_by_the_twins_with_its_own_shops(tmp_path: Path) -> None:
    from rackshop.config import load_config, write_config
    from rackshop.sandbox.simulate.userconfig import (
        merge_user_config,
        rename_shops,
        user_shop_names,
    )
    from rackshop.sandbox.world import Sandbox

    example = Path(__file__).resolve().parents[2] / "examples" / "config.toml"
    names = user_shop_names(example)
    with Sandbox(seed=1, shops=len(names), products=8, orders=0) as sandbox:
        rename_shops(sandbox, names, example)
        assert sorted(sandbox.shopify_app.shops) == sorted(names)
        data = merge_user_config(example, sandbox.config_dict(tmp_path / "s",
                                                              tmp_path / "st.db"))
        write_config(data, tmp_path / "r.toml")
        config = load_config(tmp_path / "r.toml")
        user = load_config(example, env={"RACKBEAT_TOKEN": "x" * 20}, resolve_secrets=False)
        for mine, theirs in zip(config.shops, [s for s in user.shops if s.enabled],
                                strict=True):
            assert mine.name == theirs.name and mine.stock == theirs.stock
            assert mine.products == theirs.products
            assert mine.base_url and mine.base_url.startswith("http://127.0.0.1")
            shop = sandbox.shopify_app.shop(mine.name)
            assert {t.shopify_location for t in mine.stock.targets} <= {
                loc["name"] for loc in shop.locations.values()}


def test_an_order_whose_every_unit_was_refunded_is_not_due() -> None:
    world = _world()
    _rb_orders(world).pop()  # #1002 is no longer in Rackbeat
    assert [v.record for v in inv.orders_transferred_once(world)] == ["order dk #1002"]
    order = world.shops[0].state["orders"][1]  # type: ignore[index]
    order["displayFinancialStatus"] = "PARTIALLY_REFUNDED"  # the shipping was kept
    order["lineItems"][0]["currentQuantity"] = 0
    assert inv.orders_transferred_once(world) == []


def test_a_bom_on_its_way_counts_as_its_components() -> None:
    world = _world()
    world.rackbeat["lots"] = [  # type: ignore[index]
        {"number": "KIT-1", "lines": [{"child_id": "A-1", "quantity": 2}]}]
    world.shops[0].state["orders"].append(  # type: ignore[attr-defined]
        _order(1004, status="PENDING", sku="KIT-1", qty=1, total="300.00"))
    assert inv.on_their_way(world)["a-1"] == 2
    assert [v.record for v in inv.stock_levels(world)] == ["sku a-1"]
    world.shops[0].state["inventoryItems"][0]["levels"]["L1"]["quantities"][  # type: ignore[index]
        "available"] = 3
    assert inv.stock_levels(world) == []


def test_order_events_happen_in_the_shopify_twin(tmp_path: Path) -> None:
    from rackshop.sandbox.simulate.apply import Applier
    from rackshop.sandbox.simulate.events import Event
    from rackshop.sandbox.world import Sandbox

    with Sandbox(seed=1, shops=1, products=12, orders=0) as sandbox:
        applier = Applier(sandbox)
        sku = "MUG 350 ML"
        applier.apply(Event(1, 60, "shopify.order", {
            "shop": "dk", "ref": "dk-1", "lines": [[sku, 2], [None, 1], ["KIT-1", 1]],
            "discount": {"pct": 10}, "shipping": "49.00", "paid": False, "test": False,
            "split_tax": True, "presentment": "EUR", "email": "karen@example.dk"}))
        applier.apply(Event(2, 120, "shopify.order.pay", {"ref": "dk-1"}))
        applier.apply(Event(3, 180, "shopify.order.edit", {"ref": "dk-1", "delta": 1}))
        applier.apply(Event(4, 240, "shopify.order.refund", {"ref": "dk-1"}))
        assert applier.skipped == {}
        shop, gid = applier.orders["dk-1"]
        order = sandbox.shopify_app.shop(shop).orders[gid]
        assert order["displayFinancialStatus"] == "PARTIALLY_REFUNDED"
        assert order["presentmentCurrencyCode"] == "EUR"
        mug = next(li for li in order["lineItems"] if li["sku"] == sku)
        assert mug["currentQuantity"] == 2  # 2, edited to 3, one refunded
        assert [li["sku"] for li in order["lineItems"]].count("KIT-1") == 1  # a custom BOM line
        assert applier.touched[f"order dk {order['name']}"] == [1, 2, 3, 4]


def test_a_shipped_order_in_two_parcels_becomes_two_fulfilments(tmp_path: Path) -> None:
    """``rackbeat.ship`` ships a transferred order from the Rackbeat twin (two parcels, each
    with its tracking number); the simulation's sync-fulfillments pass makes them fulfilments,
    and the invariant sees them; a ship event for an order not yet in Rackbeat is skipped."""
    from rackshop.config import load_config, write_config
    from rackshop.runtime import Runtime
    from rackshop.sandbox.simulate.apply import Applier
    from rackshop.sandbox.simulate.events import Event
    from rackshop.sandbox.simulate.runner import world_of
    from rackshop.sandbox.world import Sandbox
    from rackshop.sync.fulfillments import sync_fulfillments
    from rackshop.sync.orders import sync_orders

    with Sandbox(seed=1, shops=1, products=12, orders=0) as sandbox:
        path = tmp_path / "rackshop.toml"
        write_config(sandbox.config_dict(tmp_path / "secrets", tmp_path / "state.db"), path)
        config = load_config(path)
        applier = Applier(sandbox)
        order = {"shop": "dk", "lines": [["MUG 350 ML", 2], ["KIT-1", 1]], "discount": None,
                 "shipping": "49.00", "paid": True, "test": False, "split_tax": False,
                 "presentment": None, "email": "karen@example.dk"}
        applier.apply(Event(1, 60, "shopify.order", {**order, "ref": "dk-1"}))
        runtime = Runtime(config)
        try:
            assert sync_orders(runtime, config.shops).exit_code == 0
            applier.apply(Event(3, 120, "rackbeat.ship",
                                {"ref": "dk-1", "parcels": 2, "tracking": "00370001"}))
            assert applier.skipped == {}
            applier.apply(Event(4, 130, "shopify.order", {**order, "ref": "dk-3"}))
            applier.apply(Event(5, 140, "rackbeat.ship",
                                {"ref": "dk-3", "parcels": 1, "tracking": "00370003"}))
            assert "not in Rackbeat" in applier.skipped[5]
            shipments = sandbox.rackbeat_app.snapshot()["order_shipments"]
            assert sorted(s["tracking_number"] for s in shipments) == ["003700011", "003700012"]
            assert all(s["is_shipped"] for s in shipments)
            world = world_of(sandbox, config, runtime, [], {}, {})
            assert len(inv.shipments_fulfilled(world)) == 2  # before the pass
            assert sync_fulfillments(runtime, config.shops).exit_code == 0
            world = world_of(sandbox, config, runtime, [], {}, {})
            assert inv.shipments_fulfilled(world) == []
            shop, gid = applier.orders["dk-1"]
            fulfilled = sandbox.shopify_app.shop(shop).orders[gid]["fulfillments"]
            assert sorted(t["number"] for f in fulfilled for t in f["trackingInfo"]) == [
                "003700011", "003700012"]
        finally:
            runtime.close()
