"""The Rackbeat twin's data and business rules: items and stock, orders, customers, invoices.

Everything here is plain Python under the app's lock; :mod:`.app` turns HTTP into calls on
:class:`Account` and :class:`~.validation.ApiError` into answers. The rules follow section 6 of
the Rackbeat reference; each choice where the public record is unsure is listed in
``docs/sandbox-rackbeat.md``. The conventions that matter most:

* Records are addressed by ``number`` (items: a string, compared case-insensitively like MySQL's
  default collation; everything else: an integer). Every ``*_id`` that points at a numbered
  record (``group_id``, ``customer_id``, ``location_id``, ``item_id``...) carries its *number*.
  Shipments, lines, adjustments and webhooks are addressed by ``id``.
* Stock is kept per (item, exact location): ``on_hand`` and ``reserved`` (booked, not yet
  deducted order lines). ``available = on_hand - reserved``. BOMs (lots) hold no stock of their
  own: their quantities are derived from their components.
* Every change, stock movements and reservations included, bumps the record's ``updated_at``.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import quote

from .validation import (
    JSON,
    ApiError,
    Validator,
    dec,
    invalid,
    money,
    not_found,
    refused,
    to_int,
)

VAT_ZONES = ("domestic", "eu", "abroad", "domestic_exempt")
WEIGHT_UNITS = ("kg", "g", "lb", "oz")
STOCK_DEDUCTED_ON = ("shipment", "invoice")
STOCK_EVENT = "item.stock_updated"
WEBHOOK_EVENTS = (
    "product.created",
    "product.updated",
    "product.deleted",
    "lot.created",
    "lot.updated",
    "lot.deleted",
    STOCK_EVENT,
    "order.created",
    "order.updated",
    "order.booked",
    "order.deleted",
    "customer.created",
    "customer.updated",
    "customer_invoice.created",
    "customer_invoice.booked",
    "delivery_terms.created",
    "delivery_terms.updated",
    "employee.created",
    "employee.updated",
    "payment_terms.created",
    "payment_terms.updated",
    "plugin.uninstalled",
)

# The account's lookups as a fresh twin has them (numbers are what the API references).
DEFAULT_CUSTOMER_GROUPS = ((1, "Domestic customers"), (2, "EU customers"), (3, "Abroad customers"))
DEFAULT_PAYMENT_TERMS = (
    (1, "Net 8 days", "net", 8),
    (2, "Net 30 days", "net", 30),
    (3, "Prepaid", "prepaid", 0),
)
DEFAULT_LAYOUTS = ((1, "Standard"),)
DEFAULT_EMPLOYEES = ((1, "Sandbox Employee", "employee@sandbox.invalid"),)
DEFAULT_UNITS = ((1, "Stk."),)
# Danish convention: rates are DKK per 100 units of the currency. A real account can use any
# ISO currency; these are the ones a Nordic/European webshop meets.
DEFAULT_CURRENCIES = (
    ("DKK", 100.0),
    ("EUR", 746.0),
    ("SEK", 65.0),
    ("NOK", 64.0),
    ("ISK", 5.0),
    ("PLN", 172.0),
    ("CZK", 30.0),
    ("HUF", 1.9),
    ("CHF", 790.0),
    ("GBP", 870.0),
    ("USD", 690.0),
    ("CAD", 500.0),
    ("AUD", 450.0),
    ("JPY", 4.6),
)

_HEADER_STRINGS = ("other_reference", "heading", "note", "delivery_terms")
_ADDRESS_PARTS = (
    "name",
    "street",
    "street2",
    "state",
    "city",
    "zipcode",
    "country",
    "email",
    "phone",
)


def iso(moment: datetime) -> str:
    """ISO-8601 with offset, seconds resolution (``2026-01-05T10:00:00+01:00``)."""
    return moment.isoformat(timespec="seconds")


# -- records ----------------------------------------------------------------------------------



T = TypeVar("T")


def _lookup(table: Mapping[int, T], key: Any, what: str) -> T:
    """The record numbered ``key`` in ``table``, or the API's 404 naming ``what``."""
    number = to_int(key)
    if number is None or number not in table:
        raise not_found(what, key)
    return table[number]

@dataclass
class Stamped:
    """A record with ``created_at`` and ``updated_at``."""

    created_at: datetime
    updated_at: datetime


@dataclass
class Location(Stamped):
    """A warehouse or a place inside one (``parent`` is the parent's number)."""

    id: int
    number: int
    name: str
    parent: int | None = None
    is_default: bool = False
    barcode: str | None = None


@dataclass
class ProductGroup(Stamped):
    """An item group: VAT per zone and whether its items hold stock."""

    id: int
    number: int
    name: str
    vat_domestic: float = 25.0
    vat_eu: float = 0.0
    vat_abroad: float = 0.0
    vat_domestic_exempt: float = 0.0
    has_inventory: bool = True
    is_sellable: bool = True

    def vat(self, zone: str) -> float:
        """The VAT rate of this group for an order's VAT zone."""
        return float(getattr(self, f"vat_{zone}"))


@dataclass
class Component:
    """One line of a BOM: a product and the quantity per set."""

    id: int
    item: int  # internal id of the component product
    quantity: float


@dataclass
class Item(Stamped):
    """A product or a lot (BOM)."""

    id: int
    number: str
    type: str
    name: str
    group: int
    sales_price: float
    description: str = ""
    cost_price: float = 0.0
    recommended_cost_price: float = 0.0
    barcode: str | None = None
    weight: float | None = None
    weight_unit: str = "kg"
    is_barred: bool = False
    default_location: int | None = None
    unit: int = 1
    components: list[Component] = field(default_factory=list)
    on_hand: dict[int, float] = field(default_factory=dict)
    reserved: dict[int, float] = field(default_factory=dict)
    field_values: dict[int, str] = field(default_factory=dict)
    stock_registered: bool = False


@dataclass
class Customer(Stamped):
    """A customer; ``address`` holds the ``address_*`` fields."""

    id: int
    number: int
    name: str
    contact_email: str | None = None
    contact_phone: str | None = None
    address: dict[str, str | None] = field(default_factory=dict)
    vat_zone: str = "domestic"
    currency: str = "DKK"
    locale: str = "da"
    payment_terms: int = 1
    customer_group: int = 1
    layout: int = 1
    employee: int | None = None
    ean: str | None = None
    company_vat: str | None = None
    is_barred: bool = False
    general_discount_percentage: float = 0.0
    addresses: list[JSON] = field(default_factory=list)
    contacts: list[JSON] = field(default_factory=list)


@dataclass
class OrderLine:
    """One order line; ``line_price`` is the unit price ex VAT."""

    id: int
    item: int  # internal item id
    name: str
    quantity: float
    line_price: float
    discount_percentage: float
    vat_percentage: float
    location: int | None = None
    unit: int | None = None
    stock_location: int | None = None  # where the reservation sits while booked
    shipped: float = 0.0  # quantity in shipments marked shipped
    in_shipment: float = 0.0  # quantity in shipments not yet shipped
    deducted: float = 0.0  # quantity taken off on-hand stock

    def total(self) -> float:
        """Line total ex VAT: quantity x unit price x (1 - discount), rounded to cents."""
        gross = dec(self.quantity) * dec(self.line_price)
        return money(gross * (1 - dec(self.discount_percentage) / 100))

    def vat_amount(self) -> float:
        """VAT of the line, from the rounded line total, rounded to cents."""
        return money(Decimal(repr(self.total())) * dec(self.vat_percentage) / 100)


@dataclass
class Order(Stamped):
    """A sales order; its state is a set of flags, as in the real API."""

    id: int
    number: int
    customer: int
    currency: str
    vat_zone: str
    order_date: str
    layout: int | None = None
    employee: int | None = None
    our_reference: int | None = None
    your_reference: int | None = None
    payment_terms: int | None = None
    currency_rate: float | None = None
    deliver_at: str | None = None
    header: dict[str, str | None] = field(default_factory=dict)
    billing: dict[str, str | None] = field(default_factory=dict)
    delivery: dict[str, str | None] = field(default_factory=dict)
    lines: list[OrderLine] = field(default_factory=list)
    is_booked: bool = False
    is_invoiced: bool = False
    is_cancelled: bool = False
    is_archived: bool = False
    booked_at: datetime | None = None
    shipped_at: datetime | None = None
    invoiced_at: datetime | None = None

    @property
    def is_shipped(self) -> bool:
        """Every line is fully shipped."""
        return bool(self.lines) and all(ln.shipped >= ln.quantity for ln in self.lines)

    @property
    def is_partly_shipped(self) -> bool:
        """Some but not all of the order is shipped."""
        return not self.is_shipped and any(ln.shipped > 0 for ln in self.lines)


@dataclass
class ShipmentLine:
    """One line of a shipment."""

    id: int
    line: int  # order line id
    item: int
    location: int | None
    quantity: float
    is_picked: bool = False


@dataclass
class Shipment(Stamped):
    """An order shipment (one per order in this twin)."""

    id: int
    order: int  # order number
    lines: list[ShipmentLine] = field(default_factory=list)
    is_shipped: bool = False
    shipped_at: datetime | None = None
    # Tracking: not in Rackbeat's public record (docs/sandbox-rackbeat.md, "Shipment tracking").
    tracking_number: str | None = None
    tracking_url: str | None = None
    carrier: str | None = None

    @property
    def is_picked(self) -> bool:
        """Every line is picked."""
        return bool(self.lines) and all(ln.is_picked for ln in self.lines)


@dataclass
class Invoice(Stamped):
    """A customer invoice converted from an order (lines copied at conversion)."""

    id: int
    number: int
    order: int
    customer: int
    currency: str
    vat_zone: str
    heading: str | None
    other_reference: str | None
    lines: list[JSON]
    line_refs: list[tuple[int, float]]  # (order line id, quantity) for stock on booking
    total_subtotal: float
    total_vat: float
    total_total: float
    invoice_date: str
    due_date: str
    is_booked: bool = False
    booked_at: datetime | None = None
    # Credit notes (docs/sandbox-rackbeat.md, "Credit notes"): made from a booked invoice by
    # ``POST /customer-invoices/{n}/create-creditnote``, edited while a draft, then booked.
    is_credit_note: bool = False
    credited_invoice: int | None = None  # the invoice NUMBER a credit note credits
    stock_returned: bool = False  # a credit note booked with this returns its goods to stock


@dataclass
class Adjustment(Stamped):
    """An inventory adjustment: sets on-hand at a location once booked."""

    id: int
    item: int
    location: int
    quantity: float  # the target on-hand quantity
    previous: float
    regulated_at: str
    reason: str | None
    adjustment_type: str = "quantity"
    is_booked: bool = False
    booked_at: datetime | None = None

    @property
    def difference(self) -> float:
        """The change in on-hand stock that booking applies."""
        return self.quantity - self.previous


@dataclass
class Webhook(Stamped):
    """A webhook subscription."""

    id: int
    event: str
    url: str
    token: str
    is_active: bool = True


@dataclass
class Lookups:
    """The account's reference lists (customer groups, payment terms, ...)."""

    customer_groups: dict[int, JSON] = field(default_factory=dict)
    payment_terms: dict[int, JSON] = field(default_factory=dict)
    layouts: dict[int, JSON] = field(default_factory=dict)
    employees: dict[int, JSON] = field(default_factory=dict)
    units: dict[int, JSON] = field(default_factory=dict)
    currencies: dict[str, JSON] = field(default_factory=dict)


# -- the account ------------------------------------------------------------------------------


class Account:
    """One Rackbeat account: all records and every business rule.

    Args:
        wall_clock: Returns "now" for ``created_at``/``updated_at`` (aware datetime).
        tz: The account's time zone (naive filter dates are read in it).
        stock_deducted_on: ``"shipment"`` (marking a shipment shipped takes the stock) or
            ``"invoice"`` (booking the invoice does; "Inventory value linked to invoicing").
        customer_number_start: First auto-assigned customer number.
        order_number_start: First auto-assigned order number.
        invoice_number_start: First invoice number.
        token_factory: Makes webhook tokens (32 characters); injectable for reproducible tests.
    """

    def __init__(
        self,
        *,
        wall_clock: Callable[[], datetime],
        tz: tzinfo,
        stock_deducted_on: str = "shipment",
        customer_number_start: int = 1001,
        order_number_start: int = 1001,
        invoice_number_start: int = 1001,
        token_factory: Callable[[], str] | None = None,
    ) -> None:
        if stock_deducted_on not in STOCK_DEDUCTED_ON:
            raise ValueError(f"stock_deducted_on must be one of {STOCK_DEDUCTED_ON}")
        self._wall_clock = wall_clock
        self.tz = tz
        self.stock_deducted_on = stock_deducted_on
        self.customer_number_start = customer_number_start
        self.order_number_start = order_number_start
        self.invoice_number_start = invoice_number_start
        self._token_factory = token_factory or (lambda: secrets.token_hex(16))
        self.locations: dict[int, Location] = {}
        self.groups: dict[int, ProductGroup] = {}
        self.items: dict[int, Item] = {}
        self._item_index: dict[str, int] = {}
        self.customers: dict[int, Customer] = {}
        self.orders: dict[int, Order] = {}
        self.shipments: dict[int, Shipment] = {}
        self.invoices: dict[int, Invoice] = {}
        self.adjustments: dict[int, Adjustment] = {}
        self.webhooks: dict[int, Webhook] = {}
        self.fields: dict[int, JSON] = {}
        self.lookups = Lookups()
        self._ids: dict[str, int] = {}
        self._order_high = order_number_start - 1
        self._invoice_high = invoice_number_start - 1
        self.events: list[tuple[str, JSON]] = []
        self._used_cache: set[int] | None = None
        self._lots_cache: dict[int, list[int]] | None = None  # component id -> BOM ids
        self._seed_lookups()

    # -- plumbing ---------------------------------------------------------------------------

    def now(self) -> datetime:
        """Now in the account time zone, to the second."""
        return self._wall_clock().astimezone(self.tz).replace(microsecond=0)

    def today(self) -> str:
        """Today's date (``YYYY-MM-DD``) in the account time zone."""
        return self.now().date().isoformat()

    def next_id(self, kind: str) -> int:
        """The next internal id of a kind of record."""
        self._ids[kind] = self._ids.get(kind, 0) + 1
        return self._ids[kind]

    def emit(self, event: str, body: JSON) -> None:
        """Queue a webhook event (the app delivers it unless the request suppressed webhooks)."""
        # Every change to order lines or BOM lines emits an event, so this is the one place
        # where the "used in lines" cache goes stale.
        self._used_cache = None
        if (event, body) not in self.events:
            self.events.append((event, body))

    def _emit_key(self, event: str, key: object) -> None:
        # Real deliveries carry only these two keys, the key as a string (reference 2.8).
        self.emit(event, {"key_name": "number", "key": str(key)})

    def _touch(self, record: Stamped) -> None:
        record.updated_at = self.now()

    def _seed_lookups(self) -> None:
        now = self.now()
        lk = self.lookups
        for number, name in DEFAULT_CUSTOMER_GROUPS:
            lk.customer_groups[number] = {"number": number, "name": name}
        for number, name, kind, days in DEFAULT_PAYMENT_TERMS:
            lk.payment_terms[number] = {
                "number": number,
                "name": name,
                "type": kind,
                "description": name,
                "maturity_days": days,
            }
        for number, name in DEFAULT_LAYOUTS:
            lk.layouts[number] = {"number": number, "name": name}
        for number, name, email in DEFAULT_EMPLOYEES:
            lk.employees[number] = {"number": number, "name": name, "email": email}
        for number, name in DEFAULT_UNITS:
            lk.units[number] = {"number": number, "name": name}
        for code, rate in DEFAULT_CURRENCIES:
            lk.currencies[code] = {
                "code": code,
                "rate": rate,
                "is_custom": False,
                "updated_at": iso(now),
            }

    # -- locations and groups ---------------------------------------------------------------

    def add_location(
        self, number: int, name: str, parent: int | None = None, is_default: bool = False
    ) -> Location:
        """Create a location (a warehouse, or a place inside one when ``parent`` is given)."""
        if number in self.locations:
            raise invalid({"number": ["The number has already been taken."]})
        if parent is not None and parent not in self.locations:
            raise invalid({"parent_id": ["The selected parent id is invalid."]})
        now = self.now()
        loc = Location(now, now, self.next_id("location"), number, name, parent, is_default)
        if is_default:
            for other in self.locations.values():
                other.is_default = False
        self.locations[number] = loc
        return loc

    def location(self, number: Any) -> Location:
        """The location with this number; 404 otherwise."""
        return _lookup(self.locations, number, "Location")

    def default_location(self) -> Location | None:
        """The account's default location (the first one made when none is marked)."""
        for loc in self.locations.values():
            if loc.is_default:
                return loc
        return next(iter(self.locations.values()), None)

    def location_path(self, loc: Location) -> list[Location]:
        """The locations from the top level down to ``loc``."""
        path = [loc]
        while path[0].parent is not None:
            path.insert(0, self.locations[path[0].parent])
        return path

    def location_json(self, loc: Location) -> JSON:
        """A location as the API shows it."""
        path = self.location_path(loc)
        return {
            "id": loc.id,
            "number": loc.number,
            "name": loc.name,
            "barcode": loc.barcode,
            "parent_id": loc.parent,
            "toplevel_parent_id": path[0].number if loc.parent is not None else None,
            "is_default": loc.is_default,
            "children_count": sum(1 for c in self.locations.values() if c.parent == loc.number),
            "nesting_level": len(path) - 1,
            "nest_list": [p.number for p in path],
            "created_at": iso(loc.created_at),
            "updated_at": iso(loc.updated_at),
        }

    def add_group(self, payload: Mapping[str, Any]) -> ProductGroup:
        """Create a product group from an API payload."""
        v = Validator(payload)
        number = v.integer("number", required=True, min_value=1)
        if number is not None and number in self.groups:
            v.fail("number", "The number has already been taken.")
        name = v.string("name", required=True)
        rates = {
            k: v.number(k, min_value=0, max_value=100)
            for k in ("vat_domestic", "vat_eu", "vat_abroad", "vat_domestic_exempt")
        }
        has_inventory = v.boolean("has_inventory")
        is_sellable = v.boolean("is_sellable")
        v.check()
        assert number is not None and name is not None
        now = self.now()
        group = ProductGroup(
            now,
            now,
            self.next_id("group"),
            number,
            name,
            **{
                k: (r if r is not None else (25.0 if k == "vat_domestic" else 0.0))
                for k, r in rates.items()
            },
            has_inventory=True if has_inventory is None else has_inventory,
            is_sellable=True if is_sellable is None else is_sellable,
        )
        self.groups[number] = group
        return group

    def update_group(self, group: ProductGroup, payload: Mapping[str, Any]) -> ProductGroup:
        """``PUT /product-groups/{number}``: partial update."""
        v = Validator(payload)
        name = v.string("name")
        rates = {
            k: v.number(k, min_value=0, max_value=100)
            for k in ("vat_domestic", "vat_eu", "vat_abroad", "vat_domestic_exempt")
        }
        has_inventory = v.boolean("has_inventory")
        is_sellable = v.boolean("is_sellable")
        v.check()
        if name is not None:
            group.name = name
        for key, rate in rates.items():
            if rate is not None:
                setattr(group, key, rate)
        if has_inventory is not None:
            group.has_inventory = has_inventory
        if is_sellable is not None:
            group.is_sellable = is_sellable
        self._touch(group)
        return group

    def group(self, number: Any) -> ProductGroup:
        """The product group with this number; 404 otherwise."""
        return _lookup(self.groups, number, "Product group")

    def group_json(self, group: ProductGroup, *, brief: bool = False) -> JSON:
        """A product group as the API shows it (``brief``: as embedded in a product)."""
        out: JSON = {
            "number": group.number,
            "name": group.name,
            "vat_domestic": group.vat_domestic,
            "vat_eu": group.vat_eu,
            "vat_abroad": group.vat_abroad,
            "vat_domestic_exempt": group.vat_domestic_exempt,
        }
        if brief:
            return out
        return {
            "id": group.id,
            **out,
            "has_inventory": group.has_inventory,
            "is_sellable": group.is_sellable,
            "should_spread_cost": False,
            "created_at": iso(group.created_at),
            "updated_at": iso(group.updated_at),
        }

    # -- items ------------------------------------------------------------------------------

    def find_item(self, number: Any) -> Item | None:
        """The item with this number (case-insensitive, like MySQL's default collation)."""
        if number is None or isinstance(number, bool):
            return None
        key = self._item_index.get(str(number).casefold())
        return self.items.get(key) if key is not None else None

    def item(self, number: Any, kind: str | None = None) -> Item:
        """The item with this number; 404 when missing (or of the other ``kind``)."""
        found = self.find_item(number)
        if found is None or (kind is not None and found.type != kind):
            raise not_found({"product": "Product", "lot": "Lot"}.get(kind or "", "Item"), number)
        return found

    def has_inventory(self, item: Item) -> bool:
        """Whether the item's group keeps stock."""
        return self.groups[item.group].has_inventory

    def create_item(self, payload: Mapping[str, Any], kind: str = "product") -> Item:
        """``POST /products`` or ``POST /lots``: validate and create.

        Raises:
            ApiError: 422 with every validation message.
        """
        v = Validator(payload)
        number = v.string("number", required=True)
        if number is not None and self.find_item(number) is not None:
            v.fail("number", "The number has already been taken.")
        name = v.string("name", required=True)
        group = self._group_ref(v, "group", required=True)
        sales_price = v.number("sales_price", required=True, min_value=0)
        values = self._item_fields(v, None)
        components = self._components(v, None) if kind == "lot" else []
        v.check()
        assert (
            number is not None
            and name is not None
            and group is not None
            and sales_price is not None
        )
        now = self.now()
        item = Item(now, now, self.next_id("item"), number, kind, name, group, sales_price)
        self._apply_item_fields(item, values)
        item.components = components
        self.items[item.id] = item
        self._lots_cache = None
        self._item_index[number.casefold()] = item.id
        self._emit_key(f"{kind}.created", item.number)
        return item

    def update_item(self, item: Item, payload: Mapping[str, Any]) -> Item:
        """``PUT /products/{number}`` or ``PUT /lots/{number}``: partial update."""
        v = Validator(payload)
        number = v.string("number")
        if number is not None:
            other = self.find_item(number)
            if other is not None and other.id != item.id:
                v.fail("number", "The number has already been taken.")
        name = v.string("name")
        group = self._group_ref(v, "group", required=False)
        sales_price = v.number("sales_price", min_value=0)
        values = self._item_fields(v, item)
        components = (
            self._components(v, item) if item.type == "lot" and "lines" in payload else None
        )
        v.check()
        if number is not None and number != item.number:
            del self._item_index[item.number.casefold()]
            item.number = number
            self._item_index[number.casefold()] = item.id
        if name is not None:
            item.name = name
        if group is not None:
            item.group = group
        if sales_price is not None:
            item.sales_price = sales_price
        self._apply_item_fields(item, values)
        if components is not None:
            item.components = components
            self._lots_cache = None
        self._touch(item)
        self._emit_key(f"{item.type}.updated", item.number)
        return item

    def _group_ref(self, v: Validator, key: str, *, required: bool) -> int | None:
        group = v.integer(key, required=required)
        if group is not None and group not in self.groups:
            v.fail(key, "The selected {attr} is invalid.")
            return None
        return group

    def _item_fields(self, v: Validator, item: Item | None) -> JSON:
        """The optional product fields of a create/update payload, validated."""
        out: JSON = {}
        for key in ("description",):
            if key in v.data:
                out[key] = v.string(key, max_len=65535) or ""
        if "barcode" in v.data:
            out["barcode"] = v.string("barcode")
        for key in ("cost_price", "recommended_cost_price"):
            value = v.number(key, min_value=0)
            if value is not None:
                out[key] = value
        barred = v.boolean("is_barred")
        if barred is not None:
            out["is_barred"] = barred
        if "default_location_id" in v.data:
            loc = v.integer("default_location_id")
            if loc is not None and loc not in self.locations:
                v.fail("default_location_id", "The selected {attr} is invalid.")
            out["default_location"] = loc
        unit = v.integer("unit_id")
        if unit is not None:
            if unit not in self.lookups.units:
                v.fail("unit_id", "The selected {attr} is invalid.")
            out["unit"] = unit
        physical = v.obj("physical")
        if physical is not None:
            pv = v.sub("physical", physical)
            if "weight" in physical:
                out["weight"] = pv.number("weight", min_value=0)
            unit_given = pv.one_of("weight_unit", WEIGHT_UNITS)
            if unit_given is not None:
                out["weight_unit"] = unit_given
            elif (
                physical.get("weight") is not None
                and physical.get("weight_unit") is None
                and (item is None or "weight_unit" in physical)
            ):
                pv.fail(
                    "weight_unit", "The {attr} field is required when physical.weight is present."
                )
        fields = v.obj("field_values")
        if fields is not None:
            out["field_values"] = {
                int(k): str(val) for k, val in fields.items() if to_int(k) is not None
            }
        return out

    def _apply_item_fields(self, item: Item, values: Mapping[str, Any]) -> None:
        for key, value in values.items():
            if key == "field_values":
                item.field_values.update(value)
            else:
                setattr(item, key, value)

    def _components(self, v: Validator, lot: Item | None) -> list[Component]:
        lines = v.array("lines") or []
        out: list[Component] = []
        for i, raw in enumerate(lines):
            if not isinstance(raw, Mapping):
                v.fail(f"lines.{i}", "The {attr} must be an array.")
                continue
            lv = v.sub(f"lines.{i}", raw)
            key = "item_id" if "item_id" in raw else "product_id"
            number = raw.get(key)
            comp = self.find_item(number)
            if number is None:
                lv.fail("item_id", "Product needed")
            elif comp is None or comp.type != "product" or (lot is not None and comp.id == lot.id):
                lv.fail(key, "The selected {attr} is invalid.")
            qty = lv.number("quantity", required=True, gt=0)
            if comp is not None and comp.type == "product" and qty is not None:
                out.append(Component(self.next_id("component"), comp.id, qty))
        return out

    def delete_item(self, item: Item) -> None:
        """``DELETE /products/{number}``: refused once stock was registered or when used."""
        if item.stock_registered:
            raise refused(
                f"Product '{item.number}' can't be deleted, "
                "since inventory has been registered for it."
            )
        if self._used_in_lines(item):
            raise refused(f"Product '{item.number}' can't be deleted, since it is used in lines.")
        del self.items[item.id]
        del self._item_index[item.number.casefold()]
        self._lots_cache = None
        self._emit_key(f"{item.type}.deleted", item.number)

    def _used_in_lines(self, item: Item) -> bool:
        if self._used_cache is None:
            used = {ln.item for o in self.orders.values() for ln in o.lines}
            used.update(c.item for lot in self.items.values() for c in lot.components)
            self._used_cache = used
        return item.id in self._used_cache

    def is_convertable(self, item: Item) -> bool:
        """Whether the product may still become a BOM."""
        return (
            item.type == "product" and not item.stock_registered and not self._used_in_lines(item)
        )

    def convert_to_lot(self, item: Item, payload: Mapping[str, Any]) -> Item:
        """``POST /products/{number}/convert``: turn a product into a BOM."""
        if item.stock_registered:
            raise refused(
                f"Product '{item.number}' can't be converted, "
                "since inventory has been registered for it."
            )
        if self._used_in_lines(item):
            raise refused(f"Product '{item.number}' can't be converted, since it is used in lines.")
        v = Validator(payload)
        components = self._components(v, item)
        v.check()
        item.type = "lot"
        item.components = components
        self._lots_cache = None
        self._touch(item)
        self._emit_key("lot.updated", item.number)
        return item

    # -- stock ------------------------------------------------------------------------------

    def product_quantities(self, item: Item, loc: int | None = None) -> tuple[float, float]:
        """(on hand, reserved) of a product, at one exact location or in total."""
        if not self.has_inventory(item):
            return 0.0, 0.0
        if loc is None:
            return sum(item.on_hand.values()), sum(item.reserved.values())
        return item.on_hand.get(loc, 0.0), item.reserved.get(loc, 0.0)

    def quantities(self, item: Item, loc: int | None = None) -> tuple[float, float, float]:
        """(stock, in order, available) of an item, at one exact location or in total.

        A lot's stock and availability are how many whole sets its components make; its
        in-order quantity is its own booked, not yet deducted lines (those already reserve
        the components, so they show in the components' availability).
        """
        if item.type == "product":
            stock, reserved = self.product_quantities(item, loc)
            return stock, reserved, stock - reserved
        own = sum(item.reserved.values()) if loc is None else item.reserved.get(loc, 0.0)
        stock_sets: list[float] = []
        avail_sets: list[float] = []
        for comp in item.components:
            part = self.items.get(comp.item)
            if part is None or not self.has_inventory(part):
                continue
            on_hand, reserved = self.product_quantities(part, loc)
            stock_sets.append(math.floor(on_hand / comp.quantity))
            avail_sets.append(math.floor((on_hand - reserved) / comp.quantity))
        stock = float(min(stock_sets)) if stock_sets else 0.0
        avail = float(min(avail_sets)) if avail_sets else 0.0
        return stock, own, avail

    def _lots_using(self, item: Item) -> list[Item]:
        if self._lots_cache is None:
            index: dict[int, list[int]] = {}
            for lot in self.items.values():
                for comp in lot.components:
                    index.setdefault(comp.item, []).append(lot.id)
            self._lots_cache = index
        return [self.items[i] for i in self._lots_cache.get(item.id, ()) if i in self.items]

    def _stock_changed(self, item: Item) -> None:
        """Bump ``updated_at`` and queue the stock event for an item and the BOMs built from it."""
        for it in [item, *self._lots_using(item)]:
            self._touch(it)
            self.emit(STOCK_EVENT, {"item": it.number, "item_type": it.type, "type": "stock"})

    def _move(self, item: Item, loc: int, *, on_hand: float = 0.0, reserved: float = 0.0) -> None:
        """Change on-hand and reserved stock of an item at one location (a lot moves its parts)."""
        if item.type == "lot":
            if reserved:
                item.reserved[loc] = item.reserved.get(loc, 0.0) + reserved
            for comp in item.components:
                part = self.items.get(comp.item)
                if part is not None:
                    self._move(
                        part,
                        loc,
                        on_hand=on_hand * comp.quantity,
                        reserved=reserved * comp.quantity,
                    )
            self._stock_changed(item)
            return
        if not self.has_inventory(item):
            return
        if on_hand:
            item.on_hand[loc] = item.on_hand.get(loc, 0.0) + on_hand
            item.stock_registered = True
        if reserved:
            item.reserved[loc] = item.reserved.get(loc, 0.0) + reserved
        self._stock_changed(item)

    def item_locations(self, item: Item) -> list[JSON]:
        """Stock of an item at every location of the account (zero where it has none)."""
        out = []
        for loc in self.locations.values():
            stock, in_order, available = self.quantities(item, loc.number)
            out.append(
                {
                    "id": loc.id,
                    "number": loc.number,
                    "name": loc.name,
                    "parent_id": loc.parent,
                    "stock_quantity": stock,
                    "in_order_quantity": in_order,
                    "available_quantity": available,
                }
            )
        return out

    def create_adjustment(self, payload: Mapping[str, Any]) -> Adjustment:
        """``POST /inventory-adjustments``: a draft that sets on-hand at a location once booked."""
        v = Validator(payload)
        number = payload.get("item_id")
        item = self.find_item(number)
        if number is None:
            v.fail("item_id", "The {attr} field is required.")
        elif item is None:
            v.fail("item_id", "The selected {attr} is invalid.")
        elif item.type != "product":
            v.fail("item_id", "The stock of a BOM is the stock of its components.")
            item = None
        elif not self.has_inventory(item):
            v.fail("item_id", f"Product '{item.number}' is not in a product group with inventory.")
            item = None
        v.one_of("adjustment_type", ("quantity",), required=True)
        quantity = v.number("quantity", required=True)
        loc = v.integer("location", required=True)
        if loc is not None and loc not in self.locations:
            v.fail("location", "The selected {attr} is invalid.")
            loc = None
        regulated_at = v.day("regulated_at") or self.today()
        reason = v.string("reason", max_len=65535)
        v.check()
        assert item is not None and quantity is not None and loc is not None
        previous = item.on_hand.get(loc, 0.0)
        if quantity == previous:
            raise refused("Adjustment can't be created, since no change is made.")
        now = self.now()
        adj = Adjustment(
            now,
            now,
            self.next_id("adjustment"),
            item.id,
            loc,
            quantity,
            previous,
            regulated_at,
            reason,
        )
        self.adjustments[adj.id] = adj
        return adj

    def adjustment(self, ident: Any) -> Adjustment:
        """The inventory adjustment with this id; 404 otherwise."""
        return _lookup(self.adjustments, ident, "Inventory adjustment")

    def book_adjustment(self, adj: Adjustment) -> Adjustment:
        """Apply the difference computed when the adjustment was made."""
        if adj.is_booked:
            raise refused("The inventory adjustment is already booked.")
        item = self.items.get(adj.item)
        if item is None:
            raise refused("The item of this adjustment no longer exists.")
        adj.is_booked = True
        adj.booked_at = self.now()
        self._touch(adj)
        self._move(item, adj.location, on_hand=adj.difference)
        return adj

    def delete_adjustment(self, adj: Adjustment) -> None:
        """Delete a draft adjustment (a booked one is refused)."""
        if adj.is_booked:
            raise refused("A booked inventory adjustment can't be deleted.")
        del self.adjustments[adj.id]

    def adjustment_json(self, adj: Adjustment) -> JSON:
        """An adjustment as the API shows it (key ``inventory_regulation``)."""
        item = self.items.get(adj.item)
        loc = self.locations[adj.location]
        return {
            "id": adj.id,
            "item_id": item.number if item else None,
            "item_type": item.type if item else None,
            "item": {"number": item.number, "name": item.name} if item else None,
            "adjustment_type": adj.adjustment_type,
            "quantity": adj.quantity,
            "previous_quantity": adj.previous,
            "difference": adj.difference,
            "location": loc.number,
            "location_id": loc.number,
            "location_name": loc.name,
            "regulated_at": adj.regulated_at,
            "reason": adj.reason,
            "is_booked": adj.is_booked,
            "booked_at": iso(adj.booked_at) if adj.booked_at else None,
            "created_at": iso(adj.created_at),
            "updated_at": iso(adj.updated_at),
        }

    def item_json(self, item: Item) -> JSON:
        """A product or lot as the API shows it, with its stock totals."""
        group = self.groups[item.group]
        stock, in_order, available = self.quantities(item)
        default_loc = self.locations.get(item.default_location) if item.default_location else None
        unit = self.lookups.units.get(item.unit)
        out: JSON = {
            "id": item.id,
            "number": item.number,
            "urlfriendly_number": quote(item.number, safe=""),
            "type": item.type,
            "name": item.name,
            "description": item.description,
            "barcode": item.barcode,
            "sales_price": item.sales_price,
            "recommended_sales_price": item.sales_price,
            "cost_price": item.cost_price,
            "recommended_cost_price": item.recommended_cost_price,
            "stock_quantity": stock,
            "in_order_quantity": in_order,
            "available_quantity": available,
            "purchased_quantity": 0.0,
            "used_in_production_quantity": 0.0,
            "default_location_id": item.default_location,
            "default_location": self.location_json(default_loc) if default_loc else None,
            "is_barred": item.is_barred,
            "is_convertable": self.is_convertable(item),
            "inventory_enabled": group.has_inventory,
            "group_id": group.number,
            "group": self.group_json(group, brief=True),
            "unit_id": item.unit,
            "unit": dict(unit) if unit else None,
            "variation_id": None,
            "physical": {
                "weight": item.weight,
                "weight_unit": item.weight_unit,
                "height": None,
                "width": None,
                "depth": None,
                "size_unit": "cm",
            },
            "created_at": iso(item.created_at),
            "updated_at": iso(item.updated_at),
            "deleted_at": None,
        }
        if item.type == "lot":
            out["lines"] = [self._component_json(c) for c in item.components]
        return out

    def _component_json(self, comp: Component) -> JSON:
        part = self.items.get(comp.item)
        return {
            "id": comp.id,
            "child_id": part.number if part else None,
            "child_type": "product",
            "item": {"number": part.number, "name": part.name} if part else None,
            "quantity": comp.quantity,
        }

    def field_values_json(self, item: Item) -> list[JSON]:
        """The item's custom field values (key ``field_values``)."""
        out = []
        for field_id, value in sorted(item.field_values.items()):
            spec = self.fields.get(
                field_id, {"id": field_id, "name": f"Field {field_id}", "slug": f"field-{field_id}"}
            )
            out.append({"field": dict(spec), "value": value})
        return out

    # -- customers --------------------------------------------------------------------------

    def customer(self, number: Any) -> Customer:
        """The customer with this number; 404 otherwise."""
        return _lookup(self.customers, number, "Customer")

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
        self._apply_customer_fields(cust, values)
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
        self._apply_customer_fields(cust, values)
        self._touch(cust)
        self._emit_key("customer.updated", cust.number)
        return cust

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
        zone = v.one_of("vat_zone", VAT_ZONES)
        if zone is not None:
            out["vat_zone"] = zone
        currency = v.string("currency")
        if currency is not None:
            if currency.upper() not in self.lookups.currencies:
                v.fail("currency", "The selected {attr} is invalid.")
            out["currency"] = currency.upper()
        locale = v.string("locale", max_len=10)
        if locale is not None:
            out["locale"] = locale
        refs = (
            ("payment_terms_id", "payment_terms", self.lookups.payment_terms),
            ("customer_group_id", "customer_group", self.lookups.customer_groups),
            ("layout_id", "layout", self.lookups.layouts),
            ("employee_id", "employee", self.lookups.employees),
        )
        for key, attr, table in refs:
            value = self._lookup_ref(v, key, table)
            if value is not None:
                out[attr] = value
        barred = v.boolean("is_barred")
        if barred is not None:
            out["is_barred"] = barred
        discount = v.number("general_discount_percentage", min_value=0, max_value=100)
        if discount is not None:
            out["general_discount_percentage"] = discount
        return out

    def _apply_customer_fields(self, cust: Customer, values: Mapping[str, Any]) -> None:
        for key, value in values.items():
            if key == "address":
                cust.address.update(value)
            else:
                setattr(cust, key, value)

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
        parts = {p: v.string(p) for p in _ADDRESS_PARTS if p in payload}
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
        return _lookup(self.orders, number, "Order")

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
        zone = v.one_of("vat_zone", VAT_ZONES)
        if zone is not None:
            out["vat_zone"] = zone
        currency = v.string("currency")
        if currency is not None:
            if currency.upper() not in self.lookups.currencies:
                v.fail("currency", "The selected {attr} is invalid.")
            out["currency"] = currency.upper()
        rate = v.number("currency_rate", gt=0)
        if rate is not None:
            out["currency_rate"] = rate
        for key in ("order_date", "deliver_at"):
            day = v.day(key)
            if day is not None:
                out[key] = day
        for key in _HEADER_STRINGS:
            if key in data:
                out.setdefault("header", {})[key] = v.string(key, max_len=65535)
        refs = (
            ("layout_id", "layout", self.lookups.layouts),
            ("employee_id", "employee", self.lookups.employees),
            ("our_reference_id", "our_reference", self.lookups.employees),
            ("payment_terms_id", "payment_terms", self.lookups.payment_terms),
        )
        for key, attr, table in refs:
            value = self._lookup_ref(v, key, table)
            if value is not None:
                out[attr] = value
        your_ref = v.integer("your_reference_id")
        if your_ref is not None:
            out["your_reference"] = your_ref
        for prefix, target in (("address_", "billing"), ("delivery_address_", "delivery")):
            for part in _ADDRESS_PARTS:
                if f"{prefix}{part}" in data:
                    out.setdefault(target, {})[part] = v.string(f"{prefix}{part}")
        for key, target in (("billing_address", "billing"), ("delivery_address", "delivery")):
            nested = v.obj(key)
            if nested:
                sv = v.sub(key, nested)
                for part in _ADDRESS_PARTS:
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
        return _lookup(self.shipments, ident, "Order shipment")

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
        return _lookup(self.invoices, number, "Customer invoice")

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
                         numbers["vat_percentage"], location=loc)
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
        """Guards and stock of booking a credit note: never more units than invoiced."""
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
            if credited[number] > invoiced.get(number, 0.0) + 1e-9:
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
            **{k: order.header.get(k) for k in _HEADER_STRINGS},
            "currency": order.currency,
            "currency_rate": order.currency_rate,
            "vat_zone": order.vat_zone,
            "order_date": order.order_date,
            "deliver_at": order.deliver_at,
            **{f"address_{p}": order.billing.get(p) for p in _ADDRESS_PARTS},
            **{f"delivery_address_{p}": order.delivery.get(p) for p in _ADDRESS_PARTS},
            "billing_address": {p: order.billing.get(p) for p in _ADDRESS_PARTS},
            "delivery_address": {p: order.delivery.get(p) for p in _ADDRESS_PARTS},
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

    # -- webhooks ---------------------------------------------------------------------------

    def save_webhook(
        self, payload: Mapping[str, Any], *, allowed_host: Callable[[str], bool]
    ) -> tuple[Webhook, bool]:
        """``POST /webhooks``: create, or update the one with the same event and URL.

        Returns:
            The webhook and whether it was created.
        """
        v = Validator(payload)
        event = v.one_of("event", WEBHOOK_EVENTS, required=True)
        url = v.string("url", required=True, max_len=2048)
        if url is not None and not allowed_host(url):
            v.fail(
                "url",
                "The {attr} must point to 127.0.0.1 or localhost: the sandbox never calls out.",
            )
        active = v.boolean("is_active")
        v.check()
        assert event is not None and url is not None
        for hook in self.webhooks.values():
            if hook.event == event and hook.url == url:
                if active is not None:
                    hook.is_active = active
                self._touch(hook)
                return hook, False
        now = self.now()
        hook = Webhook(now, now, self.next_id("webhook"), event, url, self._token_factory())
        if active is not None:
            hook.is_active = active
        self.webhooks[hook.id] = hook
        return hook, True

    def update_webhook(
        self, hook: Webhook, payload: Mapping[str, Any], *, allowed_host: Callable[[str], bool]
    ) -> Webhook:
        """``PUT /webhooks/{id}``: partial update."""
        v = Validator(payload)
        event = v.one_of("event", WEBHOOK_EVENTS)
        url = v.string("url", max_len=2048)
        if url is not None and not allowed_host(url):
            v.fail(
                "url",
                "The {attr} must point to 127.0.0.1 or localhost: the sandbox never calls out.",
            )
        active = v.boolean("is_active")
        v.check()
        if event is not None:
            hook.event = event
        if url is not None:
            hook.url = url
        if active is not None:
            hook.is_active = active
        self._touch(hook)
        return hook

    def webhook(self, ident: Any) -> Webhook:
        """The webhook with this id; 404 otherwise."""
        return _lookup(self.webhooks, ident, "Webhook")


def as_error(exc: ApiError) -> ValueError:
    """An API error raised by the Python seeding API, as a ``ValueError`` with the messages."""
    detail = "; ".join(f"{k}: {' '.join(v)}" for k, v in (exc.errors or {}).items())
    return ValueError(f"{exc.message} {detail}".strip())
