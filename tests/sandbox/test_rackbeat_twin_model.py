"""Unit tests of the Rackbeat twin's business rules (no HTTP): stock, orders, BOMs, money."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from rackshop.sandbox.base import Clock
from rackshop.sandbox.rackbeat import RackbeatTwin
from rackshop.sandbox.rackbeat.model import Account
from rackshop.sandbox.rackbeat.query import parse_fields, select
from rackshop.sandbox.rackbeat.records import OrderLine
from rackshop.sandbox.rackbeat.validation import ApiError, money, parse_datetime

CET = timezone(timedelta(hours=1))


def make_account(**kwargs: Any) -> Account:
    acc = Account(wall_clock=lambda: datetime(2026, 3, 1, 12, 0, tzinfo=CET), tz=CET, **kwargs)
    acc.add_location(1, "Main", is_default=True)
    acc.add_location(2, "Shop")
    acc.add_location(21, "Shop back room", parent=2)
    acc.add_group({"number": 1, "name": "Goods", "vat_domestic": 25, "vat_eu": 0})
    acc.add_group({"number": 9, "name": "Services", "has_inventory": False})
    acc.create_item({"number": "A", "name": "Apple", "group": 1, "sales_price": 10})
    acc.create_item({"number": "B", "name": "Bag", "group": 1, "sales_price": 4})
    acc.create_item({"number": "SHIP", "name": "Shipping", "group": 9, "sales_price": 49})
    acc.create_customer({"name": "Jane", "contact_email": "jane@example.com"})
    return acc


def set_stock(acc: Account, number: str, loc: int, qty: float) -> None:
    adj = acc.create_adjustment(
        {"item_id": number, "adjustment_type": "quantity", "quantity": qty, "location": loc}
    )
    acc.book_adjustment(adj)


def quantities(acc: Account, number: str, loc: int | None = None) -> tuple[float, float, float]:
    return acc.quantities(acc.item(number), loc)


def draft(acc: Account, *lines: dict[str, Any], **header: Any) -> int:
    order = acc.create_order({"customer_id": 1001, "lines": list(lines), **header})
    return order.number


# -- money --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1.005, 1.01), (2.675, 2.68), (0.125, 0.13), (-0.125, -0.13), (10.0, 10.0), (99.994, 99.99)],
)
def test_money_rounds_half_away_from_zero_like_php(value: float, expected: float) -> None:
    assert money(value) == expected


@pytest.mark.parametrize(
    ("qty", "price", "discount", "vat", "total", "vat_amount"),
    [
        (1, 100.0, 0, 25, 100.0, 25.0),
        (3, 33.333, 0, 25, 100.0, 25.0),  # 99.999 -> 100.00
        (2, 79.99, 10, 25, 143.98, 36.0),  # 143.982 -> 143.98; 35.995 -> 36.00
        (1, 0.01, 50, 25, 0.01, 0.0),  # 0.005 -> 0.01 (half up); VAT 0.0025 -> 0.00
        (1.5, 10.0, 0, 12, 15.0, 1.8),
    ],
)
def test_line_totals_are_unit_price_times_quantity_less_discount_rounded_per_line(
    qty: float, price: float, discount: float, vat: float, total: float, vat_amount: float
) -> None:
    line = OrderLine(1, 1, "x", qty, price, discount, vat)
    assert line.total() == total
    assert line.vat_amount() == vat_amount


def test_order_totals_sum_the_rounded_lines() -> None:
    lines = [OrderLine(i, 1, "x", 1, 0.333, 0, 25) for i in range(3)]
    # Each line 0.33 (VAT 0.08): per-line rounding gives 0.99 / 0.24, not 1.00 / 0.25.
    assert Account.totals(lines) == (0.99, 0.24, 1.23)


# -- stock ----------------------------------------------------------------------------------


def test_adjustment_is_a_draft_until_booked_and_sets_the_target_quantity() -> None:
    acc = make_account()
    adj = acc.create_adjustment(
        {"item_id": "A", "adjustment_type": "quantity", "quantity": 7, "location": 1}
    )
    assert quantities(acc, "A") == (0, 0, 0)
    acc.book_adjustment(adj)
    assert quantities(acc, "A") == (7, 0, 7)
    adj2 = acc.create_adjustment(
        {"item_id": "a", "adjustment_type": "quantity", "quantity": 4, "location": 1}
    )
    assert adj2.difference == -3
    acc.book_adjustment(adj2)
    assert quantities(acc, "A", 1) == (4, 0, 4)


def test_zero_change_adjustment_and_double_booking_are_refused() -> None:
    acc = make_account()
    set_stock(acc, "A", 1, 5)
    with pytest.raises(ApiError) as err:
        acc.create_adjustment(
            {"item_id": "A", "adjustment_type": "quantity", "quantity": 5, "location": 1}
        )
    assert err.value.status == 422
    assert err.value.message == "Adjustment can't be created, since no change is made."
    adj = acc.create_adjustment(
        {"item_id": "A", "adjustment_type": "quantity", "quantity": 6, "location": 1}
    )
    acc.book_adjustment(adj)
    with pytest.raises(ApiError):
        acc.book_adjustment(adj)
    assert quantities(acc, "A") == (6, 0, 6)


def test_adjustment_validation_messages() -> None:
    acc = make_account()
    with pytest.raises(ApiError) as err:
        acc.create_adjustment({"item_id": "NOPE", "adjustment_type": "value", "quantity": "x"})
    assert err.value.errors == {
        "item_id": ["The selected item id is invalid."],
        "adjustment_type": ["The selected adjustment type is invalid."],
        "quantity": ["The quantity must be a number."],
        "location": ["The location field is required."],
    }
    with pytest.raises(ApiError) as err:
        acc.create_adjustment(
            {"item_id": "SHIP", "adjustment_type": "quantity", "quantity": 1, "location": 1}
        )
    assert "item_id" in (err.value.errors or {})


def test_stock_is_per_exact_location_and_parents_do_not_include_children() -> None:
    acc = make_account()
    set_stock(acc, "A", 2, 3)
    set_stock(acc, "A", 21, 4)
    assert quantities(acc, "A", 2) == (3, 0, 3)
    assert quantities(acc, "A", 21) == (4, 0, 4)
    assert quantities(acc, "A") == (7, 0, 7)


def test_every_stock_movement_bumps_updated_at() -> None:
    now = [datetime(2026, 3, 1, 12, 0, tzinfo=CET)]
    acc = Account(wall_clock=lambda: now[0], tz=CET)
    acc.add_location(1, "Main")
    acc.add_group({"number": 1, "name": "Goods"})
    item = acc.create_item({"number": "A", "name": "Apple", "group": 1, "sales_price": 1})
    acc.create_customer({"name": "Jane"})
    now[0] += timedelta(minutes=1)
    set_stock(acc, "A", 1, 5)
    assert item.updated_at == now[0]
    order = acc.order(draft(acc, {"item_id": "A", "quantity": 1}))
    now[0] += timedelta(minutes=1)
    acc.book_order(order)  # a reservation changes availability: also a change
    assert item.updated_at == now[0]


# -- BOMs -----------------------------------------------------------------------------------


def test_lot_quantities_are_derived_from_components_and_shipping_deducts_components() -> None:
    acc = make_account()
    acc.create_item(
        {
            "number": "KIT",
            "name": "Kit",
            "group": 1,
            "sales_price": 20,
            "lines": [{"item_id": "A", "quantity": 2}, {"item_id": "B", "quantity": 1}],
        },
        "lot",
    )
    set_stock(acc, "A", 1, 9)
    set_stock(acc, "B", 1, 10)
    assert quantities(acc, "KIT") == (4, 0, 4)
    order = acc.order(draft(acc, {"item_id": "KIT", "quantity": 3}))
    acc.book_order(order)
    assert quantities(acc, "KIT") == (4, 3, 1)  # components reserved: A 6 of 9, B 3 of 10
    assert quantities(acc, "A") == (9, 6, 3)
    shipment = acc.create_shipment(order)
    acc.mark_shipped(shipment, {"pick": True})
    assert quantities(acc, "A") == (3, 0, 3)
    assert quantities(acc, "B") == (7, 0, 7)
    assert quantities(acc, "KIT") == (1, 0, 1)


def test_lot_refuses_unknown_or_lot_components() -> None:
    acc = make_account()
    with pytest.raises(ApiError) as err:
        acc.create_item(
            {
                "number": "KIT",
                "name": "Kit",
                "group": 1,
                "sales_price": 1,
                "lines": [{"item_id": "NOPE", "quantity": 1}, {"quantity": 1}],
            },
            "lot",
        )
    assert err.value.errors == {
        "lines.0.item_id": ["The selected lines.0.item_id is invalid."],
        "lines.1.item_id": ["Product needed"],
    }


def test_product_cannot_be_deleted_or_converted_once_stock_was_registered() -> None:
    acc = make_account()
    set_stock(acc, "A", 1, 1)
    set_stock(acc, "A", 1, 0)  # back to zero: stock was still registered once
    for action in (
        lambda: acc.delete_item(acc.item("A")),
        lambda: acc.convert_to_lot(acc.item("A"), {}),
    ):
        with pytest.raises(ApiError) as err:
            action()
        assert err.value.status == 422
    assert not acc.is_convertable(acc.item("A"))
    draft(acc, {"item_id": "B", "quantity": 1})
    with pytest.raises(ApiError, match="used in lines"):
        acc.convert_to_lot(acc.item("B"), {})
    lot = acc.create_item({"number": "C", "name": "C", "group": 1, "sales_price": 1})
    acc.convert_to_lot(lot, {"lines": [{"item_id": "B", "quantity": 2}]})
    assert acc.item("C").type == "lot"


# -- orders ---------------------------------------------------------------------------------


def test_order_state_machine_with_stock_effects_in_shipment_mode() -> None:
    acc = make_account()
    set_stock(acc, "A", 1, 10)
    set_stock(acc, "A", 2, 5)
    order = acc.order(
        draft(
            acc, {"item_id": "A", "quantity": 3}, {"item_id": "A", "quantity": 2, "location_id": 2}
        )
    )
    with pytest.raises(ApiError, match="not booked"):
        acc.create_shipment(order)
    with pytest.raises(ApiError, match="not booked"):
        acc.convert_to_invoice(order, book=True)
    acc.book_order(order)
    assert quantities(acc, "A", 1) == (10, 3, 7)
    assert quantities(acc, "A", 2) == (5, 2, 3)
    with pytest.raises(ApiError, match="already booked"):
        acc.book_order(order)
    with pytest.raises(ApiError, match="booked"):
        acc.update_order(order, {"heading": "x"})
    with pytest.raises(ApiError, match="booked"):
        acc.delete_order(order)
    acc.reopen_order(order)
    assert quantities(acc, "A") == (15, 0, 15)
    acc.book_order(order)
    shipment = acc.create_shipment(order)
    with pytest.raises(ApiError, match="nothing left to ship"):
        acc.create_shipment(order)
    with pytest.raises(ApiError, match="not picked"):
        acc.mark_shipped(shipment, {})
    acc.mark_shipped(shipment, {"pick": True})
    assert quantities(acc, "A", 1) == (7, 0, 7)
    assert quantities(acc, "A", 2) == (3, 0, 3)
    assert order.is_shipped
    with pytest.raises(ApiError, match="already shipped"):
        acc.create_shipment(order)
    with pytest.raises(ApiError, match="already shipped"):
        acc.mark_shipped(shipment, {"pick": True})
    with pytest.raises(ApiError, match="shipments"):
        acc.reopen_order(order)
    invoice = acc.convert_to_invoice(order, book=True)
    assert invoice.is_booked and order.is_invoiced
    assert quantities(acc, "A") == (10, 0, 10)  # invoicing moves no stock in shipment mode
    with pytest.raises(ApiError, match="already invoiced"):
        acc.convert_to_invoice(order, book=True)


def test_invoice_mode_deducts_stock_when_the_invoice_is_booked() -> None:
    acc = make_account(stock_deducted_on="invoice")
    set_stock(acc, "A", 1, 10)
    order = acc.order(
        draft(acc, {"item_id": "A", "quantity": 4}, {"item_id": "SHIP", "quantity": 1})
    )
    acc.book_order(order)
    shipment = acc.create_shipment(order)
    acc.mark_shipped(shipment, {"pick": True})
    assert quantities(acc, "A") == (10, 4, 6)  # shipping moves nothing in invoice mode
    invoice = acc.convert_to_invoice(order, book=False)
    assert quantities(acc, "A") == (10, 4, 6)
    acc.book_invoice(invoice)
    assert quantities(acc, "A") == (6, 0, 6)
    with pytest.raises(ApiError, match="already booked"):
        acc.book_invoice(invoice)


def test_order_lines_default_price_vat_and_name_from_the_item_and_zone() -> None:
    acc = make_account()
    order = acc.order(draft(acc, {"item_id": "a", "quantity": 2}))
    line = order.lines[0]
    assert (line.name, line.line_price, line.vat_percentage) == ("Apple", 10.0, 25.0)
    eu = acc.order(draft(acc, {"item_id": "A", "quantity": 1}, vat_zone="eu"))
    assert eu.lines[0].vat_percentage == 0.0
    assert acc.order_json(order)["total_total"] == 25.0


def test_order_validation_reports_every_line_problem() -> None:
    acc = make_account()
    acc.update_item(acc.item("B"), {"is_barred": True})
    with pytest.raises(ApiError) as err:
        acc.create_order(
            {
                "customer_id": 999,
                "vat_zone": "mars",
                "lines": [
                    {"quantity": 1},
                    {"item_id": "NOPE", "quantity": 1},
                    {"item_id": "B", "quantity": 1},
                    {"item_id": "A", "quantity": 0},
                ],
            }
        )
    assert err.value.body() == {
        "message": "The given data was invalid.",
        "errors": {
            "customer_id": ["The selected Customer is invalid."],
            "vat_zone": ["The selected vat zone is invalid."],
            "lines.0.item_id": ["Product needed"],
            "lines.1.item_id": ["The selected lines.1.item_id is invalid."],
            "lines.2.item_id": ["Product 'B' is barred."],
            "lines.3.quantity": ["The lines.3.quantity must be greater than 0."],
        },
    }


def test_booked_order_locks_its_lines() -> None:
    acc = make_account()
    order = acc.order(draft(acc, {"item_id": "A", "quantity": 1}))
    line = acc.update_order_line(order, order.lines[0], {"quantity": 2, "line_price": 9})
    assert (line.quantity, line.line_price) == (2, 9)
    swapped = acc.update_order_line(order, line, {"item_id": "B"})
    assert (swapped.line_price, swapped.name) == (4.0, "Bag")  # the new item's own price
    acc.book_order(order)
    with pytest.raises(ApiError, match="locked"):
        acc.update_order_line(order, swapped, {"quantity": 5})


def test_order_numbers_are_never_reused() -> None:
    acc = make_account(order_number_start=500)
    first = draft(acc)
    second = draft(acc)
    acc.delete_order(acc.order(second))
    assert (first, draft(acc)) == (500, 502)


# -- customers ------------------------------------------------------------------------------


def test_customer_numbers_are_max_plus_one_from_the_start() -> None:
    acc = Account(
        wall_clock=lambda: datetime(2026, 1, 1, tzinfo=CET), tz=CET, customer_number_start=5000
    )
    assert acc.create_customer({"name": "A"}).number == 5000
    assert acc.create_customer({"company_name": "B", "number": 7000}).number == 7000
    assert acc.create_customer({"name": "C"}).number == 7001
    with pytest.raises(ApiError) as err:
        acc.create_customer({"name": "D", "number": 7000})
    assert err.value.errors == {"number": ["The number has already been taken."]}


def test_customer_references_must_exist() -> None:
    acc = make_account()
    with pytest.raises(ApiError) as err:
        acc.create_customer(
            {
                "contact_email": "not-an-email",
                "payment_terms_id": 99,
                "customer_group_id": 99,
                "layout_id": 99,
                "vat_zone": "nowhere",
                "currency": "XXX",
            }
        )
    assert err.value.errors == {
        "name": ["The name field is required."],
        "contact_email": ["The contact email must be a valid email address."],
        "vat_zone": ["The selected vat zone is invalid."],
        "currency": ["The selected currency is invalid."],
        "payment_terms_id": ["The selected payment terms id is invalid."],
        "customer_group_id": ["The selected customer group id is invalid."],
        "layout_id": ["The selected layout id is invalid."],
    }


# -- helpers --------------------------------------------------------------------------------


def test_fields_selection_recurses_into_objects_and_lists() -> None:
    record = {
        "number": "A",
        "name": "x",
        "locations": [{"number": 1, "name": "M", "q": 2}],
        "g": {"a": 1, "b": 2},
    }
    assert select(record, parse_fields("number,locations(number,q),g(b)")) == {
        "number": "A",
        "locations": [{"number": 1, "q": 2}],
        "g": {"b": 2},
    }
    assert select(record, parse_fields("number,locations(*)"))["locations"] == record["locations"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-01 10:00:00", datetime(2026, 3, 1, 10, 0, tzinfo=CET)),
        ("2026-03-01T09:00:00Z", datetime(2026, 3, 1, 10, 0, tzinfo=CET)),
        ("2026-03-01T10:00:00+01:00", datetime(2026, 3, 1, 10, 0, tzinfo=CET)),
        ("2026-03-01", datetime(2026, 3, 1, 0, 0, tzinfo=CET)),
        ("2026-03-01T10:00:00 01:00", None),  # an unencoded "+" arrives as a space
        ("yesterday", None),
    ],
)
def test_filter_dates(text: str, expected: datetime | None) -> None:
    assert parse_datetime(text, CET) == expected


def test_python_api_raises_value_errors_with_the_messages() -> None:
    twin = RackbeatTwin(Clock())
    twin.add_product_group(1, "Goods")
    with pytest.raises(ValueError, match="The selected group is invalid"):
        twin.add_product("A", "Apple", 1.0, 2)
    twin.add_location(1, "Main")
    twin.add_product("A", "Apple", 1.0, 1, stock={1: 3})
    twin.set_stock("A", 1, 3)  # unchanged: a no-op, not an error
    assert twin.stock("A") == {"stock_quantity": 3, "in_order_quantity": 0, "available_quantity": 3}
    assert len(twin.snapshot()["inventory_adjustments"]) == 1
