"""The first layer of a Rackbeat account: every record table and the plumbing (clock, ids,
events), then the inventory: locations, product groups, items and BOMs, stock per location,
adjustments. :class:`~.model.Account` adds sales, invoicing and webhooks on top."""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable, Mapping
from datetime import datetime, tzinfo
from typing import Any
from urllib.parse import quote

from .records import (
    DEFAULT_CURRENCIES,
    DEFAULT_CUSTOMER_GROUPS,
    DEFAULT_EMPLOYEES,
    DEFAULT_LAYOUTS,
    DEFAULT_PAYMENT_TERMS,
    DEFAULT_UNITS,
    STOCK_DEDUCTED_ON,
    STOCK_EVENT,
    WEIGHT_UNITS,
    Adjustment,
    Component,
    Customer,
    Invoice,
    Item,
    Location,
    Lookups,
    Order,
    ProductGroup,
    Shipment,
    Stamped,
    Webhook,
    apply_values,
    iso,
    lookup,
    set_given,
)
from .validation import JSON, Validator, invalid, not_found, refused, to_int


class InventoryAccount:
    """One Rackbeat account's records and plumbing, and its inventory rules.

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
        #: Whether an order line's ``line_price`` is the line's total before discount instead of
        #: the unit price (the ``line-price-total`` variant; lines keep what they were written as)
        self.line_price_is_total = False
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
        return lookup(self.locations, number, "Location")

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
        rates, has_inventory, is_sellable = _group_values(v)
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
        rates, has_inventory, is_sellable = _group_values(v)
        set_given(group, name=name, **rates, has_inventory=has_inventory, is_sellable=is_sellable)
        self._touch(group)
        return group

    def group(self, number: Any) -> ProductGroup:
        """The product group with this number; 404 otherwise."""
        return lookup(self.groups, number, "Product group")

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
        apply_values(item, values, merged="field_values")
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
        apply_values(item, values, merged="field_values")
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
        self._refuse_if_used(item, "deleted")
        del self.items[item.id]
        del self._item_index[item.number.casefold()]
        self._lots_cache = None
        self._emit_key(f"{item.type}.deleted", item.number)

    def _refuse_if_used(self, item: Item, done: str) -> None:
        """Refuse to have the product ``done`` (deleted, converted) once stock was registered
        for it or a line uses it."""
        if item.stock_registered:
            raise refused(
                f"Product '{item.number}' can't be {done}, "
                "since inventory has been registered for it."
            )
        if self._used_in_lines(item):
            raise refused(f"Product '{item.number}' can't be {done}, since it is used in lines.")

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
        self._refuse_if_used(item, "converted")
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
        return lookup(self.adjustments, ident, "Inventory adjustment")

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


def _group_values(v: Validator) -> tuple[dict[str, float | None], bool | None, bool | None]:
    """A product group payload's VAT rates, ``has_inventory`` and ``is_sellable`` (``None``:
    not given), checked together with what was read before (422 on any problem)."""
    rates = {
        k: v.number(k, min_value=0, max_value=100)
        for k in ("vat_domestic", "vat_eu", "vat_abroad", "vat_domestic_exempt")
    }
    has_inventory = v.boolean("has_inventory")
    is_sellable = v.boolean("is_sellable")
    v.check()
    return rates, has_inventory, is_sellable
