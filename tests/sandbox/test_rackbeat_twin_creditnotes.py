"""Rackbeat twin: credit notes (create from a booked invoice, edit the draft, book; guards and
stock return), invoice drafts edited and deleted (docs/sandbox-rackbeat.md, "Credit notes")."""

from __future__ import annotations

import pytest

from rackshop.sandbox.rackbeat.model import Account
from rackshop.sandbox.rackbeat.validation import ApiError
from tests.sandbox.test_rackbeat_twin_model import draft, make_account, quantities, set_stock


def _invoiced() -> tuple[Account, int]:
    acc = make_account()
    set_stock(acc, "A", 1, 10)
    order = acc.order(draft(acc, {"item_id": "A", "quantity": 3, "line_price": 80,
                                  "vat_percentage": 25},
                           {"item_id": "SHIP", "quantity": 1, "line_price": 40}))
    acc.book_order(order)
    shipment = acc.create_shipment(order)
    acc.mark_shipped(shipment, {"pick": True})
    invoice = acc.convert_to_invoice(order, book=True)
    return acc, invoice.number


def test_credit_note_is_a_draft_copy_edited_then_booked_returning_stock_only_when_asked() -> None:
    acc, number = _invoiced()
    assert quantities(acc, "A") == (7, 0, 7)
    note = acc.create_creditnote(acc.invoice(number))
    assert note.is_credit_note and not note.is_booked and note.credited_invoice == number
    assert note.total_total == acc.invoice(number).total_total
    acc.update_invoice(note, {"lines": [
        {"item_id": "A", "quantity": 1, "line_price": 80, "vat_percentage": 25,
         "location_id": 1}], "other_reference": "refund 1", "stock_returned": True})
    assert note.total_total == 100.0
    acc.book_invoice(note)
    assert quantities(acc, "A") == (8, 0, 8)
    with pytest.raises(ApiError, match="booked"):
        acc.update_invoice(note, {"heading": "x"})
    with pytest.raises(ApiError, match="booked"):
        acc.delete_invoice(note)
    with pytest.raises(ApiError, match="credit note can't be credited"):
        acc.create_creditnote(note)
    # Without stock_returned the goods stay where they are (a no-restock refund).
    second = acc.create_creditnote(acc.invoice(number))
    acc.update_invoice(second, {"lines": [
        {"item_id": "A", "quantity": 1, "line_price": 80, "vat_percentage": 25}]})
    acc.book_invoice(second)
    assert quantities(acc, "A") == (8, 0, 8)


def test_a_credit_note_never_credits_more_units_than_invoiced() -> None:
    acc, number = _invoiced()
    note = acc.create_creditnote(acc.invoice(number))
    acc.update_invoice(note, {"lines": [
        {"item_id": "A", "quantity": 2, "line_price": 80, "vat_percentage": 25}]})
    acc.book_invoice(note)
    over = acc.create_creditnote(acc.invoice(number))
    acc.update_invoice(over, {"lines": [
        {"item_id": "A", "quantity": 2, "line_price": 80, "vat_percentage": 25}]})
    with pytest.raises(ApiError, match="more times than invoiced"):
        acc.book_invoice(over)
    acc.delete_invoice(over)
    assert over.number not in acc.invoices


def test_unbooked_invoice_cannot_be_credited_and_bad_lines_are_refused() -> None:
    acc = make_account()
    order = acc.order(draft(acc, {"item_id": "A", "quantity": 1}))
    acc.book_order(order)
    invoice = acc.convert_to_invoice(order, book=False)
    with pytest.raises(ApiError, match="not booked"):
        acc.create_creditnote(invoice)
    with pytest.raises(ApiError) as info:
        acc.update_invoice(invoice, {"lines": [{"item_id": "NOPE", "quantity": 1},
                                               {"item_id": "A", "quantity": 0}]})
    assert set(info.value.errors or {}) == {"lines.0.item_id", "lines.1.quantity"}
