"""The pure parts of ``check --contract`` (issue 16): judging answers, scopes, reservations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rackshop.contract.rackbeat_probes import judge_per_location, line_price_meaning
from rackshop.contract.recorded import (
    Contract,
    StockAdapter,
    add_line_reservation,
    load,
    load_path,
    record,
)
from rackshop.contract.report import (
    CANNOT_TELL,
    MINUS_BOOKED_LINES,
    MINUS_IN_ORDER,
    OK,
    REPORTED,
    ContractReport,
    Probe,
    cannot_run,
    using,
)
from rackshop.contract.shopify_probes import granted_covers
from rackshop.contract.write_probes import expected_line_amounts, judge_line_price
from rackshop.errors import ExitCode
from rackshop.store import Store


def loc(number: int, **fields: float) -> dict[str, float]:
    return {"number": number, **fields}


def test_per_location_modes() -> None:
    full = [{"number": "A", "locations": [loc(1, stock_quantity=5, in_order_quantity=2,
                                              available_quantity=3)]}]
    assert judge_per_location(full)[1] == REPORTED
    no_avail = [{"number": "A", "locations": [loc(1, stock_quantity=5, in_order_quantity=2)]}]
    assert judge_per_location(no_avail)[1] == MINUS_IN_ORDER
    bare = [{"number": "A", "locations": [loc(1, stock_quantity=5)]}]
    assert judge_per_location(bare)[1] == MINUS_BOOKED_LINES
    # one row without the field is enough to need the fallback
    mixed = [*full, {"number": "B", "locations": [loc(1, stock_quantity=1)]}]
    assert judge_per_location(mixed)[1] == MINUS_BOOKED_LINES
    assert judge_per_location([])[1] is None
    assert judge_per_location([{"number": "A"}])[1] == ""
    assert judge_per_location([{"number": "A", "locations": [{"number": 1}]}])[1] == ""


def test_scopes_write_grants_read() -> None:
    assert granted_covers(["write_orders"], ["read_orders", "write_orders"]) == []
    assert granted_covers(["read_orders"], ["read_orders", "write_orders"]) == [
        "write_orders"]
    assert granted_covers([], ["read_locations"]) == ["read_locations"]


def test_verdict_words_and_exit_code() -> None:
    assert cannot_run(["sync-stock"]) == "differs: job sync-stock cannot run"
    assert cannot_run(["sync-stock", "sync-orders"]) == \
        "differs: jobs sync-orders, sync-stock cannot run"
    report = ContractReport()
    report.add(Probe("rackbeat", "a", "x", "y", using("z"), ("sync-stock",)))
    report.add(Probe("rackbeat", "b", "x", "y", CANNOT_TELL, ("sync-orders",)))
    assert report.exit_code == ExitCode.OK and report.blocked == []
    report.add(Probe("rackbeat", "c", "x", "y", cannot_run(["sync-orders"]),
                        ("sync-orders",)))
    assert report.exit_code == ExitCode.CONTRACT == 12 and report.blocked == ["sync-orders"]


def test_line_reservations_explode_boms_and_skip_shipped() -> None:
    out: dict[tuple[str, int], float] = {}
    boms = {"kit": [("a", 2.0), ("b", 1.0)]}  # SKU keys, as sync-stock reads them
    add_line_reservation(out, {"item": {"number": "a"}, "quantity": 3, "shipped_quantity": 1,
                                  "location": {"number": 2}}, boms)
    add_line_reservation(out, {"item_id": "KIT", "quantity": 2, "location_id": 1}, boms)
    add_line_reservation(out, {"item_id": "A", "quantity": 1, "shipped_quantity": 1,
                                  "location_id": 1}, boms)
    add_line_reservation(out, {"item_id": "A", "quantity": 1}, boms)  # no location: none
    assert out == {("a", 2): 2.0, ("kit", 1): 2.0, ("a", 1): 4.0, ("b", 1): 2.0}


def test_adapter_modes_and_bom_sets() -> None:
    orders = [{"is_booked": True, "is_shipped": False,
               "lines": [{"item_id": "A", "quantity": 3, "location_id": 1}]},
              {"is_booked": False, "lines": [{"item_id": "A", "quantity": 9, "location_id": 1}]},
              {"is_booked": True, "is_shipped": True,
               "lines": [{"item_id": "A", "quantity": 9, "location_id": 1}]}]
    calls: list[int] = []

    def read() -> list[dict[str, object]]:
        calls.append(1)
        return orders  # type: ignore[return-value]

    row = {"number": "A", "locations": [loc(1, stock_quantity=10), loc(2, stock_quantity=4)]}
    booked = StockAdapter(Contract({("rackbeat", "per_location"):
                                          MINUS_BOOKED_LINES}), read, {"kit": [("a", 2.0)]})
    assert booked.per_location(row) == {1: 7.0, 2: 4.0}
    kit = {"number": "KIT", "locations": [loc(1, stock_quantity=5), loc(2, stock_quantity=2)]}
    stock = {"a": booked.per_location(row), "kit": booked.per_location(kit)}
    assert booked.finish(stock)["kit"] == {1: 3.0, 2: 2.0}  # floor(7/2), floor(4/2)
    assert calls == [1]  # the orders are read once per pass
    reported = StockAdapter(Contract(), read)
    full = {"number": "A", "locations": [loc(1, stock_quantity=10, in_order_quantity=3,
                                             available_quantity=6)]}
    assert reported.per_location(full) == {1: 6.0}
    assert reported.report_filters([{"simple_filter[number]": "A"}]) == [
        {"simple_filter[number]": "A"}]
    local = StockAdapter(Contract({("rackbeat", "report_filter"): "local"}), read)
    assert local.report_filters([{"simple_filter[number]": "A"},
                                 {"simple_filter[number]": "B"}]) == [{}]
    assert calls == [1]


def test_line_price_judged() -> None:
    assert expected_line_amounts() == {"subtotal": 26.97, "vat": 6.74, "total": 33.71}
    assert judge_line_price({"total_subtotal": 26.97, "total_vat": 6.74,
                                "total_total": 33.71})[1] == OK
    # line_price read as the line's total: sync-orders sends line totals (the client converts)
    observed, verdict, meaning = judge_line_price({"total_subtotal": 8.99, "total_vat": 2.25,
                                                   "total_total": 11.24})
    assert (verdict, meaning) == ("differs: using line totals (quantity × unit price)", "total")
    assert "line_price read as the line's total" in observed
    # anything else: no fallback
    assert judge_line_price({"total_subtotal": 26.98, "total_vat": 6.74, "total_total": 33.72}
                            )[1:] == ("differs: job sync-orders cannot run", "differs")
    assert judge_line_price({"total_subtotal": "x"})[1] == CANNOT_TELL


def test_record_replaces_and_load_path_reads_without_writing(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    assert load_path(path) == Contract() and not path.exists()
    with Store(path) as store:
        report = ContractReport()
        report.add(Probe("rackbeat", "page size", "", "", OK, (), "page_limit", 1000))
        record(store, report)
        report = ContractReport()
        report.add(Probe("rackbeat", "page size", "", "", using("500"), (),
                            "page_limit", 500))
        report.add(Probe("rackbeat", "no key", "", "", OK))
        assert record(store, report) == 1
        assert load(store).page_limit == 500
        assert store.count("contract") == 1
    assert load_path(path).page_limit == 500


# -- what line_price is (R15 and the write probe W1) -------------------------------------------


@pytest.mark.parametrize(("lines", "subtotal", "meaning"), [
    ([{"quantity": 3, "line_price": 10, "discount_percentage": 10}], 27.0, "unit"),
    ([{"quantity": 3, "line_price": 10, "discount_percentage": 10}], 9.0, "total"),
    ([{"quantity": 1, "line_price": 10}], 10.0, None),  # one unit: both readings alike
    ([{"quantity": 3, "line_price": 10}], 12.34, None),  # neither fits
    ([{"quantity": 3, "line_price": None}], 30.0, None),
    ([{"quantity": 2, "line_price": 5}, {"quantity": 1, "line_price": 4}], 9, "total"),
])
def test_line_price_meaning(lines: list[dict[str, Any]], subtotal: Any,
                            meaning: str | None) -> None:
    assert line_price_meaning(lines, subtotal) == meaning
