"""Invoices and credit notes of a Rackbeat account, and the JSON of lines, orders, shipments
and invoices as the API answers them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from .records import ADDRESS_PARTS, HEADER_STRINGS, Invoice, Order, OrderLine, Shipment, iso, lookup
from .sales import SalesAccount
from .validation import JSON, Validator, money, refused, to_int


class InvoicingAccount(SalesAccount):
    """An account's invoices and credit notes, on top of its customers and orders."""

    def convert_to_invoice(self, order: Order, *, book: bool) -> Invoice:
        """``POST /orders/{number}/convert-to-invoice``: one invoice for the whole order."""
        if not order.is_booked:
            raise refused("The order is not booked.")
        if order.is_invoiced:
            raise refused("The order is already invoiced.")
        now = self.now()
        self._invoice_high += 1
        terms = self.lookups.payment_terms.get(order.payment_terms or 0)
        days = int(terms["maturity_days"]) if terms else 0
        invoice_date = now.date()
        due = date.fromordinal(invoice_date.toordinal() + days)
        lines = [self.line_json(ln) for ln in order.lines]
        subtotal, vat, total = self.totals(order.lines)
        invoice = Invoice(
            now,
            now,
            self.next_id("invoice"),
            self._invoice_high,
            order.number,
            order.customer,
            order.currency,
            order.vat_zone,
            order.header.get("heading"),
            order.header.get("other_reference"),
            lines,
            [(ln.id, ln.quantity) for ln in order.lines],
            subtotal,
            vat,
            total,
            invoice_date.isoformat(),
            due.isoformat(),
        )
        self.invoices[invoice.number] = invoice
        order.is_invoiced = True
        order.invoiced_at = now
        self._touch(order)
        self._emit_key("customer_invoice.created", invoice.number)
        self._emit_key("order.updated", order.number)
        if book:
            self.book_invoice(invoice)
        return invoice

    def invoice(self, number: Any) -> Invoice:
        """The customer invoice with this number; 404 otherwise."""
        return lookup(self.invoices, number, "Customer invoice")

    def book_invoice(self, invoice: Invoice) -> Invoice:
        """Book an invoice; with ``stock_deducted_on="invoice"`` this takes the stock."""
        if invoice.is_booked:
            raise refused("The invoice is already booked.")
        order = self.orders.get(invoice.order)
        for line_id, _qty in invoice.line_refs:
            line = next((ln for ln in order.lines if ln.id == line_id), None) if order else None
            item = self.items.get(line.item) if line else None
            if item is not None and item.is_barred:
                raise refused(f"Product '{item.number}' is barred.")
        if invoice.is_credit_note:
            self._book_credit_note(invoice)
            invoice.is_booked = True
            invoice.booked_at = self.now()
            self._touch(invoice)
            self._emit_key("customer_invoice.booked", invoice.number)
            return invoice
        invoice.is_booked = True
        invoice.booked_at = self.now()
        self._touch(invoice)
        if self.stock_deducted_on == "invoice" and order is not None:
            for line in order.lines:
                item = self.items.get(line.item)
                left = line.quantity - line.deducted
                if item is not None and left > 0:
                    loc = (
                        line.stock_location
                        if line.stock_location is not None
                        else self._line_location(line, item)
                    )
                    self._deduct(item, line, loc, left)
            self._touch(order)
            self._emit_key("order.updated", order.number)
        self._emit_key("customer_invoice.booked", invoice.number)
        return invoice

    # -- credit notes -------------------------------------------------------------------------

    def create_creditnote(self, invoice: Invoice) -> Invoice:
        """``POST /customer-invoices/{n}/create-creditnote``: a DRAFT credit note for the whole
        invoice (its lines copied), to be edited (``PUT``) and booked like an invoice."""
        if invoice.is_credit_note:
            raise refused("A credit note can't be credited.")
        if not invoice.is_booked:
            raise refused("The invoice is not booked and can't be credited.")
        now = self.now()
        self._invoice_high += 1
        note = Invoice(
            now, now, self.next_id("invoice"), self._invoice_high, invoice.order,
            invoice.customer, invoice.currency, invoice.vat_zone,
            f"Credit note for invoice {invoice.number}", invoice.other_reference,
            [dict(ln) for ln in invoice.lines], [], invoice.total_subtotal, invoice.total_vat,
            invoice.total_total, now.date().isoformat(), now.date().isoformat(),
            is_credit_note=True, credited_invoice=invoice.number,
        )  # fmt: skip
        self.invoices[note.number] = note
        self._emit_key("customer_invoice.created", note.number)
        return note

    def update_invoice(self, invoice: Invoice, payload: Mapping[str, Any]) -> Invoice:
        """``PUT /customer-invoices/{n}``: header and lines of a draft (booked ones are locked).

        ``lines`` replaces every line; each needs a known ``item_id`` and a positive quantity.
        """
        if invoice.is_booked:
            raise refused("The invoice is booked and can't be updated.")
        v = Validator(payload)
        for key in ("heading", "other_reference"):
            if key in payload:
                value = payload[key]
                if value is not None and not isinstance(value, str):
                    v.fail(key, f"The {key.replace('_', ' ')} must be a string.")
        lines: list[JSON] | None = None
        if "lines" in payload:
            raw = payload["lines"]
            if not isinstance(raw, list) or not raw:
                v.fail("lines", "The lines must be a non-empty list.")
            else:
                lines = []
                for i, ln in enumerate(raw):
                    line = self._invoice_line(v, i, ln if isinstance(ln, Mapping) else {})
                    if line is not None:
                        lines.append(line)
        v.check()
        if "heading" in payload:
            invoice.heading = payload["heading"]
        if "other_reference" in payload:
            invoice.other_reference = payload["other_reference"]
        if "stock_returned" in payload:
            invoice.stock_returned = bool(payload["stock_returned"])
        if lines is not None:
            invoice.lines = lines
            sub = vat = Decimal(0)
            for ln in lines:
                sub += Decimal(repr(ln["line_total"]))
                vat += Decimal(repr(ln["vat_amount"]))
            invoice.total_subtotal, invoice.total_vat = money(sub), money(vat)
            invoice.total_total = money(sub + vat)
        self._touch(invoice)
        self._emit_key("customer_invoice.updated", invoice.number)
        return invoice

    def _invoice_line(self, v: Validator, index: int, raw: Mapping[str, Any]) -> JSON | None:
        key = f"lines.{index}"
        item = self.find_item(raw.get("item_id"))
        if item is None:
            v.fail(f"{key}.item_id", "The selected item is invalid.")
            return None
        numbers: dict[str, float] = {}
        for name in ("quantity", "line_price", "discount_percentage", "vat_percentage"):
            value = raw.get(name, 0)
            if isinstance(value, bool) or not isinstance(value, int | float):
                v.fail(f"{key}.{name}", f"The {name.replace('_', ' ')} must be a number.")
                return None
            numbers[name] = float(value)
        if numbers["quantity"] <= 0:
            v.fail(f"{key}.quantity", "The quantity must be greater than 0.")
            return None
        loc = to_int(raw.get("location_id"))
        if raw.get("location_id") is not None and loc not in self.locations:
            v.fail(f"{key}.location_id", "The selected location is invalid.")
            return None
        line = OrderLine(0, item.id, str(raw.get("name") or item.name), numbers["quantity"],
                         numbers["line_price"], numbers["discount_percentage"],
                         numbers["vat_percentage"], location=loc,
                         price_is_total=self.line_price_is_total)
        return {
            "child_id": item.number, "child_type": item.type, "item_id": item.number,
            "name": line.name, "quantity": line.quantity, "line_price": line.line_price,
            "discount_percentage": line.discount_percentage,
            "vat_percentage": line.vat_percentage, "line_total": line.total(),
            "vat_amount": line.vat_amount(), "location_id": loc,
        }

    def _credited(self, invoice_number: int, *, besides: int | None = None) -> dict[str, float]:
        """Item number -> quantity the booked credit notes of an invoice credit."""
        out: dict[str, float] = {}
        for note in self.invoices.values():
            if note.credited_invoice == invoice_number and note.is_booked \
                    and note.number != besides:
                for ln in note.lines:
                    out[str(ln["item_id"])] = out.get(str(ln["item_id"]), 0.0) + ln["quantity"]
        return out

    def _book_credit_note(self, note: Invoice) -> None:
        """Guards and stock of booking a credit note: never more units of an invoiced item than
        invoiced."""
        original = self.invoices.get(note.credited_invoice or 0)
        if original is None:
            raise refused("The credited invoice no longer exists.")
        invoiced: dict[str, float] = {}
        for ln in original.lines:
            invoiced[str(ln["item_id"])] = invoiced.get(str(ln["item_id"]), 0.0) + ln["quantity"]
        credited = self._credited(original.number, besides=note.number)
        for ln in note.lines:
            number = str(ln["item_id"])
            credited[number] = credited.get(number, 0.0) + ln["quantity"]
            # An item not on the invoice (a refund item for money back on no line) is not
            # limited: only what was invoiced can be credited too often.
            if number in invoiced and credited[number] > invoiced[number] + 1e-9:
                raise refused(f"Item '{number}' would be credited more times than invoiced.")
        if note.stock_returned:
            for ln in note.lines:
                item = self.find_item(ln["item_id"])
                if item is None or (not self.has_inventory(item) and item.type != "lot"):
                    continue
                loc = to_int(ln.get("location_id"))
                if loc is None:
                    fallback = self.default_location()
                    loc = item.default_location if item.default_location in self.locations \
                        else (fallback.number if fallback else None)
                if loc is not None:
                    self._move(item, loc, on_hand=float(ln["quantity"]))

    def delete_invoice(self, invoice: Invoice) -> None:
        """``DELETE /customer-invoices/{n}``: drafts only."""
        if invoice.is_booked:
            raise refused("The invoice is booked and can't be deleted.")
        del self.invoices[invoice.number]
        self._emit_key("customer_invoice.deleted", invoice.number)

    @staticmethod
    def totals(lines: Iterable[OrderLine]) -> tuple[float, float, float]:
        """(subtotal ex VAT, VAT, total incl. VAT): each line rounded to cents, then summed."""
        sub = Decimal(0)
        vat = Decimal(0)
        for ln in lines:
            sub += Decimal(repr(ln.total()))
            vat += Decimal(repr(ln.vat_amount()))
        return money(sub), money(vat), money(sub + vat)

    def line_json(self, line: OrderLine) -> JSON:
        """An order line as the API shows it, with its rounded totals."""
        item = self.items.get(line.item)
        loc_no = line.location if line.location is not None else line.stock_location
        loc = self.locations.get(loc_no) if loc_no is not None else None
        return {
            "id": line.id,
            "child_id": item.number if item else None,
            "child_type": item.type if item else None,
            "item_id": item.number if item else None,
            "item": {"number": item.number, "name": item.name, "barcode": item.barcode}
            if item
            else None,
            "name": line.name,
            "quantity": line.quantity,
            "line_price": line.line_price,
            "discount_percentage": line.discount_percentage,
            "vat_percentage": line.vat_percentage,
            "line_total": line.total(),
            "vat_amount": line.vat_amount(),
            "location_id": line.location,
            "location": {"number": loc.number, "name": loc.name} if loc else None,
            "unit_id": line.unit,
            "variations": [],
            "shipped_quantity": line.shipped,
        }

    def order_json(self, order: Order) -> JSON:
        """An order as the API shows it: header, lines, totals, flags."""
        cust = self.customers.get(order.customer)
        subtotal, vat, total = self.totals(order.lines)
        shipped = order.is_shipped
        return {
            "id": order.id,
            "number": order.number,
            "customer_id": order.customer,
            "customer": (
                {"number": cust.number, "name": cust.name, "contact_email": cust.contact_email}
                if cust
                else None
            ),
            "layout_id": order.layout,
            "employee_id": order.employee,
            "our_reference_id": order.our_reference,
            "your_reference_id": order.your_reference,
            "payment_terms_id": order.payment_terms,
            **{k: order.header.get(k) for k in HEADER_STRINGS},
            "currency": order.currency,
            "currency_rate": order.currency_rate,
            "vat_zone": order.vat_zone,
            "order_date": order.order_date,
            "deliver_at": order.deliver_at,
            **{f"address_{p}": order.billing.get(p) for p in ADDRESS_PARTS},
            **{f"delivery_address_{p}": order.delivery.get(p) for p in ADDRESS_PARTS},
            "billing_address": {p: order.billing.get(p) for p in ADDRESS_PARTS},
            "delivery_address": {p: order.delivery.get(p) for p in ADDRESS_PARTS},
            "lines": [self.line_json(ln) for ln in order.lines],
            "total_subtotal": subtotal,
            "total_vat": vat,
            "total_total": total,
            "is_booked": order.is_booked,
            "is_ready_for_shipping": order.is_booked and not shipped,
            "is_shipped": shipped,
            "is_partly_shipped": order.is_partly_shipped,
            "is_ready_for_invoicing": order.is_booked and not order.is_invoiced,
            "is_invoiced": order.is_invoiced,
            "is_partly_invoiced": False,
            "is_cancelled": order.is_cancelled,
            "is_archived": order.is_archived,
            "booked_at": iso(order.booked_at) if order.booked_at else None,
            "shipped_at": iso(order.shipped_at) if order.shipped_at else None,
            "invoiced_at": iso(order.invoiced_at) if order.invoiced_at else None,
            "cancelled_at": None,
            "finished_at": None,
            "created_at": iso(order.created_at),
            "updated_at": iso(order.updated_at),
        }

    def shipment_json(self, shipment: Shipment) -> JSON:
        """A shipment as the API shows it (key ``order_shipment``)."""
        lines = []
        for sl in shipment.lines:
            item = self.items.get(sl.item)
            lines.append(
                {
                    "id": sl.id,
                    "line_id": sl.line,
                    "child_id": item.number if item else None,
                    "child_type": item.type if item else None,
                    "location_id": sl.location,
                    "quantity": sl.quantity,
                    "is_picked": sl.is_picked,
                }
            )
        return {
            "id": shipment.id,
            "order": {"number": shipment.order},
            "order_number": shipment.order,
            "is_picked": shipment.is_picked,
            "is_partly_picked": not shipment.is_picked
            and any(sl.is_picked for sl in shipment.lines),
            "is_shipped": shipment.is_shipped,
            "shipped_at": iso(shipment.shipped_at) if shipment.shipped_at else None,
            "tracking_number": shipment.tracking_number,
            "tracking_url": shipment.tracking_url,
            "carrier": shipment.carrier,
            "lines": lines,
            "created_at": iso(shipment.created_at),
            "updated_at": iso(shipment.updated_at),
        }

    def invoice_json(self, invoice: Invoice) -> JSON:
        """A customer invoice as the API shows it."""
        cust = self.customers.get(invoice.customer)
        return {
            "id": invoice.id,
            "number": invoice.number,
            "order_id": invoice.order,
            "order": {"number": invoice.order},
            "customer_id": invoice.customer,
            "customer": {"number": cust.number, "name": cust.name} if cust else None,
            "currency": invoice.currency,
            "vat_zone": invoice.vat_zone,
            "heading": invoice.heading,
            "other_reference": invoice.other_reference,
            "invoice_date": invoice.invoice_date,
            "due_date": invoice.due_date,
            "lines": [dict(ln) for ln in invoice.lines],
            "total_subtotal": invoice.total_subtotal,
            "total_vat": invoice.total_vat,
            "total_total": invoice.total_total,
            "balance": invoice.total_total,
            "is_booked": invoice.is_booked,
            "is_credit_note": invoice.is_credit_note,
            "credited_invoice_id": invoice.credited_invoice,
            "stock_returned": invoice.stock_returned,
            "is_paid": False,
            "booked_at": iso(invoice.booked_at) if invoice.booked_at else None,
            "created_at": iso(invoice.created_at),
            "updated_at": iso(invoice.updated_at),
        }
