"""``rackshop check --contract`` (issue 16) against the twins and each documented variant.

Each Rackbeat twin variant (``rackshop/sandbox/rackbeat/variants.py``) switches one choice the
twin makes where the public record is unsure; each test proves the probe detects it, records
what the jobs need, and (where a fallback exists) that the job's reads stay correct under it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests
from typer.testing import CliRunner

from rackshop import cli
from rackshop.contract.recorded import Contract, StockAdapter, customer_lookup_params, load, record
from rackshop.contract.report import (
    CANNOT_TELL,
    MINUS_BOOKED_LINES,
    MINUS_IN_ORDER,
    OK,
    REPORTED,
    ContractReport,
    Probe,
)
from rackshop.contract.run import run_contract
from rackshop.contract.write_probes import PROBE_REFERENCE, cleanup_write_probes, run_write_probes
from rackshop.errors import ExitCode, ValidationError
from rackshop.runtime import Runtime
from rackshop.sandbox.rackbeat.variants import VARIANTS, check_names
from rackshop.sync import stock as stock_job
from rackshop.sync.product_values import sku_key
from tests.e2e.conftest import World
from tests.helpers import configs


def probes(world: World, *variants: str) -> ContractReport:
    world.sandbox.rackbeat_app.variants = check_names(variants)
    runtime = world.fresh_runtime()
    return run_contract(runtime, runtime.config.shops)


def admin(world: World, action: str, body: dict[str, Any]) -> None:
    """A Shopify twin admin action (``contract_admin.py``)."""
    resp = requests.post(f"{world.sandbox.shopify.url}/__sandbox/{action}", json=body,
                         timeout=10)
    assert resp.status_code == 200, resp.text


def row(report: ContractReport, assumption: str, api: str = "rackbeat") -> Probe:
    [found] = [p for p in report.probes if p.api == api and assumption in p.assumption]
    return found


def book_order(world: World, number: str, quantity: float, location: int,
               reference: str = "") -> int:
    """A booked Rackbeat order reserving ``quantity`` of ``number`` at ``location``."""
    rb = world.runtime.rackbeat()
    customer = next(iter(rb.iter_list("customers", page_size=1)))
    created = rb.create("orders", {"customer_id": customer["number"],
                                   "other_reference": reference or None,
                                   "lines": [{"item_id": number, "name": "x",
                                              "quantity": quantity, "line_price": 10,
                                              "vat_percentage": 25,
                                              "location_id": location}]},
                        path="orders/drafts")
    rb.request("POST", f"orders/{created['number']}/book")
    return int(created["number"])


def a_product(world: World) -> tuple[str, int]:
    """A product with stock, and a location where it has some."""
    for p in world.sandbox.rackbeat_app.snapshot()["products"]:
        for loc in p["locations"]:
            if loc["stock_quantity"] >= 4:
                return str(p["number"]), int(loc["number"])
    raise AssertionError("no product with stock in the sandbox")


def test_the_twin_as_it_is_passes_and_is_recorded(world: World) -> None:
    report = probes(world)
    bad = [p for p in report.probes if p.verdict not in (OK, CANNOT_TELL)]
    assert bad == [] and report.exit_code == ExitCode.OK
    assert {p.api for p in report.probes} == {"rackbeat", "shopify dk", "shopify se"}
    assert record(world.runtime.store(), report) >= 8
    contract = load(world.runtime.store())
    assert (contract.per_location, contract.report_filter, contract.customer_lookup,
            contract.page_limit) == (REPORTED, "server", "search", 1000)
    assert report.calls <= 30  # a handful of reads per API


VARIANT_VERDICTS: dict[str, tuple[str, str, str | None, Any]] = {
    "no-location-available": ("per-location availability", "differs: using stock_quantity − "
                              "in_order_quantity", "per_location", MINUS_IN_ORDER),
    "no-location-reservations": ("per-location availability", "differs: using stock_quantity "
                                 "− booked", "per_location", MINUS_BOOKED_LINES),
    "report-filter-refused": ("simple_filter[number]", "differs: using the whole report",
                              "report_filter", "local"),
    "report-filter-ignored": ("simple_filter[number]", "differs: using the whole report",
                              "report_filter", "local"),
    "since-filter-ignored": ("GET /products?updated_at_from=", "differs: using every record",
                             None, None),
    "customer-search-no-email": ("customer found by e-mail", "differs: using simple_filter",
                                 "customer_lookup", "simple_filter"),
    "customer-lookup-refused": ("customer found by e-mail", "differs: using every customer",
                                "customer_lookup", "all"),
    "page-limit-500": ("page size", "differs: using pages of 500", "page_limit", 500),
    "ratelimit-headers": ("rate-limit headers", "differs: using 300/min", "rate_limit", 300),
    "group-no-vat": ("product groups carry vat_domestic", "differs: using products.vat_rate",
                     "group_vat", False),
}


@pytest.mark.parametrize("variant", sorted(VARIANT_VERDICTS))
def test_each_variant_is_detected(world: World, variant: str) -> None:
    assumption, verdict, key, value = VARIANT_VERDICTS[variant]
    report = probes(world, variant)
    found = row(report, assumption)
    assert found.verdict.startswith(verdict), found
    if key is not None:
        assert (found.key, found.value) == (key, value)
    # a fallback exists for each of these: every job can still run
    assert report.exit_code == ExitCode.OK, report.blocked
    others = [p for p in report.probes if p is not found
              and p.verdict not in (OK, CANNOT_TELL) and p.key != "per_location"]
    assert others == [] or variant == "since-filter-ignored"


def test_every_variant_has_a_test() -> None:
    # these two have tests of their own (a fallback that blocks sync-orders; line_price read
    # from an order Rackbeat already holds, tests/e2e/test_line_price_total.py)
    assert set(VARIANTS) == set(VARIANT_VERDICTS) | {"order-search-no-reference",
                                                     "line-price-total"}


def test_order_lookup_without_other_reference_blocks_sync_orders(world: World,
                                                                 tmp_path: Path) -> None:
    number, location = a_product(world)
    book_order(world, number, 1, location, reference="#1001-probe")
    assert row(probes(world), "order found by other_reference").verdict == OK
    report = probes(world, "order-search-no-reference")
    found = row(report, "order found by other_reference")
    assert found.verdict == "differs: job sync-orders cannot run"
    assert report.blocked == ["sync-orders"] and report.exit_code == ExitCode.CONTRACT
    # through the CLI: the documented exit code, JSON for scripts, the contract recorded
    result = CliRunner().invoke(cli.app, ["check", "--contract", "--format", "json",
                                          "--config", str(world.config_path)], env=configs.ENV)
    assert result.exit_code == ExitCode.CONTRACT == 12, result.output
    data = json.loads(result.stdout)
    assert data["blocked_jobs"] == ["sync-orders"] and data["exit_code"] == 12
    assert any(p["verdict"] == "differs: job sync-orders cannot run" for p in data["probes"])


def test_cli_table_and_exit_0(world: World) -> None:
    result = CliRunner().invoke(cli.app, ["check", "--contract", "--config",
                                          str(world.config_path)], env=configs.ENV)
    assert result.exit_code == 0, result.output
    assert "every enabled job can run" in result.output and "verdict" in result.output


# -- Shopify variants -------------------------------------------------------------------------


def test_missing_scopes_block_the_job_that_needs_them(world: World) -> None:
    admin(world, "scopes", {"shop": "dk", "scopes": [
        "read_products", "write_products", "read_inventory", "write_inventory",
        "read_locations", "read_orders", "write_orders", "write_publications"]})
    report = probes(world)
    found = row(report, "access scopes for sync-fulfillments", "shopify dk")
    assert found.verdict == "differs: job sync-fulfillments cannot run"
    assert "write_merchant_managed_fulfillment_orders" in found.observed
    assert row(report, "access scopes for sync-orders", "shopify dk").verdict == OK
    assert row(report, "access scopes for sync-orders", "shopify se").verdict == OK
    assert report.blocked == ["sync-fulfillments"]


def test_another_plan_rate_is_seen_and_paced(world: World) -> None:
    admin(world, "plan", {"shop": "se", "bucket": [1000, 50]})
    report = probes(world)
    found = row(report, "plan rate", "shopify se")
    assert found.verdict.startswith("differs: using the observed rate (50 points/s")
    assert found.value == [1000.0, 50.0]
    assert row(report, "plan rate", "shopify dk").verdict == OK
    assert report.exit_code == ExitCode.OK


# -- the jobs under their fallbacks -----------------------------------------------------------


def report_rows(runtime: Runtime, params: dict[str, str] | None = None) -> list[dict[str, Any]]:
    return runtime.rackbeat().list_all("reports/checking",
                                       {"show_all_locations": "true", **(params or {})})


@pytest.mark.parametrize("variant", ["no-location-available", "no-location-reservations"])
def test_per_location_availability_computed_when_not_reported(world: World,
                                                              variant: str) -> None:
    number, location = a_product(world)
    book_order(world, number, 3, location)
    truth = {int(loc["number"]): float(loc["available_quantity"])
             for loc in next(r for r in report_rows(world.runtime)
                             if r["number"] == number)["locations"]}
    report = probes(world, variant)
    record(world.runtime.store(), report)
    runtime = world.fresh_runtime()
    item = next(r for r in report_rows(runtime) if r["number"] == number)
    # the old reading takes stock for available: it offers the 3 booked units again
    assert _old_reading(item)[location] == truth[location] + 3
    adapter = StockAdapter.for_runtime(runtime, runtime.store())
    assert adapter.per_location(item) == truth


def test_bom_sets_follow_their_components_under_booked_lines(world: World) -> None:
    rb = world.sandbox.rackbeat_app.snapshot()
    lot = next((x for x in rb["lots"] if x["locations"] and any(
        loc["available_quantity"] >= 1 for loc in x["locations"])), None)
    if lot is None:
        pytest.skip("the sandbox seed has no BOM with stock")
    runtime = world.runtime
    boms: dict[str, list[tuple[str, float]]] = {}
    for one in runtime.rackbeat().iter_list("lots"):
        boms[sku_key(one["number"])] = [(sku_key(stock_job._component_number(ln) or ""),
                                         float(ln.get("quantity") or 0))
                                        for ln in one.get("lines") or []]
    truth = {sku_key(r["number"]): {int(loc["number"]): float(loc["available_quantity"])
                                    for loc in r["locations"]} for r in report_rows(runtime)}
    report = probes(world, "no-location-reservations")
    record(world.runtime.store(), report)
    runtime = world.fresh_runtime()
    adapter = StockAdapter.for_runtime(runtime, runtime.store(), boms)
    got = adapter.finish({sku_key(r["number"]): adapter.per_location(r)
                          for r in report_rows(runtime)})
    assert got[sku_key(lot["number"])] == truth[sku_key(lot["number"])]


def _old_reading(item: dict[str, Any]) -> dict[int, float]:
    """How sync-stock read a report row before the contract: available if given, else stock."""
    out: dict[int, float] = {}
    for loc in item.get("locations") or []:
        avail = loc.get("available_quantity")
        out[int(loc["number"])] = float(loc.get("stock_quantity") or 0) if avail is None \
            else float(avail)
    return out


@pytest.mark.parametrize("variant", ["report-filter-refused", "report-filter-ignored"])
def test_refused_report_filter_is_paged_and_filtered_locally(world: World,
                                                             variant: str) -> None:
    number, _ = a_product(world)
    wanted = [{"simple_filter[number]": number}]
    before = [r for f in wanted for r in report_rows(world.runtime, f)]
    report = probes(world, variant)
    record(world.runtime.store(), report)
    runtime = world.fresh_runtime()
    if variant == "report-filter-refused":  # the narrowed read of old fails outright
        with pytest.raises(ValidationError):
            report_rows(runtime, wanted[0])
    adapter = StockAdapter.for_runtime(runtime, runtime.store())
    marks = world.marks()
    rows = [r for f in adapter.report_filters(wanted) for r in report_rows(runtime, f)
            if r["number"] == number]
    assert rows == before
    # the cost: the whole report (12 products: one page) instead of one call per item
    assert world.sandbox.rackbeat.log.counters(marks[1])["requests"] == 1


def test_page_limit_and_pacing_follow_the_recorded_contract(world: World) -> None:
    report = probes(world, "page-limit-500", "ratelimit-headers")
    runtime = world.fresh_runtime()
    with pytest.raises(ValidationError):  # before the contract is recorded
        runtime.rackbeat().list_all("products")
    record(world.runtime.store(), report)
    runtime = world.fresh_runtime()
    client = runtime.rackbeat()
    assert client.max_page_size == 500
    assert client.limiter is not None and client.limiter.per_minute == 300
    assert len(client.list_all("products")) >= 12


def test_customer_lookup_params_follow_the_contract() -> None:
    assert customer_lookup_params(Contract(), "a@b.dk") == {"search": "a@b.dk"}
    sf = Contract({("rackbeat", "customer_lookup"): "simple_filter"})
    assert customer_lookup_params(sf, "a@b.dk") == {"simple_filter[contact_email]": "a@b.dk"}
    assert customer_lookup_params(Contract({("rackbeat", "customer_lookup"): "all"}),
                                     "a@b.dk") is None


# -- write probes -----------------------------------------------------------------------------


def test_write_probe_creates_and_deletes_one_draft(world: World) -> None:
    runtime = world.runtime
    orders_before = len(world.sandbox.rackbeat_app.snapshot()["orders"])
    report = ContractReport()
    run_write_probes(runtime, runtime.store(), report)
    [found] = report.probes
    assert found.verdict == OK, found
    assert found.observed == "subtotal 26.97, vat 6.74, total 33.71"
    assert len(world.sandbox.rackbeat_app.snapshot()["orders"]) == orders_before
    rows = runtime.store().conn.execute("SELECT state FROM contract_probes").fetchall()
    assert [r[0] for r in rows] == ["deleted"]


def test_write_probe_left_by_a_crash_is_deleted_next_time(world: World) -> None:
    runtime = world.runtime
    store = runtime.store()
    rb = runtime.rackbeat()
    customer = next(iter(rb.iter_list("customers", page_size=1)))
    with store.transaction() as conn:  # a crash after the POST left, before the answer
        cur = conn.execute("INSERT INTO contract_probes (kind, state, started_at) VALUES "
                           "('draft-order', 'creating', '2026-01-01T00:00:00+00:00')")
        pid = int(cur.lastrowid or 0)
    rb.create("orders", {"customer_id": customer["number"],
                         "other_reference": PROBE_REFERENCE.format(id=pid)},
              path="orders/drafts")
    before = len(world.sandbox.rackbeat_app.snapshot()["orders"])
    assert cleanup_write_probes(rb, store) == 1
    assert len(world.sandbox.rackbeat_app.snapshot()["orders"]) == before - 1
    assert cleanup_write_probes(rb, store) == 0


def test_write_probes_need_yes_without_a_terminal(world: World) -> None:
    orders_before = len(world.sandbox.rackbeat_app.snapshot()["orders"])
    result = CliRunner().invoke(cli.app, ["check", "--contract", "--write-probes", "--config",
                                          str(world.config_path)], env=configs.ENV)
    assert result.exit_code == ExitCode.ABORTED, result.output
    assert len(world.sandbox.rackbeat_app.snapshot()["orders"]) == orders_before
    result = CliRunner().invoke(cli.app, ["check", "--contract", "--write-probes", "--yes",
                                          "--format", "json", "--config",
                                          str(world.config_path)], env=configs.ENV)
    assert result.exit_code == 0, result.output
    assert any(p["key"] == "line_price" and p["verdict"] == "ok"
               for p in json.loads(result.stdout)["probes"])
    assert len(world.sandbox.rackbeat_app.snapshot()["orders"]) == orders_before


# -- webhooks (listen.public_url) -------------------------------------------------------------


def test_webhook_events_and_topics_with_listen(world: World) -> None:
    import dataclasses

    from rackshop.listen import webhooks_admin as wa

    config = dataclasses.replace(world.config, listen=dataclasses.replace(
        world.config.listen, public_url="http://127.0.0.1:9/rackshop"))
    runtime = Runtime(config)
    try:
        report = run_contract(runtime, config.shops)
        events = [p for p in report.probes if p.assumption.startswith("webhook event")]
        assert events and {p.verdict for p in events} == {CANNOT_TELL}  # none subscribed
        topics = [p for p in report.probes if p.assumption.startswith("webhook topic")]
        assert topics and {p.verdict for p in topics} == {OK}
        wa.register(runtime, config.shops)
        report = run_contract(runtime, config.shops)
        events = [p for p in report.probes if p.assumption.startswith("webhook event")]
        assert {p.verdict for p in events} == {OK}
        assert report.exit_code == ExitCode.OK
    finally:
        runtime.close()


def test_sandbox_takes_variants_by_name() -> None:
    from rackshop.sandbox.world import RACKBEAT_TOKEN, Sandbox

    with Sandbox(seed=1, shops=1, products=8, orders=0, seed_data=False,
                 rackbeat_variants=["page-limit-500"]) as sandbox:
        assert sandbox.rackbeat_app.variants == {"page-limit-500"}
        resp = requests.get(f"{sandbox.rackbeat.url}/api/products?limit=501", timeout=10,
                            headers={"Authorization": f"Bearer {RACKBEAT_TOKEN}"})
        assert resp.status_code == 422 and "500" in resp.text
        resp = requests.post(f"{sandbox.rackbeat.url}/__sandbox/variants", timeout=10,
                             json={"variants": []})
        assert resp.json() == {"variants": []}
    with pytest.raises(ValueError, match="unknown Rackbeat twin variant"):
        check_names(["no-such"])


def test_sync_stock_never_offers_booked_units_again(world: World) -> None:
    """The job itself, under ``no-location-reservations``: the reading of old pushed units that
    are booked (truth + 3); sync-stock now works availability out from stock and booked lines,
    before and after ``check --contract`` records what the account reports."""
    from rackshop.sync.stock import sync_stock
    from tests.e2e.test_sync_stock import rackbeat_available, shopify_levels

    shopify_of = {1: ("Lager", {1}), 2: ("Butik", {2, 21}), 21: ("Butik", {2, 21})}
    number, location = a_product(world)
    book_order(world, number, 3, location)
    name, closure = shopify_of[location]
    truth = rackbeat_available(world.sandbox, closure)[number]
    world.sandbox.rackbeat_app.variants = check_names(["no-location-reservations"])
    runtime = world.fresh_runtime()
    assert sync_stock(runtime, runtime.config.select(())).exit_code == ExitCode.OK
    # a row without per-location figures is worked out from stock and booked lines even
    # before a contract is recorded (the reading of old took stock for available: truth + 3)
    assert shopify_levels(world.sandbox, "dk")[(number, name)] == truth

    record(runtime.store(), run_contract(runtime, runtime.config.shops))
    runtime = world.fresh_runtime()
    assert sync_stock(runtime, runtime.config.select(())).exit_code == ExitCode.OK
    assert shopify_levels(world.sandbox, "dk")[(number, name)] == truth


def test_sandbox_serve_refuses_an_unknown_variant() -> None:
    result = CliRunner().invoke(cli.app, ["sandbox", "serve", "--rackbeat-variant", "nope"])
    assert result.exit_code == ExitCode.USAGE
    assert "no-location-available" in result.output  # the known names are listed


def test_an_api_version_not_served_blocks_the_shop_jobs(world: World) -> None:
    admin(world, "api-version", {"serve": "2026-04"})
    try:
        report = probes(world)
    finally:
        admin(world, "api-version", {"serve": None})
    found = row(report, "pinned API version served", "shopify dk")
    assert found.observed == "2026-04" and found.verdict.startswith("differs: jobs ")
    assert report.exit_code == ExitCode.CONTRACT
    assert {"sync-orders", "sync-stock"} <= set(report.blocked)


@pytest.mark.parametrize("variant", ["customer-search-no-email", "customer-lookup-refused"])
def test_sync_orders_finds_the_customer_as_the_contract_says(world: World, variant: str) -> None:
    """An account whose search does not match e-mails: once recorded, sync-orders asks by
    filter or pages every customer, and finds the customer Rackbeat already has instead of
    creating it a second time."""
    from rackshop.sync.orders import sync_orders
    from tests.helpers.shopify_orders import Line, OrderSpec, place

    report = probes(world, variant)
    record(world.runtime.store(), report)
    runtime = world.fresh_runtime()
    number, _ = a_product(world)
    email = "known.buyer@example.dk"
    world.sandbox.rackbeat_app.add_customer("Kendt Kunde", email)  # in Rackbeat already
    rb = runtime.rackbeat()
    before = len(list(rb.iter_list("customers")))
    place(world.sandbox.shopify_app, "dk", OrderSpec([Line(number, 1, "100.00")], email=email))
    result = sync_orders(runtime, runtime.config.select(["dk"]))
    assert result.exit_code == ExitCode.OK, result.shops[0].failures
    same = [c for c in rb.iter_list("customers")
            if str(c.get("contact_email") or "").lower() == email]
    assert len(same) == 1 and len(list(rb.iter_list("customers"))) == before
