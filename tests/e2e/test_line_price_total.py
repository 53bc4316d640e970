"""An account whose order lines read ``line_price`` as the line's total (issue 16).

The Rackbeat twin's ``line-price-total`` variant computes a line's total from ``line_price``
alone (before discount) instead of quantity × ``line_price``. ``check --contract`` names it
(the read probe from an order Rackbeat already holds, the write probe from its scratch order)
and records it; from then on the Rackbeat client sends quantity × unit price and reads unit
prices back, so sync-orders, its line edits and its credit notes come out to Shopify's cent under
either meaning.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from rackshop.contract.rackbeat_probes import LINE_TOTALS
from rackshop.contract.recorded import load, record
from rackshop.contract.report import OK, ContractReport, using
from rackshop.contract.write_probes import run_write_probes
from rackshop.errors import ExitCode
from rackshop.runtime import Runtime
from rackshop.sandbox.rackbeat.variants import LINE_PRICE_TOTAL, check_names
from rackshop.sandbox.shopify import orders as twin_orders
from rackshop.sync.orders import sync_orders
from tests.e2e.conftest import World
from tests.e2e.test_contract import probes, row
from tests.e2e.test_orders_after_transfer import credited_total, documents, quiet, rb_order
from tests.e2e.test_sync_orders import configure
from tests.helpers.shopify_orders import Line, OrderSpec, place

A, B = "BOX/12-Rød", "ÆBLE-1-M"  # 25 %
F = "TEE #3"  # 12 %
CENT = Decimal("0.01")
READ_PROBE = "line_price is the unit price ex. VAT (an order"
WRITE_PROBE = "line_price is the unit price ex. VAT; discount"
MEANINGS = [pytest.param((), id="unit-price"), pytest.param((LINE_PRICE_TOTAL,), id="line-total")]


def an_order_of_three(world: World) -> None:
    """A draft in Rackbeat with a line of 3 units, written straight to the account."""
    rb = world.fresh_runtime().rackbeat()
    customer = next(iter(rb.iter_list("customers", page_size=1)))
    rb.create("orders", {"customer_id": customer["number"], "lines": [
        {"item_id": A, "name": "x", "quantity": 3, "line_price": 10, "vat_percentage": 25}]},
        path="orders/drafts")


def write_probe(world: World) -> ContractReport:
    report = ContractReport()
    runtime = world.fresh_runtime()
    run_write_probes(runtime, runtime.store(), report)
    return report


def checked(world: World, variants: tuple[str, ...]) -> Runtime:
    """The twin switched to ``variants``, ``check --contract --write-probes`` recorded, and a
    runtime for dk that transfers paid orders as ``process_to``."""
    world.sandbox.rackbeat_app.variants = check_names(variants)
    report = write_probe(world)
    record(world.runtime.store(), report)
    return world.fresh_runtime()


@pytest.mark.parametrize("variants", MEANINGS)
def test_the_probes_name_what_line_price_is(world: World, variants: tuple[str, ...]) -> None:
    world.sandbox.rackbeat_app.variants = check_names(variants)
    an_order_of_three(world)
    orders_before = len(world.sandbox.rackbeat_app.snapshot()["orders"])
    read = row(probes(world, *variants), READ_PROBE)
    written = row(write_probe(world), WRITE_PROBE)
    assert len(world.sandbox.rackbeat_app.snapshot()["orders"]) == orders_before
    if variants:
        for found in (read, written):
            assert found.verdict == using(LINE_TOTALS), found
            assert (found.key, found.value) == ("line_price", "total")
            assert "line_price read as the line's total" in found.observed
        assert written.observed.startswith("subtotal 8.99, vat 2.25, total 11.24")
    else:
        for found in (read, written):
            assert (found.verdict, found.key, found.value) == (OK, "line_price", "unit"), found
    record(world.runtime.store(), ContractReport([written]))
    assert load(world.runtime.store()).line_price == ("total" if variants else "unit")


def test_without_an_order_of_several_units_the_read_probe_cannot_tell(world: World) -> None:
    report = probes(world, LINE_PRICE_TOTAL)
    found = row(report, READ_PROBE)
    assert found.verdict == "cannot tell" and found.key is None
    assert report.exit_code == ExitCode.OK


ORDERS = [
    OrderSpec([Line(A, 3, "782.50"), Line(B, 2, "995.00")], shipping="49.00"),
    OrderSpec([Line(A, 7, "33.33")]),
    OrderSpec([Line(A, 2, "782.50"), Line(F, 3, "654.08", 12)],
              discount_code={"itemPercentageDiscountCode": {"code": "TEN", "percentage": 10}}),
    OrderSpec([Line(A, 1, "782.50"), Line(B, 3, "995.00")],
              discount_code={"itemFixedDiscountCode": {"code": "FIX100", "amountSet": {
                  "shopMoney": {"amount": "100.00", "currencyCode": "DKK"}}}}),
]


def shopify_total(world: World, gid: str) -> Decimal:
    order = world.sandbox.shopify_app.shop("dk").orders[gid]
    return Decimal(order["currentTotalPriceSet"]["shopMoney"]["amount"])


def run(runtime: Runtime) -> Any:
    return sync_orders(runtime, runtime.config.select(["dk"]))


@pytest.mark.parametrize("variants", MEANINGS)
def test_sync_orders_totals_match_shopify_to_the_cent(world: World,
                                                      variants: tuple[str, ...]) -> None:
    checked(world, variants)
    runtime = configure(world, "dk", process_to="booked")
    created = [place(world.sandbox.shopify_app, "dk", spec) for spec in ORDERS]
    result = run(runtime)
    assert result.exit_code == ExitCode.OK, result.shops[0].failures
    for order in created:
        rb = rb_order(world, order["name"])
        assert rb is not None and rb["is_booked"]
        assert Decimal(str(rb["total_total"])).quantize(CENT) == shopify_total(world, order["id"])
    quiet(world, runtime)


@pytest.mark.parametrize("variants", MEANINGS)
def test_line_edits_and_credit_notes_match_shopify_to_the_cent(world: World,
                                                               variants: tuple[str, ...]) -> None:
    twin = world.sandbox.shopify_app
    checked(world, variants)
    runtime = configure(world, "dk", process_to="draft")
    draft = place(twin, "dk", OrderSpec([Line(A, 3, "782.50"), Line(B, 2, "995.00")]))
    assert run(runtime).exit_code == ExitCode.OK
    twin_orders.refund(twin.shop("dk"), draft["id"], lines={A: 1})
    result = run(runtime)
    assert result.exit_code == ExitCode.OK, result.shops[0].failures
    rb = rb_order(world, draft["name"])
    assert rb is not None and not rb["is_booked"]
    assert Decimal(str(rb["total_total"])).quantize(CENT) == shopify_total(world, draft["id"])
    quiet(world, runtime)

    runtime = configure(world, "dk", process_to="invoiced")
    invoiced = place(twin, "dk", OrderSpec([Line(A, 3, "782.50"), Line(F, 4, "654.08", 12)],
                                           shipping="49.00"))
    assert run(runtime).exit_code == ExitCode.OK
    number = rb_order(world, invoiced["name"])["number"]  # type: ignore[index]
    twin_orders.refund(twin.shop("dk"), invoiced["id"], lines={A: 2, F: 1}, restock=True)
    result = run(runtime)
    assert result.exit_code == ExitCode.OK, result.shops[0].failures
    _, notes = documents(world, number)
    assert len(notes) == 1
    assert credited_total(world, number) == shopify_total(world, invoiced["id"])
    quiet(world, runtime)
