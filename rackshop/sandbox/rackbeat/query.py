"""Lists of the Rackbeat twin: paging, filters, sorting and field selection.

Every list endpoint answers ``206 Partial Content`` with
``{<plural>: [...], "page", "pages", "limit", "total"}``. A :class:`ListSpec` says, per endpoint,
which properties exist for filtering and sorting (``getters``), which ``search`` looks at, and
which ``simple_filter[...]`` accepts; anything else is refused with a 422, as the real service
refuses ``simple_filter[is_booked]`` on ``/orders``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any, Generic, TypeVar

from .validation import JSON, ApiError, invalid, parse_datetime, to_int, to_number

T = TypeVar("T")

DEFAULT_LIMIT = 20
MAX_LIMIT = 1000
_SIMPLE_FILTER = re.compile(r"^simple_filter\[([^\]]*)\]$")
_FIELD_FILTER = re.compile(r"^(field_eq|field)\[([^\]]*)\]$")


@dataclass(frozen=True)
class ListSpec(Generic[T]):
    """How one list endpoint filters and sorts.

    Attributes:
        key: The plural envelope key (``products``, ``inventory_regulations``...).
        getters: Property name -> value of a record, for filters and ``order_by``.
        search: The properties ``search=`` matches (case-insensitive substring).
        filterable: The properties ``simple_filter[...]`` accepts.
        default_order: The property lists are sorted by when no ``order_by`` is given.
        custom_fields: Returns a record's custom field values (``field_eq[id]``), if it has any.
    """

    key: str
    getters: Mapping[str, Callable[[T], Any]]
    search: tuple[str, ...] = ()
    filterable: frozenset[str] = frozenset()
    default_order: str = "number"
    custom_fields: Callable[[T], Mapping[int, str]] | None = None


@dataclass
class Page:
    """The paging parameters of one request."""

    page: int = 1
    limit: int = DEFAULT_LIMIT


@dataclass
class Selection:
    """A parsed ``fields=`` parameter: top-level names, each with an optional sub-selection."""

    names: dict[str, Selection | None] = field(default_factory=dict)
    everything: bool = False


def parse_page(query: Mapping[str, list[str]]) -> Page:
    """``page`` (1-based) and ``limit`` (1..1000).

    Raises:
        ApiError: 422 for a non-integer, a page below 1 or a limit outside 1..1000.
    """
    errors: dict[str, list[str]] = {}
    out = Page()
    for key, minimum in (("page", 1), ("limit", 1)):
        raw = query.get(key, [""])[0].strip()
        if not raw:
            continue
        value = to_int(raw)
        if value is None:
            errors[key] = [f"The {key} must be an integer."]
        elif value < minimum:
            errors[key] = [f"The {key} must be at least {minimum}."]
        elif key == "limit" and value > MAX_LIMIT:
            errors[key] = [f"The limit may not be greater than {MAX_LIMIT}."]
        else:
            setattr(out, key, value)
    if errors:
        raise invalid(errors)
    return out


def parse_fields(text: str | None) -> Selection | None:
    """Parse ``a,b,locations(*),group(number,name)``; ``None`` when absent or empty."""
    if text is None or not text.strip():
        return None
    sel, _rest = _parse_selection(text.replace(" ", ""), 0)
    return sel


def _parse_selection(text: str, pos: int) -> tuple[Selection, int]:
    sel = Selection()
    name = ""
    while pos < len(text):
        ch = text[pos]
        if ch == "(":
            sub, pos = _parse_selection(text, pos + 1)
            if name:
                sel.names[name] = sub
            name = ""
            continue
        if ch == ")":
            _add_name(sel, name)
            return sel, pos + 1
        if ch == ",":
            _add_name(sel, name)
            name = ""
        else:
            name += ch
        pos += 1
    _add_name(sel, name)
    return sel, pos


def _add_name(sel: Selection, name: str) -> None:
    if name == "*":
        sel.everything = True
    elif name and name not in sel.names:
        sel.names[name] = None


def select(record: Any, sel: Selection | None) -> Any:
    """Keep only the selected keys of a record (recursing into objects and lists)."""
    if sel is None:
        return record
    if isinstance(record, list):
        return [select(r, sel) for r in record]
    if not isinstance(record, dict):
        return record
    if sel.everything and not sel.names:
        return record
    out = dict(record) if sel.everything else {}
    for name, sub in sel.names.items():
        if name in record:
            out[name] = select(record[name], sub)
    return out


def _matches(value: Any, wanted: str) -> bool:
    """``simple_filter`` equality: case-insensitive for text (MySQL's default collation)."""
    if value is None:
        return wanted.strip().lower() in ("", "null")
    if isinstance(value, bool):
        return wanted.strip().lower() in (("1", "true") if value else ("0", "false"))
    if isinstance(value, int | float):
        number = to_number(wanted)
        return number is not None and float(value) == number
    return str(value).casefold() == wanted.casefold()


def _sort_key(value: Any) -> tuple[int, Any]:
    # NULLs first, as MySQL sorts them ascending; then numbers, text, dates.
    if value is None:
        return (0, 0)
    if isinstance(value, bool):
        return (1, int(value))
    if isinstance(value, int | float):
        return (1, float(value))
    if isinstance(value, datetime):
        return (3, value.timestamp())
    return (2, str(value).casefold())


def filter_records(
    query: Mapping[str, list[str]], spec: ListSpec[T], records: Iterable[T], tz: tzinfo
) -> list[T]:
    """Apply ``search``, the date ranges, ``simple_filter``, custom fields and ``order_by``.

    Raises:
        ApiError: 422 for an unknown filter property, a bad date or a bad sort.
    """
    rows = list(records)
    errors: dict[str, list[str]] = {}

    text = query.get("search", [""])[0].strip().casefold()
    if text:
        rows = [
            r
            for r in rows
            if any(text in str(spec.getters[k](r) or "").casefold() for k in spec.search)
        ]

    for prop in ("created_at", "updated_at"):
        getter = spec.getters.get(prop)
        for suffix in ("from", "to"):
            name = f"{prop}_{suffix}"
            raw = query.get(name, [""])[0]
            if not raw.strip() or getter is None:
                continue
            bound = parse_datetime(raw, tz, end_of_day=suffix == "to")
            if bound is None:
                errors[name] = [f"The {name.replace('_', ' ')} is not a valid date."]
                continue
            if suffix == "from":
                rows = [r for r in rows if getter(r) >= bound]
            else:
                rows = [r for r in rows if getter(r) <= bound]

    for key, values in query.items():
        match = _SIMPLE_FILTER.match(key)
        if match:
            prop = match.group(1)
            if prop not in spec.filterable or prop not in spec.getters:
                raise ApiError(422, f"Property '{prop}' is not filterable")
            get = spec.getters[prop]
            rows = [r for r in rows if _matches(get(r), values[0])]
            continue
        match = _FIELD_FILTER.match(key)
        if match and spec.custom_fields is not None:
            rows = _custom_field_filter(
                rows,
                spec.custom_fields,
                to_int(match.group(2)),
                values[0],
                match.group(1) == "field_eq",
            )

    order_by = query.get("order_by", [""])[0].strip() or spec.default_order
    direction = query.get("order_direction", ["ASC"])[0].strip().upper() or "ASC"
    if order_by not in spec.getters:
        errors["order_by"] = [f"Property '{order_by}' is not sortable"]
    if direction not in ("ASC", "DESC"):
        errors["order_direction"] = ["The selected order direction is invalid."]
    if errors:
        raise invalid(errors)
    get = spec.getters[order_by]
    rows.sort(key=lambda r: _sort_key(get(r)), reverse=direction == "DESC")
    return rows


def _custom_field_filter(
    rows: list[T],
    fields_of: Callable[[T], Mapping[int, str]],
    field_id: int | None,
    wanted: str,
    exact: bool,
) -> list[T]:
    """``field_eq[id]=v`` (exact) and ``field[id]=v`` (partial), case-insensitive."""
    want = wanted.casefold()
    out = []
    for r in rows:
        value = fields_of(r).get(field_id or 0)
        if value is not None and (value.casefold() == want if exact else want in value.casefold()):
            out.append(r)
    return out


def page_body(
    key: str,
    rows: Sequence[T],
    page: Page,
    serialize: Callable[[T], JSON],
    sel: Selection | None,
) -> JSON:
    """The 206 body: one page of ``rows``, serialised and field-selected.

    ``pages`` is 1 for an empty list (a choice: the real value is unknown; clients must cope
    with 0 too).
    """
    total = len(rows)
    pages = max(1, math.ceil(total / page.limit))
    start = (page.page - 1) * page.limit
    chunk = rows[start : start + page.limit]
    return {
        key: [select(serialize(r), sel) for r in chunk],
        "page": page.page,
        "pages": pages,
        "limit": page.limit,
        "total": total,
    }
