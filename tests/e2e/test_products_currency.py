"""Prices are converted between a shop's currency and Rackbeat's base currency (issue 19, case
5): with Rackbeat's own rates (GET /currencies: DKK per 100 units) or a configured rate, rounded
as configured; without a rate, no price is written for the shop and the summary says why."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from rackshop.errors import ExitCode
from rackshop.sync.products import sync_products
from rackshop.sync.products_pass import ProductsReport
from rackshop.sync.runner import JobResult
from tests.e2e.conftest import World
from tests.e2e.test_sync_products import RB_MASTER, SF_MASTER, Env, counts


def currency(env: Env, shop: str, code: str) -> None:
    env.shopify.shop(shop).currency = code


def test_sek_shopify_master_feeds_rackbeat_and_a_dkk_shop_converted(tmp_path: Path) -> None:
    env = Env(tmp_path, {"dk": {"products": {**RB_MASTER, "include_boms": False}},
                         "se": {"products": SF_MASTER}})
    try:
        currency(env, "se", "SEK")
        env.product("se", "Krus", [{"sku": "MUG-1", "price": "100.00"}])
        result = env.run()
        assert result.exit_code == ExitCode.OK
        # 100.00 SEK incl. 25 % = 80.00 SEK ex VAT = 52.00 DKK at 65 DKK per 100 SEK.
        item = env.item("MUG-1")
        assert item is not None and item["sales_price"] == 52.0
        assert env.catalogue("dk")["MUG-1"][1]["price"] == "65.00"  # 52 DKK + 25 %
        prices = next(s for s in result.shops if s.shop == "se").details["prices"]
        assert "SEK" in prices and "0.65" in prices
        # Converged: the next pass writes nothing anywhere.
        mark = env.mark()
        env.run()
        assert env.shopify_writes(mark) == {} and env.rackbeat_writes(mark) == {}
    finally:
        env.close()


def test_rackbeat_master_prices_in_the_shop_currency_with_rounding(tmp_path: Path) -> None:
    env = Env(tmp_path, {"dk": {"products": {"master": "off"}},
                         "se": {"products": {**RB_MASTER, "price_rounding": "95"}},
                         "no": {"products": {**RB_MASTER, "currency_rate": 0.5}}})
    try:
        currency(env, "se", "SEK")
        currency(env, "no", "NOK")
        env.rackbeat.add_product("MUG-1", "Krus", 52.00, 1000)
        env.rackbeat.add_product("TEE-1", "T-shirt", 40.00, 1000)
        env.run()
        # 52 DKK + 25 % = 65 DKK = 100.00 SEK, to .95: 99.95; 40 + 25 % = 50 DKK = 76.92 SEK:
        # 76.95.
        se = env.catalogue("se")
        assert (se["MUG-1"][1]["price"], se["TEE-1"][1]["price"]) == ("99.95", "76.95")
        # A configured rate wins over Rackbeat's (64 per 100 NOK): 65 DKK / 0.5 = 130.00 NOK.
        assert env.catalogue("no")["MUG-1"][1]["price"] == "130.00"
        mark = env.mark()
        env.run()
        assert env.shopify_writes(mark) == {}
    finally:
        env.close()


def test_without_a_rate_no_price_is_written(tmp_path: Path) -> None:
    env = Env(tmp_path, {"dk": {"products": RB_MASTER}})
    try:
        currency(env, "dk", "BRL")  # not in Rackbeat's currency table
        env.rackbeat.add_product("MUG-1", "Krus", 52.00, 1000)
        env.rackbeat.add_product("NEW-1", "Ny", 10.00, 1000)
        env.product("dk", "Krus", [{"sku": "MUG-1", "price": "10.00"}])
        report = ProductsReport()
        mark = env.mark()
        result = env.run(report=report)
        c = counts(result, "dk")
        assert c["prices_not_written"] == 1 and c.get("created", 0) == 0
        assert env.catalogue("dk")["MUG-1"][1]["price"] == "10.00"  # untouched
        assert "NEW-1" not in env.catalogue("dk")  # not created without a price
        why = result.shops[0].details["prices"]
        assert "BRL" in why and "currency_rate" in why
        assert "mutation productSet" not in env.shopify_writes(mark)
    finally:
        env.close()


def _run(world: World) -> JobResult:
    runtime = world.fresh_runtime()
    return sync_products(runtime, runtime.config.select(()))


def test_the_demo_two_currency_configuration_converts(world: World) -> None:
    shops = {s.name: s for s in world.config.shops}
    assert (shops["dk"].products.master, shops["se"].products.master) == ("rackbeat", "shopify")
    assert world.sandbox.shopify_app.shop("se").currency == "SEK"
    first = _run(world)
    assert first.exit_code in (ExitCode.OK, ExitCode.PARTIAL), first
    se_prices = next(s for s in first.shops if s.shop == "se").details["prices"]
    assert "SEK" in se_prices
    # Every SKU the SEK shop masters has the converted price in Rackbeat.
    checked = 0
    app = world.sandbox.shopify_app
    for v in app.shop("se").variants.values():
        sku = (v.get("sku") or "").strip()
        with world.sandbox.rackbeat_app.lock:
            item = world.sandbox.rackbeat_app.account.find_item(sku) if sku else None
            data = world.sandbox.rackbeat_app.account.item_json(item) if item else None
        if data is None or data["type"] != "product" or not v.get("taxable", True):
            continue
        group_vat = Decimal(str(data["group"]["vat_domestic"]))
        price = Decimal(str(v["price"])) * Decimal("0.65")
        if shops["se"].prices_include_tax:
            price = price / (1 + group_vat / 100)
        assert abs(Decimal(str(data["sales_price"])) - price) <= Decimal("0.01"), sku
        checked += 1
    assert checked > 0
    # And the next pass has nothing left to do.
    marks = world.marks()
    _run(world)
    assert world.writes_since(marks) == (0, 0)


def test_check_says_how_prices_are_converted_or_why_not(tmp_path: Path) -> None:
    from rackshop.check import run_check
    from rackshop.config import load_config
    from rackshop.runtime import Runtime

    env = Env(tmp_path, {"dk": {"products": RB_MASTER}, "se": {"products": SF_MASTER},
                         "no": {"products": RB_MASTER}})
    try:
        currency(env, "se", "SEK")
        currency(env, "no", "BRL")
        config = load_config(env.config_path)
        runtime = Runtime(config)
        try:
            report = run_check(runtime, config.shops, offline=False)
        finally:
            runtime.close()
        rows = {r.target: r for r in report.rows if r.what == "prices"}
        assert rows["shop dk"].status == "ok" and "DKK" in rows["shop dk"].detail
        assert rows["shop se"].status == "ok" and "0.65 DKK per SEK" in rows["shop se"].detail
        assert rows["shop no"].status == "warn"
        assert "BRL" in rows["shop no"].detail and "not written" in rows["shop no"].detail
    finally:
        env.close()
