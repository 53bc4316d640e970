"""The configuration's vocabulary: constants, allowed values, :class:`Secret`, :class:`FrozenMap`.

The ``Literal`` types are the one list of allowed values: the schema (:mod:`.schema`) validates
against them, the documentation and the JSON Schema list them.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Literal, TypeVar, get_args

# ----------------------------------------------------------------------------------------------
# Constants and allowed values (one source of truth: the Literal types).

APP_NAME = "rackshop"
CONFIG_ENV_VAR = "RACKSHOP_CONFIG"
"""Environment variable naming the config file when ``--config`` is not given."""
DEFAULT_CONFIG_NAME = "rackshop.toml"
"""Looked for in the current folder."""
DEFAULT_RACKBEAT_URL = "https://app.rackbeat.com/api/"
DEFAULT_API_VERSION = "2026-07"
"""The Shopify Admin API version rackshop's GraphQL documents are validated against."""
SHOPIFY_ORDER_HISTORY_DAYS = 60
"""Shopify shows only this many days of orders unless the app has ``read_all_orders``."""
METAFIELD_NAMESPACE = "rackshop"
METAFIELD_KEY = "rackbeat_order"

LogLevel = Literal["debug", "info", "warning", "error"]
LogFormat = Literal["text", "json"]
ShopPlan = Literal["standard", "advanced", "plus", "enterprise"]
TransferOn = Literal["created", "paid", "fulfilled"]
ProcessTo = Literal["draft", "booked", "shipped", "invoiced", "shipped_invoiced"]
OrderCurrency = Literal["shop", "presentment"]
WriteBack = Literal["tag", "metafield", "both", "off"]
AfterTransfer = Literal["sync", "report"]
VatZone = Literal["domestic", "eu", "abroad", "domestic_exempt"]
ProductMaster = Literal["rackbeat", "shopify", "off"]
RackbeatField = Literal["name", "number", "sales_price", "barcode", "description", "group"]
ShopifyField = Literal["name", "description", "sales_price", "weight"]
ProductStatus = Literal["draft", "active"]
BarredAction = Literal["draft", "archive", "ignore"]
WeightUnit = Literal["kg", "g", "lb", "oz"]
PriceRounding = Literal["cent", "whole", "95"]

RACKBEAT_FIELDS: tuple[RackbeatField, ...] = get_args(RackbeatField)
SHOPIFY_FIELDS: tuple[ShopifyField, ...] = get_args(ShopifyField)

SHOP_NAME_RE = re.compile(r"^[a-z0-9_-]{1,40}$")
API_VERSION_RE = re.compile(r"^(\d{4})-(\d{2})$")
MYSHOPIFY_RE = re.compile(r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$")
HOSTNAME_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:\d{1,5})?$")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
LOCALE_RE = re.compile(r"^[a-z]{2}(_[A-Z]{2})?$")
LOCATION_GID_RE = re.compile(r"^gid://shopify/Location/\d+$")

K = TypeVar("K")
V = TypeVar("V")


# ----------------------------------------------------------------------------------------------
# Value types.


class Secret:
    """A secret value (token, client secret) that never shows itself by accident.

    ``repr()`` and ``str()`` give ``Secret('***')``, so a secret inside a dataclass, an
    f-string or an exception message stays hidden. Call :meth:`reveal` at the one place the value
    is really needed (an HTTP header). Two secrets are equal when their values are equal.

    Args:
        value: The secret itself, or ``None`` for a reference that was not resolved
            (``load_config(..., resolve_secrets=False)``).
        source: Where it came from, for messages: ``environment variable SHOPIFY_DK_TOKEN`` or
            ``file /etc/rackshop/dk-token.txt``. Never contains the value.
    """

    __slots__ = ("_value", "source")
    _value: str | None
    source: str

    def __init__(self, value: str | None, source: str = "") -> None:
        object.__setattr__(self, "_value", value)
        object.__setattr__(self, "source", source)

    @classmethod
    def unresolved(cls, source: str) -> Secret:
        """A reference whose value was not read (``resolve_secrets=False``)."""
        return cls(None, source)

    @property
    def resolved(self) -> bool:
        """Whether the value was read (False only with ``resolve_secrets=False``)."""
        return self._value is not None

    def reveal(self) -> str:
        """Return the secret value. Use it only where the value is sent, never in messages.

        Raises:
            RuntimeError: The config was loaded with ``resolve_secrets=False``.
        """
        if self._value is None:
            raise RuntimeError(
                f"the secret from {self.source} was not read (config loaded with "
                "resolve_secrets=False)"
            )
        return self._value

    def __setattr__(self, name: str, value: object) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        if self._value is None or other._value is None:
            return self._value is other._value and self.source == other.source
        return self._value == other._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value if self._value is not None else self.source))

    def __reduce__(self) -> tuple[Any, ...]:
        return (Secret, (self._value, self.source))


class FrozenMap(Mapping[K, V]):
    """A read-only, hashable mapping, so the config dataclasses stay frozen and hashable."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[K, V] | Iterable[tuple[K, V]] = ()) -> None:
        self._data: dict[K, V] = dict(data)

    def __getitem__(self, key: K) -> V:
        return self._data[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        return hash(frozenset(self._data.items()))

    def __repr__(self) -> str:
        return f"FrozenMap({self._data!r})"


