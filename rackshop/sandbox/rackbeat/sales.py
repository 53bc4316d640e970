"""Customers and orders of a Rackbeat account: customer records and numbering, orders and their
lines, booking (reservations), reopening, shipments and the stock they take."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .inventory import InventoryAccount
from .records import (
    ADDRESS_PARTS,
    HEADER_STRINGS,
    VAT_ZONES,
    Customer,
    Item,
    Order,
    OrderLine,
    Shipment,
    ShipmentLine,
    apply_values,
    iso,
    lookup,
)
from .validation import JSON, Validator, invalid, not_found, refused, to_int


class SalesAccount(InventoryAccount):
    """An account's customers and orders, on top of its inventory."""

    # -- customers --------------------------------------------------------------------------

    def customer(self, number: Any) -> Customer:
        """The customer with this number; 404 otherwise."""
        return lookup(self.customers, number, "Customer")

    def create_customer(self, payload: Mapping[str, Any]) -> Customer:
        """``POST /customers``: the number is the next free one when omitted."""
        v = Validator(payload)
        number = v.integer("number", min_value=1)
        if number is not None and number in self.customers:
            v.fail("number", "The number has already been taken.")
        key = "name" if payload.get("name") is not None else "company_name"
        name = v.string(key, max_len=255)
        if name is None and not v.errors.get(key):
            v.fail("name", "The {attr} field is required.")
        values = self._customer_fields(v)
        v.check()
        assert name is not None
        if number is None:
            number = max([self.customer_number_start - 1, *self.customers]) + 1
        now = self.now()
        cust = Customer(now, now, self.next_id("customer"), number, name)
        apply_values(cust, values, merged="address")
        self.customers[number] = cust
        self._emit_key("customer.created", number)
        return cust

    def update_customer(self, cust: Customer, payload: Mapping[str, Any]) -> Customer:
        """``PUT /customers/{number}``: partial update."""
        v = Validator(payload)
        key = "name" if payload.get("name") is not None else "company_name"
        name = v.string(key)
        values = self._customer_fields(v)
        v.check()
        if name is not None:
            cust.name = name
        apply_values(cust, values, merged="address")
        self._touch(cust)
        self._emit_key("customer.updated", cust.number)
        return cust

    def _zone_and_currency(self, v: Validator, out: JSON) -> None:
        """``vat_zone`` (one of :data:`VAT_ZONES`) and ``currency`` (a known code, upper case)
        of a customer or an order, into ``out`` when given."""
        zone = v.one_of("vat_zone", VAT_ZONES)
        if zone is not None:
            out["vat_zone"] = zone
        currency = v.string("currency")
        if currency is not None:
            if currency.upper() not in self.lookups.currencies:
                v.fail("currency", "The selected {attr} is invalid.")
            out["currency"] = currency.upper()

    def _lookup_refs(
        self, v: Validator, out: JSON, refs: Iterable[tuple[str, str, Mapping[int, Any]]]
    ) -> None:
        """Each ``(key, attr, table)``: the payload's ``key``, a number in ``table``, as
        ``out[attr]`` (left out when the payload has no such key)."""
        for key, attr, table in refs:
            value = self._lookup_ref(v, key, table)
            if value is not None:
                out[attr] = value

    def _lookup_ref(self, v: Validator, key: str, table: Mapping[int, Any]) -> int | None:
        value = v.integer(key)
        if value is not None and value not in table:
            v.fail(key, "The selected {attr} is invalid.")
            return None
        return value

    def _customer_fields(self, v: Validator) -> JSON:
        out: JSON = {}
        data = v.data
        if "contact_email" in data:
            out["contact_email"] = v.email("contact_email")
        for key in ("contact_phone", "ean", "company_vat"):
            if key in data:
                out[key] = v.string(key)
        for part in ("street", "street2", "city", "zipcode", "country", "state"):
            if f"address_{part}" in data:
                out.setdefault("address", {})[part] = v.string(f"address_{part}")
        self._zone_and_currency(v, out)
        locale = v.string("locale", max_len=10)
        if locale is not None:
            out["locale"] = locale
        refs = (
            ("payment_terms_id", "payment_terms", self.lookups.payment_terms),
            ("customer_group_id", "customer_group", self.lookups.customer_groups),
            ("layout_id", "layout", self.lookups.layouts),
            ("employee_id", "employee", self.lookups.employees),
        )
        self._lookup_refs(v, out, refs)
        barred = v.boolean("is_barred")
        if barred is not None:
            out["is_barred"] = barred
        discount = v.number("general_discount_percentage", min_value=0, max_value=100)
        if discount is not None:
            out["general_discount_percentage"] = discount
        return out

    def customer_json(self, cust: Customer) -> JSON:
        """A customer as the API shows it (``name`` and ``company_name`` both)."""
        terms = self.lookups.payment_terms.get(cust.payment_terms)
        group = self.lookups.customer_groups.get(cust.customer_group)
        return {
            "id": cust.id,
            "number": cust.number,
            "name": cust.name,
            "company_name": cust.name,
            "contact_email": cust.contact_email,
            "contact_phone": cust.contact_phone,
            **{
                f"address_{p}": cust.address.get(p)
                for p in ("street", "street2", "city", "zipcode", "country", "state")
            },
            "vat_zone": cust.vat_zone,
            "currency": cust.currency,
            "locale": cust.locale,
            "payment_terms_id": cust.payment_terms,
            "payment_terms": dict(terms) if terms else None,
            "customer_group_id": cust.customer_group,
            "customer_group": dict(group) if group else None,
            "layout_id": cust.layout,
            "employee_id": cust.employee,
            "ean": cust.ean,
            "company_vat": cust.company_vat,
            "is_barred": cust.is_barred,
            "general_discount_percentage": cust.general_discount_percentage,
            "created_at": iso(cust.created_at),
            "updated_at": iso(cust.updated_at),
        }

    def add_customer_address(self, cust: Customer, payload: Mapping[str, Any]) -> JSON:
        """``POST /customers/{n}/addresses``."""
        v = Validator(payload)
        kind = v.one_of("type", ("delivery", "invoice"), required=True)
        parts = {p: v.string(p) for p in ADDRESS_PARTS if p in payload}
        v.check()
        address: JSON = {"id": self.next_id("address"), "type": kind, **parts}
        cust.addresses.append(address)
        self._touch(cust)
        return address

    def add_customer_contact(self, cust: Customer, payload: Mapping[str, Any]) -> JSON:
        """``POST /customers/{n}/contacts``."""
        v = Validator(payload)
        name = v.string("name", required=True)
        email = v.email("contact_email")
        phone = v.string("contact_phone")
        role = v.string("role")
        v.check()
        contact: JSON = {
            "number": len(cust.contacts) + 1,
            "name": name,
            "role": role,
            "contact_email": email,
            "contact_phone": phone,
            **{
                k: bool(payload.get(k, False))
                for k in ("cc_order", "cc_offer", "cc_invoice", "cc_delivery_note")
            },
        }
        cust.contacts.append(contact)
        self._touch(cust)
        return contact

    # -- orders -----------------------------------------------------------------------------

    def order(self, number: Any) -> Order:
        """The order with this number; 404 otherwise."""
        return lookup(self.orders, number, "Order")

    def create_order(self, payload: Mapping[str, Any]) -> Order:
        """``POST /orders/drafts`` (and ``POST /orders``): an unbooked order."""
        v = Validator(payload)
        cust: Customer | None = None
        cust_no = to_int(payload.get("customer_id"))
        if payload.get("customer_id") is None:
            v.fail("customer_id", "The {attr} field is required.")
        elif cust_no is None or cust_no not in self.customers:
            v.fail("customer_id", "The selected Customer is invalid.")
        else:
            cust = self.customers[cust_no]
            if cust.is_barred:
                v.fail("customer_id", f"Customer '{cust.number}' is barred.")
        number = v.integer("number", min_value=1)
        if number is not None and number in self.orders:
            v.fail("number", "The number has already been taken.")
        header = self._order_header(v)
        zone = header.get("vat_zone") or (cust.vat_zone if cust else "domestic")
        lines = []
        for i, raw in enumerate(v.array("lines") or []):
            if not isinstance(raw, Mapping):
                v.fail(f"lines.{i}", "The {attr} must be an array.")
                continue
            line = self._order_line(v.sub(f"lines.{i}", raw), zone)
            if line is not None:
                lines.append(line)
        v.check()
        assert cust is not None
        if number is None:
            number = max(self._order_high, *self.orders, 0) + 1
        self._order_high = max(self._order_high, number)
        now = self.now()
        order = Order(
            now,
            now,
            self.next_id("order"),
            number,
            cust.number,
            currency=cust.currency,
            vat_zone=cust.vat_zone,
            order_date=self.today(),
            layout=cust.layout,
            employee=cust.employee,
            payment_terms=cust.payment_terms,
        )
        order.billing = {
            "name": cust.name,
            **{
                p: cust.address.get(p)
                for p in ("street", "street2", "city", "zipcode", "country", "state")
            },
            "email": cust.contact_email,
            "phone": cust.contact_phone,
        }
        self._apply_order_header(order, header)
        order.lines = lines
        self.orders[number] = order
        self._emit_key("order.created", number)
        return order

    def _order_header(self, v: Validator) -> JSON:
        data = v.data
        out: JSON = {}
        self._zone_and_currency(v, out)
        rate = v.number("currency_rate", gt=0)
        if rate is not None:
            out["currency_rate"] = rate
        for key in ("order_date", "deliver_at"):
            day = v.day(key)
            if day is not None:
                out[key] = day
        for key in HEADER_STRINGS:
            if key in data:
                out.setdefault("header", {})[key] = v.string(key, max_len=65535)
        refs = (
            ("layout_id", "layout", self.lookups.layouts),
            ("employee_id", "employee", self.lookups.employees),
            ("our_reference_id", "our_reference", self.lookups.employees),
            ("payment_terms_id", "payment_terms", self.lookups.payment_terms),
        )
        self._lookup_refs(v, out, refs)
        your_ref = v.integer("your_reference_id")
        if your_ref is not None:
            out["your_reference"] = your_ref
        for prefix, target in (("address_", "billing"), ("delivery_address_", "delivery")):
            for part in ADDRESS_PARTS:
                if f"{prefix}{part}" in data:
                    out.setdefault(target, {})[part] = v.string(f"{prefix}{part}")
        for key, target in (("billing_address", "billing"), ("delivery_address", "delivery")):
            nested = v.obj(key)
            if nested:
                sv = v.sub(key, nested)
                for part in ADDRESS_PARTS:
                    if part in nested:
                        out.setdefault(target, {})[part] = sv.string(part)
        return out

    def _apply_order_header(self, order: Order, header: Mapping[str, Any]) -> None:
        for key, value in header.items():
            if key in ("header", "billing", "delivery"):
                getattr(order, key).update(value)
            else:
                setattr(order, key, value)

    def _order_line(self, lv: Validator, zone: str) -> OrderLine | None:
        """Validate one order line (``lv`` reports under ``lines.N.``)."""
        raw = lv.data
        number = raw.get("item_id")
        item = self.find_item(number)
        if number is None or (isinstance(number, str) and not number.strip()):
            lv.fail("item_id", "Product needed")
        elif item is None:
            lv.fail("item_id", "The selected {attr} is invalid.")
        elif item.is_barred:
            lv.fail("item_id", f"Product '{item.number}' is barred.")
            item = None
        quantity = lv.number("quantity", required=True, gt=0)
        price = lv.number("line_price")
        discount = lv.number("discount_percentage", min_value=0, max_value=100)
        vat = lv.number("vat_percentage", min_value=0, max_value=100)
        name = lv.string("name", max_len=65535)
        loc = lv.integer("location_id")
        if loc is not None and loc not in self.locations:
            lv.fail("location_id", "The selected {attr} is invalid.")
        unit = lv.integer("unit_id")
        if item is None or quantity is None:
            return None
        return OrderLine(
            id=self.next_id("line"),
            item=item.id,
            name=name if name is not None else item.name,
            quantity=quantity,
            line_price=price if price is not None else item.sales_price,
            discount_percentage=discount or 0.0,
            vat_percentage=vat if vat is not None else self.groups[item.group].vat(zone),
            location=loc,
            unit=unit if unit is not None else item.unit,
            price_is_total=self.line_price_is_total,
        )

    def update_order(self, order: Order, payload: Mapping[str, Any]) -> Order:
        """``PUT /orders/{number}``: header fields of a draft (lines are ignored here)."""
        if order.is_booked:
            raise refused("The order is booked and can't be updated.")
        v = Validator(payload)
        if "customer_id" in payload:
            cust_no = to_int(payload["customer_id"])
            if cust_no is None or cust_no not in self.customers:
                v.fail("customer_id", "The selected Customer is invalid.")
        header = self._order_header(v)
        v.check()
        if "customer_id" in payload:
            order.customer = int(payload["customer_id"])
        self._apply_order_header(order, header)
        self._touch(order)
        self._emit_key("order.updated", order.number)
        return order

    def add_order_line(self, order: Order, payload: Mapping[str, Any]) -> OrderLine:
        """``POST /orders/{n}/lines``: drafts only."""
        if order.is_booked:
            raise refused("The order is booked and its lines are locked.")
        v = Validator(payload)
        line = self._order_line(v, order.vat_zone)
        v.check()
        assert line is not None
        order.lines.append(line)
        self._touch(order)
        self._emit_key("order.updated", order.number)
        return line

    def order_line(self, order: Order, ident: Any) -> OrderLine:
        """The line with this id on the order; 404 otherwise."""
        key = to_int(ident)
        for line in order.lines:
            if line.id == key:
                return line
        raise not_found("Order line", ident)

    def update_order_line(
        self, order: Order, line: OrderLine, payload: Mapping[str, Any]
    ) -> OrderLine:
        """``PUT /orders/{n}/lines/{id}``: booked orders lock their lines."""
        if order.is_booked:
            raise refused("The order is booked and its lines are locked.")
        item = self.items[line.item]
        merged = {
            "item_id": item.number,
            "quantity": line.quantity,
            "discount_percentage": line.discount_percentage,
            "location_id": line.location,
            **payload,
        }
        # Swapping the item without a price takes the new item's sales price, as the real
        # service does (reference 2.5, GYTIS); otherwise the line keeps its price.
        if "line_price" not in payload and "item_id" not in payload:
            merged["line_price"] = line.line_price
        if "vat_percentage" not in payload and "item_id" not in payload:
            merged["vat_percentage"] = line.vat_percentage
        if "name" not in payload and "item_id" not in payload:
            merged["name"] = line.name
        v = Validator(merged)
        new = self._order_line(v, order.vat_zone)
        v.check()
        assert new is not None
        new.id = line.id
        order.lines[order.lines.index(line)] = new
        self._touch(order)
        self._emit_key("order.updated", order.number)
        return new

    def delete_order_line(self, order: Order, line: OrderLine) -> None:
        """``DELETE /orders/{n}/lines/{id}``: drafts only."""
        if order.is_booked:
            raise refused("The order is booked and its lines are locked.")
        order.lines.remove(line)
        self._touch(order)
        self._emit_key("order.updated", order.number)

    def delete_order(self, order: Order) -> None:
        """``DELETE /orders/{number}``: drafts only."""
        if order.is_booked:
            raise refused("The order is booked and can't be deleted.")
        if order.is_invoiced:
            raise refused("The order is invoiced and can't be deleted.")
        del self.orders[order.number]
        self._emit_key("order.deleted", order.number)

    def _line_location(self, line: OrderLine, item: Item) -> int:
        if line.location is not None:
            return line.location
        if item.default_location is not None and item.default_location in self.locations:
            return item.default_location
        default = self.default_location()
        if default is None:
            raise refused("No location given on the line and the account has no locations.")
        return default.number

    def book_order(self, order: Order) -> Order:
        """``POST /orders/{number}/book``: reserve stock (in order up, available down)."""
        if order.is_booked:
            raise refused("The order is already booked.")
        for line in order.lines:
            item = self.items.get(line.item)
            if item is None:
                raise refused(f"The item of line {line.id} no longer exists.")
            if item.is_barred:
                raise refused(f"Product '{item.number}' is barred.")
        for line in order.lines:
            item = self.items[line.item]
            line.stock_location = self._line_location(line, item)
            self._move(item, line.stock_location, reserved=line.quantity - line.deducted)
        order.is_booked = True
        order.booked_at = self.now()
        self._touch(order)
        self._emit_key("order.booked", order.number)
        self._emit_key("order.updated", order.number)
        return order

    def reopen_order(self, order: Order) -> Order:
        """``POST /orders/{number}/reopen``: back to draft, releasing the reservation."""
        if not order.is_booked:
            raise refused("The order is not booked.")
        if order.is_invoiced:
            raise refused("The order is invoiced and can't be reopened.")
        if any(s.order == order.number for s in self.shipments.values()):
            raise refused("The order has shipments and can't be reopened.")
        self._release(order)
        order.is_booked = False
        order.booked_at = None
        self._touch(order)
        self._emit_key("order.updated", order.number)
        return order

    def _release(self, order: Order) -> None:
        for line in order.lines:
            item = self.items.get(line.item)
            left = line.quantity - line.deducted
            if item is not None and line.stock_location is not None and left:
                self._move(item, line.stock_location, reserved=-left)

    def create_shipment(self, order: Order, payload: Mapping[str, Any] | None = None) -> Shipment:
        """``POST /orders/{number}/create-shipment``: everything not yet in a shipment, or the
        ``lines`` named (``[{"line_id": id, "quantity": q}]``: a partial shipment), with the
        tracking fields of :meth:`set_tracking`."""
        if not order.is_booked:
            raise refused("The order is not booked.")
        if order.is_shipped:
            raise refused("The order is already shipped.")
        payload = payload or {}
        wanted: dict[int, float] | None = None
        if payload.get("lines") is not None:
            wanted = {}
            for i, row in enumerate(payload.get("lines") or []):
                line_id = to_int((row or {}).get("line_id"))
                qty = float((row or {}).get("quantity") or 0)
                if line_id is None or not any(ln.id == line_id for ln in order.lines) or qty <= 0:
                    raise invalid({f"lines.{i}": ["Choose an order line and a quantity above 0."]})
                wanted[line_id] = wanted.get(line_id, 0.0) + qty
        now = self.now()
        shipment = Shipment(now, now, self.next_id("shipment"), order.number)
        for line in order.lines:
            left = line.quantity - line.shipped - line.in_shipment
            if wanted is not None:
                if line.id not in wanted:
                    continue
                if wanted[line.id] > left:
                    raise refused(f"Line {line.id} has only {left:g} left to ship.")
                left = wanted[line.id]
            if left <= 0:
                continue
            item = self.items[line.item]
            loc = (
                line.stock_location
                if line.stock_location is not None
                else self._line_location(line, item)
            )
            shipment.lines.append(
                ShipmentLine(self.next_id("shipment_line"), line.id, item.id, loc, left)
            )
            line.in_shipment += left
        if not shipment.lines:
            raise refused("The order has nothing left to ship.")
        self.set_tracking(shipment, payload)
        self.shipments[shipment.id] = shipment
        self._touch(order)
        self._emit_key("order.updated", order.number)
        return shipment

    @staticmethod
    def set_tracking(shipment: Shipment, payload: Mapping[str, Any]) -> None:
        """Take ``tracking_number`` (several: comma-separated), ``tracking_url`` and ``carrier``
        from a request body, where given (the twin's choice: docs/sandbox-rackbeat.md)."""
        for key in ("tracking_number", "tracking_url", "carrier"):
            if payload.get(key) is not None:
                setattr(shipment, key, str(payload[key]))

    def shipment(self, ident: Any) -> Shipment:
        """The shipment with this id; 404 otherwise."""
        return lookup(self.shipments, ident, "Order shipment")

    def mark_shipped(self, shipment: Shipment, payload: Mapping[str, Any]) -> Shipment:
        """``POST /orders/shipments/{id}/mark-shipped``: deduct stock (in shipment mode)."""
        if shipment.is_shipped:
            raise refused("The shipment is already shipped.")
        v = Validator(payload)
        pick = v.boolean("pick")
        v.check()
        if pick:
            for sl in shipment.lines:
                sl.is_picked = True
        if not shipment.is_picked:
            raise refused('The shipment is not picked. Pick it first, or send {"pick": true}.')
        self.set_tracking(shipment, payload)
        order = self.orders[shipment.order]
        for sl in shipment.lines:
            line = next(ln for ln in order.lines if ln.id == sl.line)
            line.in_shipment -= sl.quantity
            line.shipped += sl.quantity
            item = self.items.get(sl.item)
            if (
                self.stock_deducted_on == "shipment"
                and item is not None
                and sl.location is not None
            ):
                self._deduct(item, line, sl.location, sl.quantity)
        shipment.is_shipped = True
        shipment.shipped_at = self.now()
        self._touch(shipment)
        if order.is_shipped:
            order.shipped_at = shipment.shipped_at
        self._touch(order)
        self._emit_key("order.updated", order.number)
        return shipment

    def _deduct(self, item: Item, line: OrderLine, loc: int, quantity: float) -> None:
        """Take stock off on-hand, and off the reservation while the order holds one."""
        held = line.stock_location if line.stock_location is not None else loc
        if held == loc:
            self._move(item, loc, on_hand=-quantity, reserved=-quantity)
        else:
            self._move(item, held, reserved=-quantity)
            self._move(item, loc, on_hand=-quantity)
        line.deducted += quantity
