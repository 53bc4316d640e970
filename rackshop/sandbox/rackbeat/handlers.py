"""The Rackbeat twin's REST handlers, one method per route (routes.py names them): the account,
locations, product groups, lookups, items and BOMs, stock, adjustments, customers, orders,
shipments, invoices and webhooks, each turning a request into calls on the
:class:`~.model.Account` and its records into the API's JSON."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import tzinfo
from typing import Any, TypeVar

from rackshop.sandbox.base import Request, Response, json_response

from .model import Account
from .query import ListSpec, filter_records, page_body, parse_fields, parse_page, select
from .records import (
    Adjustment,
    Customer,
    Invoice,
    Item,
    Location,
    Order,
    ProductGroup,
    Shipment,
    Webhook,
)
from .validation import JSON, TRUE_STRINGS, ApiError, to_int
from .webhooks import WebhookDispatcher, is_local_url

T = TypeVar("T")


def _stamps(getters: dict[str, Callable[[Any], Any]]) -> dict[str, Callable[[Any], Any]]:
    getters.setdefault("created_at", lambda r: r.created_at)
    getters.setdefault("updated_at", lambda r: r.updated_at)
    return getters


def _key_getter(name: str) -> Callable[[JSON], Any]:
    def get(record: JSON) -> Any:
        """The value of one key of a dict record."""
        return record.get(name)

    return get


def _dict_spec(
    key: str, order: str, filterable: Iterable[str], search: Iterable[str] = ()
) -> ListSpec[JSON]:
    """A list spec for records that are plain dicts (lookups, per-location stock...)."""
    names = set(filterable) | set(search) | {order}
    return ListSpec(
        key,
        {name: _key_getter(name) for name in names},
        tuple(search),
        frozenset(filterable),
        order,
    )


class RestHandlers:
    """The handlers; :class:`~.app.RackbeatTwin` provides the state they read."""

    account: Account
    tz: tzinfo
    webhooks: WebhookDispatcher
    account_id: int
    company_name: str

    # -- helpers -----------------------------------------------------------------------------

    def _list(
        self, req: Request, spec: ListSpec[T], records: Iterable[T], serialize: Callable[[T], JSON]
    ) -> Response:
        page = parse_page(req.query)
        rows = filter_records(req.query, spec, records, self.tz)
        return json_response(
            206, page_body(spec.key, rows, page, serialize, parse_fields(req.arg("fields")))
        )

    @staticmethod
    def _one(req: Request, key: str, record: JSON, status: int = 200) -> Response:
        return json_response(status, {key: select(record, parse_fields(req.arg("fields")))})

    def _webhook_json(self, hook: Webhook, *, token: bool = False) -> JSON:
        out: JSON = {
            "id": hook.id,
            "event": hook.event,
            "url": hook.url,
            "is_active": hook.is_active,
            "plugin": None,
            "failures_since_last_success": self.webhooks.failures(hook.id),
            # The documented example shows this format for webhooks (not ISO-8601).
            "created_at": hook.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            "updated_at": hook.updated_at.strftime("%Y-%m-%d %H:%M:%S"),
        }
        if token:
            out["token"] = hook.token
        return out

    # -- list specs ------------------------------------------------------------------------

    def _item_spec(self, key: str) -> ListSpec[Item]:
        acc = self.account
        getters: dict[str, Callable[[Any], Any]] = _stamps(
            {
                "id": lambda i: i.id,
                "number": lambda i: i.number,
                "name": lambda i: i.name,
                "barcode": lambda i: i.barcode,
                "type": lambda i: i.type,
                "group_id": lambda i: i.group,
                "is_barred": lambda i: i.is_barred,
                "sales_price": lambda i: i.sales_price,
                "stock_quantity": lambda i: acc.quantities(i)[0],
                "available_quantity": lambda i: acc.quantities(i)[2],
            }
        )
        return ListSpec(
            key,
            getters,
            search=("number", "name", "barcode"),
            filterable=frozenset({"number", "barcode", "name", "group_id", "is_barred", "type"}),
            custom_fields=lambda i: i.field_values,
        )

    # -- handlers: account, locations, groups, lookups --------------------------------------
    # Each takes (request, path params, JSON body) and returns the answer.

    def _h_get_self(self, req: Request, p: list[str], body: JSON) -> Response:
        return json_response(
            200,
            {
                "user_account": {
                    "id": self.account_id,
                    "company_name": self.company_name,
                    "base_currency": "DKK",
                    "address": {
                        "street": "Sandboxvej 1",
                        "zipcode": "8000",
                        "city": "Aarhus",
                        "country": "DK",
                    },
                },
                "user": {"id": 1, "name": "API user", "email": "api@sandbox.invalid"},
            },
        )

    def _location_spec(self) -> ListSpec[Location]:
        return ListSpec(
            "locations",
            _stamps(
                {
                    "id": lambda r: r.id,
                    "number": lambda r: r.number,
                    "name": lambda r: r.name,
                    "parent_id": lambda r: r.parent,
                    "is_default": lambda r: r.is_default,
                }
            ),
            search=("number", "name"),
            filterable=frozenset({"number", "name", "parent_id", "is_default"}),
        )

    def _h_list_locations(self, req: Request, p: list[str], body: JSON) -> Response:
        return self._list(
            req, self._location_spec(), self.account.locations.values(), self.account.location_json
        )

    def _h_get_location(self, req: Request, p: list[str], body: JSON) -> Response:
        return self._one(req, "location", self.account.location_json(self.account.location(p[0])))

    def _h_list_location_children(self, req: Request, p: list[str], body: JSON) -> Response:
        parent = self.account.location(p[0])
        kids = [loc for loc in self.account.locations.values() if loc.parent == parent.number]
        return self._list(req, self._location_spec(), kids, self.account.location_json)

    def _group_spec(self) -> ListSpec[ProductGroup]:
        return ListSpec(
            "product_groups",
            _stamps({"id": lambda r: r.id, "number": lambda r: r.number, "name": lambda r: r.name}),
            search=("number", "name"),
            filterable=frozenset({"number", "name"}),
        )

    def _h_list_groups(self, req: Request, p: list[str], body: JSON) -> Response:
        return self._list(
            req, self._group_spec(), self.account.groups.values(), self.account.group_json
        )

    def _h_create_group(self, req: Request, p: list[str], body: JSON) -> Response:
        group = self.account.add_group(body)
        return self._one(req, "product_group", self.account.group_json(group), 201)

    def _h_get_group(self, req: Request, p: list[str], body: JSON) -> Response:
        return self._one(req, "product_group", self.account.group_json(self.account.group(p[0])))

    def _h_update_group(self, req: Request, p: list[str], body: JSON) -> Response:
        group = self.account.update_group(self.account.group(p[0]), body)
        return self._one(req, "product_group", self.account.group_json(group))

    def _lookup_list(
        self, req: Request, key: str, table: Mapping[Any, JSON], order: str = "number"
    ) -> Response:
        spec = _dict_spec(key, order, (order,), ("name",) if order == "number" else (order,))
        return self._list(req, spec, table.values(), dict)

    def _lookup_one(
        self, req: Request, key: str, table: Mapping[Any, JSON], ident: str, what: str
    ) -> Response:
        lookup = to_int(ident) if key != "currency" else ident.upper()
        if lookup not in table:
            raise ApiError(404, f"{what} {ident} not found.")
        return self._one(req, key, dict(table[lookup]))

    def _h_list_units(self, req: Request, p: list[str], body: JSON) -> Response:
        return self._lookup_list(req, "units", self.account.lookups.units)

    def _h_get_unit(self, req: Request, p: list[str], body: JSON) -> Response:
        return self._lookup_one(req, "unit", self.account.lookups.units, p[0], "Unit")

    def _h_list_customer_groups(self, req: Request, p: list[str], body: JSON) -> Response:
        return self._lookup_list(req, "customer_groups", self.account.lookups.customer_groups)

    def _h_get_customer_group(self, req: Request, p: list[str], body: JSON) -> Response:
        return self._lookup_one(
            req, "customer_group", self.account.lookups.customer_groups, p[0], "Customer group"
        )

    def _h_list_payment_terms(self, req: Request, p: list[str], body: JSON) -> Response:
        return self._lookup_list(req, "payment_terms", self.account.lookups.payment_terms)

    def _h_get_payment_terms(self, req: Request, p: list[str], body: JSON) -> Response:
        return self._lookup_one(
            req, "payment_term", self.account.lookups.payment_terms, p[0], "Payment terms"
        )

    def _h_list_layouts(self, req: Request, p: list[str], body: JSON) -> Response:
        return self._lookup_list(req, "layouts", self.account.lookups.layouts)

    def _h_get_layout(self, req: Request, p: list[str], body: JSON) -> Response:
        return self._lookup_one(req, "layout", self.account.lookups.layouts, p[0], "Layout")

    def _h_list_employees(self, req: Request, p: list[str], body: JSON) -> Response:
        return self._lookup_list(req, "employees", self.account.lookups.employees)

    def _h_get_employee(self, req: Request, p: list[str], body: JSON) -> Response:
        return self._lookup_one(req, "employee", self.account.lookups.employees, p[0], "Employee")

    def _h_list_currencies(self, req: Request, p: list[str], body: JSON) -> Response:
        return self._lookup_list(req, "currencies", self.account.lookups.currencies, "code")

    def _h_get_currency(self, req: Request, p: list[str], body: JSON) -> Response:
        return self._lookup_one(req, "currency", self.account.lookups.currencies, p[0], "Currency")

    # -- handlers: items ---------------------------------------------------------------------

    def _items_of(self, kind: str | None) -> list[Item]:
        return [i for i in self.account.items.values() if kind is None or i.type == kind]

    def _h_list_products(self, req: Request, p: list[str], body: JSON) -> Response:
        return self._list(
            req, self._item_spec("products"), self._items_of("product"), self.account.item_json
        )

    def _h_list_lots(self, req: Request, p: list[str], body: JSON) -> Response:
        return self._list(
            req, self._item_spec("lots"), self._items_of("lot"), self.account.item_json
        )

    def _h_list_items(self, req: Request, p: list[str], body: JSON) -> Response:
        return self._list(
            req, self._item_spec("items"), self._items_of(None), self.account.item_json
        )

    def _h_create_product(self, req: Request, p: list[str], body: JSON) -> Response:
        item = self.account.create_item(body, "product")
        return self._one(req, "product", self.account.item_json(item), 201)

    def _h_create_lot(self, req: Request, p: list[str], body: JSON) -> Response:
        item = self.account.create_item(body, "lot")
        return self._one(req, "lot", self.account.item_json(item), 201)

    def _h_get_product(self, req: Request, p: list[str], body: JSON) -> Response:
        return self._one(req, "product", self.account.item_json(self.account.item(p[0], "product")))

    def _h_get_lot(self, req: Request, p: list[str], body: JSON) -> Response:
        return self._one(req, "lot", self.account.item_json(self.account.item(p[0], "lot")))

    def _h_get_item(self, req: Request, p: list[str], body: JSON) -> Response:
        return self._one(req, "item", self.account.item_json(self.account.item(p[0])))

    def _h_update_product(self, req: Request, p: list[str], body: JSON) -> Response:
        item = self.account.update_item(self.account.item(p[0], "product"), body)
        return self._one(req, "product", self.account.item_json(item))

    def _h_update_lot(self, req: Request, p: list[str], body: JSON) -> Response:
        item = self.account.update_item(self.account.item(p[0], "lot"), body)
        return self._one(req, "lot", self.account.item_json(item))

    def _h_delete_product(self, req: Request, p: list[str], body: JSON) -> Response:
        item = self.account.item(p[0], "product")
        out = self.account.item_json(item)
        self.account.delete_item(item)
        return self._one(req, "product", out)

    def _h_delete_lot(self, req: Request, p: list[str], body: JSON) -> Response:
        item = self.account.item(p[0], "lot")
        out = self.account.item_json(item)
        self.account.delete_item(item)
        return self._one(req, "lot", out)

    def _h_convert_product(self, req: Request, p: list[str], body: JSON) -> Response:
        item = self.account.convert_to_lot(self.account.item(p[0], "product"), body)
        return self._one(req, "lot", self.account.item_json(item))

    def _stock_list(self, req: Request, key: str, item: Item, keys: tuple[str, ...]) -> Response:
        rows = [{k: row[k] for k in keys} for row in self.account.item_locations(item)]
        return self._list(
            req, _dict_spec(key, "number", ("number", "name"), ("number", "name")), rows, dict
        )

    _STOCK_KEYS = ("id", "number", "name", "parent_id", "stock_quantity")
    _AVAILABLE_KEYS = (
        "number",
        "name",
        "stock_quantity",
        "in_order_quantity",
        "available_quantity",
    )

    def _h_product_locations(self, req: Request, p: list[str], body: JSON) -> Response:
        item = self.account.item(p[0], "product")
        return self._stock_list(req, "product_locations", item, self._STOCK_KEYS)

    def _h_lot_locations(self, req: Request, p: list[str], body: JSON) -> Response:
        item = self.account.item(p[0], "lot")
        return self._stock_list(req, "lot_locations", item, self._STOCK_KEYS)

    def _h_item_locations(self, req: Request, p: list[str], body: JSON) -> Response:
        return self._stock_list(req, "item_locations", self.account.item(p[0]), self._STOCK_KEYS)

    def _h_item_locations_available(self, req: Request, p: list[str], body: JSON) -> Response:
        return self._stock_list(req, "locations", self.account.item(p[0]), self._AVAILABLE_KEYS)

    def _fields_list(self, req: Request, item: Item) -> Response:
        rows = self.account.field_values_json(item)
        spec = ListSpec[JSON](
            "field_values", {"id": lambda r: r["field"]["id"]}, default_order="id"
        )
        return self._list(req, spec, rows, dict)

    def _h_product_fields(self, req: Request, p: list[str], body: JSON) -> Response:
        return self._fields_list(req, self.account.item(p[0], "product"))

    def _h_item_fields(self, req: Request, p: list[str], body: JSON) -> Response:
        return self._fields_list(req, self.account.item(p[0]))

    def _h_report_checking(self, req: Request, p: list[str], body: JSON) -> Response:
        acc = self.account
        show_all = (req.arg("show_all_locations") or "").lower() in TRUE_STRINGS
        items = [i for i in acc.items.values() if i.type == "lot" or acc.has_inventory(i)]

        def row(item: Item) -> JSON:
            """One line of the stock report."""
            stock, in_order, available = acc.quantities(item)
            locs = [
                {k: loc[k] for k in self._AVAILABLE_KEYS}
                for loc in acc.item_locations(item)
                if show_all or loc["stock_quantity"] or loc["in_order_quantity"]
            ]
            return {
                "number": item.number,
                "name": item.name,
                "type": item.type,
                "barcode": item.barcode,
                "stock_quantity": stock,
                "in_order_quantity": in_order,
                "available_quantity": available,
                "updated_at": acc.item_json(item)["updated_at"],
                "locations": locs,
            }

        return self._list(req, self._item_spec("items"), items, row)

    # -- handlers: inventory adjustments -----------------------------------------------------

    def _h_list_adjustments(self, req: Request, p: list[str], body: JSON) -> Response:
        acc = self.account

        def item_no(a: Adjustment) -> str | None:
            """The number of the adjusted item."""
            item = acc.items.get(a.item)
            return item.number if item else None

        spec = ListSpec[Adjustment](
            "inventory_regulations",
            _stamps(
                {
                    "id": lambda a: a.id,
                    "item_id": item_no,
                    "location": lambda a: a.location,
                    "is_booked": lambda a: a.is_booked,
                    "reason": lambda a: a.reason,
                    "regulated_at": lambda a: a.regulated_at,
                }
            ),
            search=("item_id", "reason"),
            filterable=frozenset({"id", "item_id", "location", "is_booked", "regulated_at"}),
            default_order="id",
        )
        return self._list(req, spec, acc.adjustments.values(), acc.adjustment_json)

    def _h_create_adjustment(self, req: Request, p: list[str], body: JSON) -> Response:
        adj = self.account.create_adjustment(body)
        return self._one(req, "inventory_regulation", self.account.adjustment_json(adj), 201)

    def _h_get_adjustment(self, req: Request, p: list[str], body: JSON) -> Response:
        return self._one(
            req, "inventory_regulation", self.account.adjustment_json(self.account.adjustment(p[0]))
        )

    def _h_delete_adjustment(self, req: Request, p: list[str], body: JSON) -> Response:
        adj = self.account.adjustment(p[0])
        out = self.account.adjustment_json(adj)
        self.account.delete_adjustment(adj)
        return self._one(req, "inventory_regulation", out)

    def _h_book_adjustment(self, req: Request, p: list[str], body: JSON) -> Response:
        adj = self.account.book_adjustment(self.account.adjustment(p[0]))
        return self._one(req, "inventory_regulation", self.account.adjustment_json(adj))

    # -- handlers: customers -----------------------------------------------------------------

    def _h_list_customers(self, req: Request, p: list[str], body: JSON) -> Response:
        spec = ListSpec[Customer](
            "customers",
            _stamps(
                {
                    "id": lambda c: c.id,
                    "number": lambda c: c.number,
                    "name": lambda c: c.name,
                    "company_name": lambda c: c.name,
                    "contact_email": lambda c: c.contact_email,
                    "ean": lambda c: c.ean,
                    "company_vat": lambda c: c.company_vat,
                    "customer_group_id": lambda c: c.customer_group,
                    "is_barred": lambda c: c.is_barred,
                }
            ),
            search=("number", "name", "contact_email"),
            filterable=frozenset(
                {
                    "number",
                    "name",
                    "company_name",
                    "contact_email",
                    "ean",
                    "company_vat",
                    "customer_group_id",
                    "is_barred",
                }
            ),
        )
        return self._list(req, spec, self.account.customers.values(), self.account.customer_json)

    def _h_create_customer(self, req: Request, p: list[str], body: JSON) -> Response:
        cust = self.account.create_customer(body)
        return self._one(req, "customer", self.account.customer_json(cust), 201)

    def _h_get_customer(self, req: Request, p: list[str], body: JSON) -> Response:
        return self._one(req, "customer", self.account.customer_json(self.account.customer(p[0])))

    def _h_update_customer(self, req: Request, p: list[str], body: JSON) -> Response:
        cust = self.account.update_customer(self.account.customer(p[0]), body)
        return self._one(req, "customer", self.account.customer_json(cust))

    def _h_list_customer_addresses(self, req: Request, p: list[str], body: JSON) -> Response:
        cust = self.account.customer(p[0])
        return self._list(req, _dict_spec("addresses", "id", ("id", "type")), cust.addresses, dict)

    def _h_create_customer_address(self, req: Request, p: list[str], body: JSON) -> Response:
        address = self.account.add_customer_address(self.account.customer(p[0]), body)
        return self._one(req, "address", address, 201)

    def _h_list_customer_contacts(self, req: Request, p: list[str], body: JSON) -> Response:
        cust = self.account.customer(p[0])
        spec = _dict_spec(
            "customer_contacts", "number", ("number", "contact_email"), ("name", "contact_email")
        )
        return self._list(req, spec, cust.contacts, dict)

    def _h_create_customer_contact(self, req: Request, p: list[str], body: JSON) -> Response:
        contact = self.account.add_customer_contact(self.account.customer(p[0]), body)
        return self._one(req, "customer_contact", contact, 201)

    # -- handlers: orders --------------------------------------------------------------------

    def _h_list_orders(self, req: Request, p: list[str], body: JSON) -> Response:
        spec = ListSpec[Order](
            "orders",
            _stamps(
                {
                    "id": lambda o: o.id,
                    "number": lambda o: o.number,
                    "customer_id": lambda o: o.customer,
                    "other_reference": lambda o: o.header.get("other_reference"),
                    "heading": lambda o: o.header.get("heading"),
                    "order_date": lambda o: o.order_date,
                    "is_booked": lambda o: o.is_booked,
                    "booked_at": lambda o: o.booked_at,
                }
            ),
            search=("number", "other_reference", "heading"),
            # Observed live: /orders filters server-side only by number/created_at/updated_at.
            filterable=frozenset({"number", "created_at", "updated_at"}),
        )
        return self._list(req, spec, self.account.orders.values(), self.account.order_json)

    def _h_create_order(self, req: Request, p: list[str], body: JSON) -> Response:
        order = self.account.create_order(body)
        return self._one(req, "order", self.account.order_json(order), 201)

    def _h_get_order(self, req: Request, p: list[str], body: JSON) -> Response:
        number = p[0]
        if number.endswith(".pdf"):
            order = self.account.order(number[: -len(".pdf")])
            pdf = b"%PDF-1.4\n% rackshop sandbox order " + str(order.number).encode() + b"\n%%EOF\n"
            return Response(200, pdf, {"Content-Type": "application/pdf"})
        return self._one(req, "order", self.account.order_json(self.account.order(number)))

    def _h_update_order(self, req: Request, p: list[str], body: JSON) -> Response:
        order = self.account.update_order(self.account.order(p[0]), body)
        return self._one(req, "order", self.account.order_json(order))

    def _h_delete_order(self, req: Request, p: list[str], body: JSON) -> Response:
        order = self.account.order(p[0])
        out = self.account.order_json(order)
        self.account.delete_order(order)
        return self._one(req, "order", out)

    def _h_list_order_lines(self, req: Request, p: list[str], body: JSON) -> Response:
        order = self.account.order(p[0])
        spec = ListSpec[Any]("order_lines", {"id": lambda ln: ln.id}, default_order="id")
        return self._list(req, spec, order.lines, self.account.line_json)

    def _h_create_order_line(self, req: Request, p: list[str], body: JSON) -> Response:
        line = self.account.add_order_line(self.account.order(p[0]), body)
        return self._one(req, "order_line", self.account.line_json(line), 201)

    def _h_get_order_line(self, req: Request, p: list[str], body: JSON) -> Response:
        order = self.account.order(p[0])
        return self._one(
            req, "order_line", self.account.line_json(self.account.order_line(order, p[1]))
        )

    def _h_update_order_line(self, req: Request, p: list[str], body: JSON) -> Response:
        order = self.account.order(p[0])
        line = self.account.update_order_line(order, self.account.order_line(order, p[1]), body)
        return self._one(req, "order_line", self.account.line_json(line))

    def _h_delete_order_line(self, req: Request, p: list[str], body: JSON) -> Response:
        order = self.account.order(p[0])
        line = self.account.order_line(order, p[1])
        out = self.account.line_json(line)
        self.account.delete_order_line(order, line)
        return self._one(req, "order_line", out)

    def _h_book_order(self, req: Request, p: list[str], body: JSON) -> Response:
        order = self.account.book_order(self.account.order(p[0]))
        return self._one(req, "order", self.account.order_json(order))

    def _h_reopen_order(self, req: Request, p: list[str], body: JSON) -> Response:
        order = self.account.reopen_order(self.account.order(p[0]))
        return self._one(req, "order", self.account.order_json(order))

    def _h_create_shipment(self, req: Request, p: list[str], body: JSON) -> Response:
        shipment = self.account.create_shipment(self.account.order(p[0]), body or {})
        return self._one(req, "order_shipment", self.account.shipment_json(shipment), 201)

    def _shipment_spec(self) -> ListSpec[Shipment]:
        return ListSpec(
            "order_shipments",
            _stamps(
                {
                    "id": lambda s: s.id,
                    "order_number": lambda s: s.order,
                    "is_shipped": lambda s: s.is_shipped,
                }
            ),
            filterable=frozenset({"id", "order_number", "is_shipped"}),
            default_order="id",
        )

    def _h_list_order_shipments(self, req: Request, p: list[str], body: JSON) -> Response:
        order = self.account.order(p[0])
        rows = [s for s in self.account.shipments.values() if s.order == order.number]
        return self._list(req, self._shipment_spec(), rows, self.account.shipment_json)

    def _h_list_shipments(self, req: Request, p: list[str], body: JSON) -> Response:
        rows: Iterable[Shipment] = self.account.shipments.values()
        wanted = to_int(req.arg("order_number"))
        if wanted is not None:
            rows = [s for s in rows if s.order == wanted]
        return self._list(req, self._shipment_spec(), rows, self.account.shipment_json)

    def _h_get_shipment(self, req: Request, p: list[str], body: JSON) -> Response:
        return self._one(
            req, "order_shipment", self.account.shipment_json(self.account.shipment(p[0]))
        )

    def _h_mark_shipped(self, req: Request, p: list[str], body: JSON) -> Response:
        shipment = self.account.mark_shipped(self.account.shipment(p[0]), body)
        return self._one(req, "order_shipment", self.account.shipment_json(shipment))

    def _h_convert_to_invoice(self, req: Request, p: list[str], body: JSON) -> Response:
        raw = req.arg("book")
        if raw is None and "book" in body:
            raw = str(body["book"]).lower()
        book = (raw or "false").lower() in TRUE_STRINGS
        invoice = self.account.convert_to_invoice(self.account.order(p[0]), book=book)
        return json_response(200, {"invoice_id": invoice.number})

    # -- handlers: invoices ------------------------------------------------------------------

    def _h_list_invoices(self, req: Request, p: list[str], body: JSON) -> Response:
        spec = ListSpec[Invoice](
            "customer_invoices",
            _stamps(
                {
                    "id": lambda i: i.id,
                    "number": lambda i: i.number,
                    "order_id": lambda i: i.order,
                    "customer_id": lambda i: i.customer,
                    "is_booked": lambda i: i.is_booked,
                    "heading": lambda i: i.heading,
                    "other_reference": lambda i: i.other_reference,
                    "is_credit_note": lambda i: i.is_credit_note,
                    "credited_invoice_id": lambda i: i.credited_invoice,
                }
            ),
            search=("number", "heading", "other_reference"),
            filterable=frozenset({"number", "order_id", "customer_id", "is_booked",
                                  "is_credit_note", "credited_invoice_id"}),
        )
        return self._list(req, spec, self.account.invoices.values(), self.account.invoice_json)

    def _h_get_invoice(self, req: Request, p: list[str], body: JSON) -> Response:
        number = p[0]
        if number.endswith(".pdf"):
            invoice = self.account.invoice(number[: -len(".pdf")])
            pdf = (
                b"%PDF-1.4\n% rackshop sandbox invoice "
                + str(invoice.number).encode()
                + b"\n%%EOF\n"
            )
            return Response(200, pdf, {"Content-Type": "application/pdf"})
        return self._one(
            req, "customer_invoice", self.account.invoice_json(self.account.invoice(number))
        )

    def _h_update_invoice(self, req: Request, p: list[str], body: JSON) -> Response:
        invoice = self.account.update_invoice(self.account.invoice(p[0]), body)
        return self._one(req, "customer_invoice", self.account.invoice_json(invoice))

    def _h_delete_invoice(self, req: Request, p: list[str], body: JSON) -> Response:
        invoice = self.account.invoice(p[0])
        out = self.account.invoice_json(invoice)
        self.account.delete_invoice(invoice)
        return self._one(req, "customer_invoice", out)

    def _h_create_creditnote(self, req: Request, p: list[str], body: JSON) -> Response:
        note = self.account.create_creditnote(self.account.invoice(p[0]))
        return self._one(req, "customer_invoice", self.account.invoice_json(note), 201)

    def _h_book_invoice(self, req: Request, p: list[str], body: JSON) -> Response:
        invoice = self.account.book_invoice(self.account.invoice(p[0]))
        return self._one(req, "customer_invoice", self.account.invoice_json(invoice))

    # -- handlers: webhooks ------------------------------------------------------------------

    def _h_list_webhooks(self, req: Request, p: list[str], body: JSON) -> Response:
        spec = ListSpec[Webhook](
            "webhooks",
            _stamps(
                {
                    "id": lambda h: h.id,
                    "event": lambda h: h.event,
                    "url": lambda h: h.url,
                    "is_active": lambda h: h.is_active,
                }
            ),
            search=("event", "url"),
            filterable=frozenset({"id", "event", "url", "is_active"}),
            default_order="id",
        )
        return self._list(req, spec, self.account.webhooks.values(), self._webhook_json)

    def _h_create_webhook(self, req: Request, p: list[str], body: JSON) -> Response:
        hook, created = self.account.save_webhook(body, allowed_host=is_local_url)
        return self._one(
            req, "webhook", self._webhook_json(hook, token=created), 201 if created else 200
        )

    def _h_get_webhook(self, req: Request, p: list[str], body: JSON) -> Response:
        return self._one(req, "webhook", self._webhook_json(self.account.webhook(p[0])))

    def _h_update_webhook(self, req: Request, p: list[str], body: JSON) -> Response:
        hook = self.account.update_webhook(
            self.account.webhook(p[0]), body, allowed_host=is_local_url
        )
        return self._one(req, "webhook", self._webhook_json(hook))

    def _h_delete_webhook(self, req: Request, p: list[str], body: JSON) -> Response:
        hook = self.account.webhook(p[0])
        del self.account.webhooks[hook.id]
        return self._one(req, "webhook", self._webhook_json(hook))

    def _h_webhook_logs(self, req: Request, p: list[str], body: JSON) -> Response:
        hook = self.account.webhook(p[0])
        rows = self.webhooks.deliveries(hook.id)
        return self._list(
            req, _dict_spec("webhook_logs", "id", ("id", "event", "delivered")), rows, dict
        )
