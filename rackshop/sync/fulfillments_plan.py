"""Pure parts of ``sync-fulfillments``: a Rackbeat shipment against a Shopify order's fulfilment
orders.

No I/O and no clock: the job reads the shipment and the order, these functions decide, the job
writes. The rules:

* lines the Shopify order never had (the shipping item, a rounding line) are left out;
* a shipment's units are matched by SKU (trimmed, case-folded, as Rackbeat matches numbers)
  against what the order's fulfilment orders still have to fulfil (``remainingQuantity`` of
  the open ones); a shipment asking for more than remains fails with a reason;
* a shipment whose every unit Shopify has already fulfilled was fulfilled by hand (or by another
  app): it is recognised and left alone;
* the units are spread over the fulfilment orders that hold them, one fulfilment per Shopify
  location (``fulfillmentCreate`` takes fulfilment orders of one location only) and per 250
  lines (its input limit); with a
  location map, only the fulfilment orders assigned to the mapped location may take them;
* a fulfilment rackshop made but whose answer was lost is recognised by its units (and tracking
  numbers) among the order's fulfilments created since the attempt.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rackshop.sync.product_values import sku_key

#: Fulfilment order states that can still be fulfilled.
FULFILLABLE = ("OPEN", "IN_PROGRESS")
#: Fulfilment order lines one ``fulfillmentCreate`` may name (Shopify's input array limit).
MAX_LINES = 250


@dataclass(frozen=True)
class Tracking:
    """Tracking of one shipment: the carrier, every number, one URL per number (or none)."""

    company: str | None = None
    numbers: tuple[str, ...] = ()
    urls: tuple[str, ...] = ()

    def input(self) -> dict[str, Any] | None:
        """Shopify's ``FulfillmentTrackingInput``, or ``None`` when there is nothing to send."""
        if not self.numbers and not self.company:
            return None
        out: dict[str, Any] = {}
        if self.company:
            out["company"] = self.company
        if len(self.numbers) == 1:
            out["number"] = self.numbers[0]
            if self.urls:
                out["url"] = self.urls[0]
        elif self.numbers:
            out["numbers"] = list(self.numbers)
            if len(self.urls) == len(self.numbers):
                out["urls"] = list(self.urls)
        return out


@dataclass(frozen=True)
class TrackingFields:
    """Where a shipment keeps its tracking (dotted paths into the shipment's JSON)."""

    number: str = "tracking_number"
    url: str = "tracking_url"
    company: str = "carrier"
    default_company: str | None = None
    url_template: str | None = None  # e.g. "https://tracking.example/?id={number}"


def _path(record: Mapping[str, Any], dotted: str) -> Any:
    value: Any = record
    for part in dotted.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def tracking_of(shipment: Mapping[str, Any], fields: TrackingFields) -> Tracking:
    """The tracking a shipment carries (several numbers: separated by commas, semicolons,
    whitespace, or a list)."""
    raw = _path(shipment, fields.number)
    if isinstance(raw, (list, tuple)):
        numbers = [str(n).strip() for n in raw if str(n).strip()]
    else:
        numbers = [n for n in re.split(r"[,;\s]+", str(raw or "")) if n]
    numbers = list(dict.fromkeys(numbers))  # the same number twice is one parcel
    url = str(_path(shipment, fields.url) or "").strip()
    company = str(_path(shipment, fields.company) or "").strip() or fields.default_company
    urls: list[str] = []
    if fields.url_template and numbers:
        urls = [fields.url_template.replace("{number}", n) for n in numbers]
    elif url:
        urls = [url]
    return Tracking(company or None, tuple(numbers), tuple(urls))


def shipment_units(shipment: Mapping[str, Any]) -> dict[str, int]:
    """SKU key -> units of a shipment's lines (fractions rounded: Shopify counts whole units)."""
    out: dict[str, float] = {}
    for line in shipment.get("lines") or []:
        item = line.get("item") if isinstance(line.get("item"), Mapping) else {}
        number = line.get("child_id") or (item or {}).get("number")
        key = sku_key(str(number or ""))
        if key:
            out[key] = out.get(key, 0.0) + float(line.get("quantity") or 0)
    return {k: round(v) for k, v in out.items() if round(v) > 0}


@dataclass
class Group:
    """One ``fulfillmentCreate``: units of fulfilment orders assigned to one location."""

    location: str
    units: dict[str, int] = field(default_factory=dict)
    by_order: dict[str, list[tuple[str, int]]] = field(default_factory=dict)  # FO -> lines
    line_skus: dict[str, str] = field(default_factory=dict)  # FO line -> SKU key

    def input(self, tracking: Tracking, notify: bool) -> dict[str, Any]:
        """Shopify's ``FulfillmentInput`` for this group."""
        out: dict[str, Any] = {
            "notifyCustomer": notify,
            "lineItemsByFulfillmentOrder": [
                {"fulfillmentOrderId": fo,
                 "fulfillmentOrderLineItems": [{"id": i, "quantity": q} for i, q in lines]}
                for fo, lines in sorted(self.by_order.items())],
        }
        info = tracking.input()
        if info:
            out["trackingInfo"] = info
        return out


@dataclass
class Allocation:
    """What to do with a shipment's units (or why nothing can be done)."""

    groups: list[Group] = field(default_factory=list)
    already: bool = False  # every unit is fulfilled in Shopify already
    problem: str | None = None


def remaining(order: Mapping[str, Any], location: str | None = None) -> dict[str, int]:
    """SKU key -> units the order's fulfillable fulfilment orders still hold (at ``location``)."""
    out: dict[str, int] = {}
    for fo, line in _open_lines(order, location):
        del fo
        key = sku_key(line.get("sku"))
        out[key] = out.get(key, 0) + int(line.get("remainingQuantity") or 0)
    return out


def _open_lines(order: Mapping[str, Any],
                location: str | None) -> Iterable[tuple[Mapping[str, Any], Mapping[str, Any]]]:
    for fo in (order.get("fulfillmentOrders") or {}).get("nodes") or []:
        if fo.get("status") not in FULFILLABLE:
            continue
        if location is not None and _fo_location(fo) != location:
            continue
        for line in (fo.get("lineItems") or {}).get("nodes") or []:
            if int(line.get("remainingQuantity") or 0) > 0:
                yield fo, line


def on_order(order: Mapping[str, Any], units: Mapping[str, int]) -> dict[str, int]:
    """``units`` less the lines Shopify's order never had (the shipping item, a rounding line:
    Rackbeat's own lines)."""
    known = {sku_key(line.get("sku"))
             for fo in (order.get("fulfillmentOrders") or {}).get("nodes") or []
             for line in (fo.get("lineItems") or {}).get("nodes") or []}
    return {k: q for k, q in units.items() if k in known}


def _fo_location(fo: Mapping[str, Any]) -> str:
    return str(((fo.get("assignedLocation") or {}).get("location") or {}).get("id") or "")


def allocate(order: Mapping[str, Any], units: Mapping[str, int],
             location: str | None = None) -> Allocation:
    """Spread ``units`` over the order's open fulfilment orders (at ``location``, if given).

    Args:
        order: The order as ``FulfillmentState`` reads it.
        units: SKU key -> units to fulfil.
        location: The Shopify location that must fulfil them (a location map), or ``None`` for
            the fulfilment orders' own assigned locations.
    """
    units = on_order(order, units)
    if not units:
        return Allocation(problem="none of the shipment's items is on the Shopify order")
    left_anywhere = remaining(order)
    if all(left_anywhere.get(k, 0) == 0 for k in units):
        return Allocation(already=True)
    left_here = remaining(order, location)
    short = {k: (q, left_here.get(k, 0)) for k, q in units.items() if left_here.get(k, 0) < q}
    if short:
        parts = ", ".join(f"{k}: {have} of {want}" for k, (want, have) in sorted(short.items()))
        where = " at the mapped location" if location is not None else ""
        return Allocation(problem=f"Shopify has fewer units left to fulfil{where} than the "
                          f"shipment holds ({parts}); fulfil it in Shopify by hand, or correct "
                          "the shipment")
    need = dict(units)
    groups: dict[str, Group] = {}
    for fo, line in _open_lines(order, location):
        key = sku_key(line.get("sku"))
        take = min(need.get(key, 0), int(line.get("remainingQuantity") or 0))
        if take <= 0:
            continue
        need[key] -= take
        group = groups.setdefault(_fo_location(fo), Group(_fo_location(fo)))
        group.units[key] = group.units.get(key, 0) + take
        group.by_order.setdefault(str(fo["id"]), []).append((str(line["id"]), take))
        group.line_skus[str(line["id"])] = key
    return Allocation(groups=[part for k in sorted(groups) for part in _split(groups[k])])


def _split(group: Group, size: int = MAX_LINES) -> list[Group]:
    """A group in parts of at most ``size`` fulfilment order lines (Shopify's input limit)."""
    rows = [(fo, line, qty) for fo, lines in sorted(group.by_order.items())
            for line, qty in lines]
    if len(rows) <= size:
        return [group]
    units = dict(group.units)
    parts: list[Group] = []
    for i in range(0, len(rows), size):
        part = Group(group.location)
        for fo, line, qty in rows[i:i + size]:
            part.by_order.setdefault(fo, []).append((line, qty))
        parts.append(part)
    # each part's units, by SKU, from the lines it holds
    skus = group.line_skus
    for part in parts:
        for lines in part.by_order.values():
            for line, qty in lines:
                key = skus[line]
                part.units[key] = part.units.get(key, 0) + qty
                units[key] -= qty
    assert all(v == 0 for v in units.values())
    return parts


def fulfilment_units(fulfilment: Mapping[str, Any]) -> dict[str, int]:
    """SKU key -> units of one existing Shopify fulfilment."""
    out: dict[str, int] = {}
    for node in (fulfilment.get("fulfillmentLineItems") or {}).get("nodes") or []:
        key = sku_key((node.get("lineItem") or {}).get("sku"))
        out[key] = out.get(key, 0) + int(node.get("quantity") or 0)
    return out


def find_made(order: Mapping[str, Any], units: Mapping[str, int], tracking: Tracking,
              since: datetime, claimed: Sequence[str] = ()) -> str | None:
    """The fulfilment a lost ``fulfillmentCreate`` made, if there is one.

    It was created at or after ``since``, holds exactly ``units``, carries the shipment's
    tracking numbers (when it has any), succeeded, and is not ``claimed`` by another shipment.
    """
    for f in order.get("fulfillments") or []:
        if str(f.get("id")) in claimed or f.get("status") not in ("SUCCESS", None):
            continue
        created = _time(f.get("createdAt"))
        if created is None or created < since:
            continue
        if fulfilment_units(f) != dict(units):
            continue
        numbers = {str(t.get("number")) for t in f.get("trackingInfo") or [] if t.get("number")}
        if tracking.numbers and numbers != set(tracking.numbers):
            continue
        return str(f["id"])
    return None


def _time(text: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
