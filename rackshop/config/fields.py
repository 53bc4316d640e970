"""The value types of the configuration schema, each declared once and used by name.

A type here is an ``Annotated`` pydantic type: what TOML value it takes, how it is normalised,
what it looks like in the JSON Schema, and a :class:`Hint` that :mod:`.messages` uses to word a
problem (``expected an integer (units held back per item)``). Checks that need more than one key
live in :mod:`.checks`; the shape of a single value lives here.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, PlainValidator, ValidationError
from pydantic.functional_serializers import PlainSerializer
from pydantic.json_schema import WithJsonSchema
from pydantic_core import InitErrorDetails, PydanticCustomError

from rackshop.config.values import (
    API_VERSION_RE,
    CURRENCY_RE,
    DEFAULT_API_VERSION,
    HOSTNAME_RE,
    LOCALE_RE,
    LOCATION_GID_RE,
    SHOP_NAME_RE,
    FrozenMap,
)

PROBLEM = "rackshop"
"""The pydantic error type of a problem worded here; its message is used as it is."""


@dataclass(frozen=True)
class Hint:
    """How :mod:`.messages` words a problem with one value (pydantic says only what failed).

    Attributes:
        expected: What the value should be, for a wrong type: ``a Rackbeat item number``.
        what: Appended to type and range problems: `` (units held back per item)``.
        empty: The message for an empty array.
        low: The message for a number below the range, with ``{v}`` for the value.
        refused: Values refused with their own message (``number`` in ``shopify_fields``).
        secret: The key holds a secret reference.
        map_key: Entries of this table are named ``key["entry"]`` in key paths.
    """

    expected: str = ""
    what: str = ""
    empty: str = ""
    low: str = ""
    refused: tuple[tuple[str, str], ...] = ()
    secret: bool = False
    map_key: bool = False


def fail(message: str) -> PydanticCustomError:
    """A problem worded in full, for a validator to raise."""
    return PydanticCustomError(PROBLEM, "{message}", {"message": message})


def fail_at(value: Any, problems: Sequence[tuple[tuple[str | int, ...], str]]) -> ValidationError:
    """Several problems inside one value (array items, map entries), each with its own place."""
    return ValidationError.from_exception_data(
        "config",
        [
            InitErrorDetails(type=fail(message), loc=loc, input=value)
            for loc, message in problems
        ],
    )


def entry(key: str) -> str:
    """The key-path element of a map entry: ``["Outlet"]``."""
    return f'["{key}"]'


def short(value: Any, limit: int = 60) -> str:
    """``repr`` of a value, cut to ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def describe(value: Any) -> str:
    """Name a TOML value's type for a message, with the value when it is short and harmless."""
    if isinstance(value, bool):
        return f"a boolean ({'true' if value else 'false'})"
    if isinstance(value, int):
        return f"an integer ({value})"
    if isinstance(value, float):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"a string ({short(value)})"
    if isinstance(value, dt.datetime):
        return f"a date-time ({value.isoformat()})"
    if isinstance(value, dt.date):
        return f"a date ({value.isoformat()})"
    if isinstance(value, dt.time):
        return f"a time of day ({value.isoformat()})"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


def is_loopback(host: str) -> bool:
    """Whether a host name or address is this machine."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _checked(test: Callable[[str], str | None]) -> AfterValidator:
    """A validator from a test that returns a message for a bad value, None for a good one."""

    def check(value: str) -> str:
        message = test(value)
        if message:
            raise fail(message)
        return value

    return AfterValidator(check)


def _matching(pattern: re.Pattern[str], problem: Callable[[str], str]) -> AfterValidator:
    """A validator of text that ``pattern`` must match whole; ``problem`` words a bad value."""
    return _checked(lambda value: None if pattern.fullmatch(value) else problem(value))


def _pattern_schema(pattern: re.Pattern[str]) -> WithJsonSchema:
    """The JSON Schema of text that matches ``pattern`` (anchored with ``^...$``)."""
    return WithJsonSchema({"type": "string", "pattern": pattern.pattern})


# ----------------------------------------------------------------------------------------------
# Text.

_STRIPPED = Field(min_length=1)


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _item_number(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return _strip(value)


Text = Annotated[str, BeforeValidator(_strip), _STRIPPED]
"""A non-empty string, surrounding whitespace removed."""

ItemNumber = Annotated[
    str,
    BeforeValidator(_item_number),
    _STRIPPED,
    Hint(expected="a Rackbeat item number (a quoted string)"),
    WithJsonSchema({"type": ["string", "integer"]}),
]
"""A Rackbeat item number; an integer is accepted and used as text."""


def _url(value: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise fail(f'{short(value)} is not an http(s) URL; write it like "https://host/path"')
    if parts.username or parts.password:
        raise fail(
            "must not contain a user name or password; credentials belong in the "
            'token keys as { env = "..." } references'
        )
    if parts.query or parts.fragment:
        raise fail(f"{short(value)} must not have a query (?...) or fragment (#...)")
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise fail(f"{short(value)} has an invalid port number") from None
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


Url = Annotated[
    str,
    BeforeValidator(_strip),
    _STRIPPED,
    AfterValidator(_url),
    Hint(expected="a URL (a quoted string)"),
    WithJsonSchema({"type": "string", "format": "uri", "pattern": "^https?://"}),
]
"""An http(s) URL without credentials, query or fragment, with no trailing slash."""

def _with_slash(value: str) -> str:
    return value.rstrip("/") + "/"


RackbeatUrl = Annotated[Url, AfterValidator(_with_slash)]
"""Rackbeat's API address: a URL that ends with ``/`` (paths are joined to it)."""

FilePath = Annotated[
    str, BeforeValidator(_strip), _STRIPPED, Hint(expected="a file path (a quoted string)")]
"""A path; relative to the config file's folder, ``~`` expanded (by :mod:`.build`)."""


Domain = Annotated[Text, AfterValidator(str.lower)]
"""A host name; compared and kept in lower case."""


def _host(value: str) -> str | None:
    if HOSTNAME_RE.fullmatch(value) or _is_ip(value):
        return None
    return f'{short(value)} is not a host name or IP address to listen on, e.g. "127.0.0.1"'


ListenHost = Annotated[Text, _checked(_host)]


def _shop_name_problem(value: str) -> str:
    fixed = re.sub(r"[^a-z0-9_-]+", "-", value.lower()).strip("-")[:40] or "shop"
    return (
        f"{short(value)} is not a valid shop name: use 1 to 40 lower-case "
        f'letters, digits, - or _ (e.g. "{fixed}")'
    )


ShopName = Annotated[Text, _matching(SHOP_NAME_RE, _shop_name_problem),
                     _pattern_schema(SHOP_NAME_RE)]


def _api_version(value: str) -> str | None:
    m = API_VERSION_RE.fullmatch(value)
    if m and m.group(2) in ("01", "04", "07", "10"):
        return None
    return (
        f"{short(value)} is not a Shopify API version: versions are named YYYY-MM "
        f'and released quarterly (months 01, 04, 07, 10), e.g. "{DEFAULT_API_VERSION}"'
    )


ApiVersion = Annotated[Text, _checked(_api_version), WithJsonSchema(
    {"type": "string", "pattern": r"^\d{4}-(01|04|07|10)$"})]


def _tag(value: str) -> str | None:
    if len(value) > 40 or "," in value:
        return f"{short(value)} is not a valid Shopify tag: at most 40 characters, no commas"
    return None


ShopifyTag = Annotated[Text, _checked(_tag), WithJsonSchema(
    {"type": "string", "maxLength": 40, "pattern": "^[^,]+$"})]


def _currency_problem(value: str) -> str:
    fix = f'; write currency = "{value.upper()}"' if CURRENCY_RE.fullmatch(value.upper()) else ""
    return (
        f"{short(value)} is not an ISO 4217 currency code (three "
        f'upper-case letters such as "DKK"){fix}'
    )


Currency = Annotated[Text, _matching(CURRENCY_RE, _currency_problem),
                     _pattern_schema(CURRENCY_RE)]


def _locale_problem(value: str) -> str:
    return (
        f"{short(value)} is not a locale: write a language code such as "
        '"da" or "sv", optionally with a country, "da_DK"'
    )


Locale = Annotated[Text, _matching(LOCALE_RE, _locale_problem), _pattern_schema(LOCALE_RE)]


def location_problem(key: str) -> str | None:
    """What is wrong with a Shopify location named in the config (a name or a gid), if anything."""
    if not key.strip():
        return (
            "a Shopify location must be named: write its name or its gid "
            "(gid://shopify/Location/123)"
        )
    if key.startswith("gid://") and not LOCATION_GID_RE.fullmatch(key):
        return (
            f"{short(key)} is not a Shopify location gid; write "
            "gid://shopify/Location/<number>, or the location's name"
        )
    return None


ShopifyLocation = Annotated[
    Text,
    _checked(location_problem),
    Hint(expected="a Shopify location name or gid (a quoted string)"),
]

_FIELD_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def _shipment_field_problem(value: str) -> str:
    return (
        f"{short(value)} is not a field of a Rackbeat shipment: give "
        'its name, or a dotted path such as "delivery.tracking_number"'
    )


ShipmentField = Annotated[Text, _matching(_FIELD_PATH, _shipment_field_problem),
                          _pattern_schema(_FIELD_PATH)]


def _url_template(value: str) -> str | None:
    if "{number}" in value:
        return None
    return (
        "must contain {number}, where each tracking "
        'number goes, e.g. "https://tracking.example/?id={number}"'
    )


UrlTemplate = Annotated[Text, _checked(_url_template)]


# ----------------------------------------------------------------------------------------------
# Dates.


def _utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def _go_live(value: Any) -> dt.datetime:
    example = (
        "write since = 2026-11-01 (a TOML date, no quotes: midnight UTC) or a date-time "
        "such as since = 2026-11-01T00:00:00+01:00"
    )
    if isinstance(value, dt.datetime):
        return _utc(value)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    if isinstance(value, str):
        text = value.strip()
        try:
            if len(text) == 10:
                d = dt.date.fromisoformat(text)
                return dt.datetime(d.year, d.month, d.day, tzinfo=dt.UTC)
            return _utc(dt.datetime.fromisoformat(text))
        except ValueError:
            raise fail(f"{short(value)} is not a valid date; {example}") from None
    raise fail(f"expected a date, got {describe(value)}; {example}")


GoLive = Annotated[
    dt.datetime,
    PlainValidator(_go_live),
    PlainSerializer(lambda v: v.isoformat()),
    WithJsonSchema({"anyOf": [
        {"type": "string", "format": "date"},
        {"type": "string", "format": "date-time"},
        {"type": "string", "format": "partial-date-time"},
    ]}),
]
"""A date (midnight UTC) or a date-time (no offset: UTC), as a UTC datetime."""


# ----------------------------------------------------------------------------------------------
# Arrays and maps.


def unique(message: str) -> AfterValidator:
    """Refuse an array that names something twice; ``message`` has ``{v}`` for the value."""

    def check(values: list[Any]) -> tuple[Any, ...]:
        seen: list[Any] = []
        problems: list[tuple[tuple[str | int, ...], str]] = []
        for i, v in enumerate(values):
            if v in seen:
                problems.append(((i,), message.format(v=v)))
            seen.append(v)
        if problems:
            raise fail_at(values, problems)
        return tuple(values)

    return AfterValidator(check)


RackbeatLocation = Annotated[
    int,
    Field(ge=1),
    Hint(expected="a Rackbeat location number (a positive integer)",
         low="{v} is not a Rackbeat location number; numbers start at 1"),
]

LocationList = Annotated[
    list[RackbeatLocation],
    Field(min_length=1),
    unique("Rackbeat location {v} is listed twice"),
    Hint(
        expected="an array of Rackbeat location numbers like [1, 2]",
        empty="must list at least one Rackbeat location number, like [1]",
    ),
]


def _all_is_none(value: Any) -> Any:
    # "all" (the default) is no list: every location.
    if value == "all":
        return None
    if isinstance(value, str):
        raise fail(
            f'{short(value)} is not "all" or a list of Rackbeat location numbers such as [1, 2]'
        )
    return value


AllOrLocations = Annotated[
    LocationList | None,
    BeforeValidator(_all_is_none),
    WithJsonSchema({"anyOf": [
        {"const": "all"},
        {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 1,
         "uniqueItems": True}]}),
]
"""``"all"`` (validated as None) or an array of Rackbeat location numbers."""


def _stock_map(value: dict[str, Any]) -> FrozenMap[str, tuple[int, ...]]:
    if not value:
        raise fail(
            'is empty; map at least one Shopify location, like location_map = '
            '{ "Main warehouse" = [1, 2], "Outlet" = [3] }'
        )
    owner: dict[int, str] = {}
    problems: list[tuple[tuple[str | int, ...], str]] = []
    out: dict[str, tuple[int, ...]] = {}
    for key, numbers in value.items():
        for n in numbers:
            if n in owner:
                problems.append(((entry(key),), (
                    f'Rackbeat location {n} is also mapped to "{owner[n]}"; a Rackbeat '
                    "location may feed only one Shopify location, or its stock would be "
                    "offered twice")))
            else:
                owner[n] = key
        out[key] = numbers
    if problems:
        raise fail_at(value, problems)
    return FrozenMap(out)


LocationKey = Annotated[str, _checked(location_problem)]
"""A Shopify location as the key of a map."""


def _listify(value: Any) -> Any:
    # A single location number is a list of one.
    return [value] if isinstance(value, int) and not isinstance(value, bool) else value


StockLocationMap = Annotated[
    dict[LocationKey, Annotated[LocationList, BeforeValidator(_listify)]],
    AfterValidator(_stock_map),
    Hint(
        expected='a table of Shopify location -> Rackbeat location numbers, like '
        'location_map = { "Main warehouse" = [1, 2], "Outlet" = [3] }',
        map_key=True,
    ),
    WithJsonSchema({"type": "object", "minProperties": 1, "additionalProperties": {
        "anyOf": [{"type": "integer", "minimum": 1},
                  {"type": "array", "items": {"type": "integer", "minimum": 1},
                   "minItems": 1, "uniqueItems": True}]}}),
]


def _one_location(value: Any) -> Any:
    if isinstance(value, list) and len(value) == 1:
        return value[0]
    if isinstance(value, list):
        raise fail(
            "must be ONE Rackbeat location number: the stock counted at a Shopify "
            'location is imported to one place; write one number, e.g. "Main warehouse" = 1'
        )
    return value


InitialLocationMap = Annotated[
    dict[LocationKey, Annotated[RackbeatLocation, BeforeValidator(_one_location)]],
    AfterValidator(FrozenMap),
    Hint(
        expected='a table of Shopify location -> ONE Rackbeat location number, like '
        'location_map = { "Main warehouse" = 1 }',
        map_key=True,
    ),
    WithJsonSchema({"type": "object", "additionalProperties": {
        "anyOf": [{"type": "integer", "minimum": 1},
                  {"type": "array", "items": {"type": "integer", "minimum": 1},
                   "minItems": 1, "maxItems": 1}]}}),
]


def _location_number_key(key: str) -> str | None:
    if key.isdigit() and int(key) >= 1:
        return None
    return (
        f"{short(key)} is not a Rackbeat location number: "
        'write the number in quotes, e.g. "1" = "Main warehouse"'
    )


def _fulfillment_map(value: dict[str, str]) -> FrozenMap[int, str]:
    return FrozenMap((int(key), location) for key, location in value.items())


FulfillmentLocationMap = Annotated[
    dict[Annotated[str, _checked(_location_number_key)], Annotated[Text, Hint(
        expected="the Shopify location's name or gid as `rackshop check` lists them")]],
    AfterValidator(_fulfillment_map),
    Hint(
        expected='a table of Rackbeat location number -> Shopify location, like '
        'location_map = { "1" = "Main warehouse" }',
        map_key=True,
    ),
    WithJsonSchema({"type": "object", "propertyNames": {"pattern": "^[1-9][0-9]*$"},
                    "additionalProperties": {"type": "string", "minLength": 1}}),
]


SalesChannels = Annotated[
    list[Text],
    AfterValidator(lambda value: tuple(dict.fromkeys(value))),
    Hint(expected='an array of sales channel names, e.g. ["Online Store", "Point of Sale"] '
         "([] publishes nowhere)"),
]
"""Sales channel names, each once."""


def names(allowed: Sequence[str], example: str, refused: tuple[tuple[str, str], ...] = ()) -> Any:
    """An array of distinct names out of ``allowed`` (product fields), not empty."""
    item = Literal[tuple(allowed)]  # type: ignore[valid-type]
    return Annotated[
        list[item],  # type: ignore[valid-type]
        Field(min_length=1),
        unique("'{v}' is listed twice"),
        Hint(
            expected=f"an array such as {example}",
            empty='must name at least one field; to stop syncing products set master = "off"',
            refused=refused,
        ),
    ]
