"""The Rackbeat twin's records: the dataclasses an account holds (locations, product groups,
items and BOM components, customers, orders and their lines, shipments, invoices, adjustments,
webhooks), the lookups seeded into every account, and the constants the rules use."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from .validation import JSON, dec, money, not_found, to_int

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

HEADER_STRINGS = ("other_reference", "heading", "note", "delivery_terms")
ADDRESS_PARTS = (
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


def lookup(table: Mapping[int, T], key: Any, what: str) -> T:
    """The record numbered ``key`` in ``table``, or the API's 404 naming ``what``."""
    number = to_int(key)
    if number is None or number not in table:
        raise not_found(what, key)
    return table[number]

def set_given(record: object, **values: Any) -> None:
    """Set each attribute given a value (``None``: not in the payload, left as it is)."""
    for name, value in values.items():
        if value is not None:
            setattr(record, name, value)


def apply_values(record: object, values: Mapping[str, Any], *, merged: str) -> None:
    """Set each attribute from validated payload values; the dict attribute named ``merged``
    (an item's ``field_values``, a customer's ``address``) is updated key by key, not replaced."""
    for name, value in values.items():
        if name == merged:
            getattr(record, name).update(value)
        else:
            setattr(record, name, value)


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
    """One order line; ``line_price`` is the unit price ex VAT, or the line's total ex VAT
    before discount on an account of the ``line-price-total`` variant (``price_is_total``)."""

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
    price_is_total: bool = False  # line_price is the line's total (variant line-price-total)

    def total(self) -> float:
        """Line total ex VAT: quantity x unit price x (1 - discount), rounded to cents (or
        line_price x (1 - discount) when the price is the line's total)."""
        gross = dec(self.line_price)
        if not self.price_is_total:
            gross = dec(self.quantity) * gross
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
