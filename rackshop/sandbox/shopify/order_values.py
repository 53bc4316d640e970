"""Small values the order part of the twin shares: user errors in the order mutations' shape,
coerced GraphQL input as plain JSON, UTC timestamps, amounts as Shopify words them in messages
and in REST payloads, the shop of a resolver."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

from graphql import GraphQLResolveInfo

from . import ordermath as om
from .state import ShopState

_CURRENCY_SYMBOLS = {
    "USD": "$", "CAD": "$", "AUD": "$", "NZD": "$", "EUR": "€", "GBP": "£", "JPY": "¥",
}  # fmt: skip

ORDER_NUMBER_START = 1000
"""Names start at ``#1001``."""


class _Twin(Protocol):
    """What this module needs of ``ShopifyTwin`` (a shop by name)."""

    def shop(self, name: str) -> ShopState: ...


def _shop_of(info: GraphQLResolveInfo) -> ShopState:
    shop: ShopState = info.context.shop
    return shop


def _as_shop(twin_or_shop: Any, shop_name: str | None = None) -> ShopState:
    if isinstance(twin_or_shop, ShopState):
        return twin_or_shop
    if shop_name is not None:
        shop: ShopState = twin_or_shop.shop(shop_name)
        return shop
    shops = getattr(twin_or_shop, "shops", None)
    if isinstance(shops, Mapping) and len(shops) == 1:
        only: ShopState = next(iter(shops.values()))
        return only
    raise ValueError("pass a ShopState, or the twin and shop_name")


def _plain(value: Any) -> Any:
    """A JSON-friendly copy of a coerced GraphQL input (Decimals and datetimes as strings)."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return value


def _utc(value: Any) -> str | None:
    """An ISO timestamp normalised to UTC with ``Z`` (so text order is time order)."""
    when = om.parse_datetime(value) if value else None
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if when else None


def _error(
    field: Sequence[str | int] | None, message: str, code: str | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        # Indexes stay integers: OrderCreateUserError.field answers them as JSON numbers (see
        # app.IndexKeepingExecutor); every other user error type serialises them as strings.
        "field": None if field is None else [f if isinstance(f, int) else str(f) for f in field],
        "message": message,
    }
    if code is not None:
        out["code"] = code
    return out


def _uncoded(errors: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The same errors without ``code`` (for plain ``UserError`` lists)."""
    return [{"field": e["field"], "message": e["message"]} for e in errors]


def _fmt_money(amount: Decimal, currency: str) -> str:
    """``$25.00`` as Shopify words amounts in messages (symbol when known, else the code)."""
    text = om.format_money_scalar(amount, currency)
    symbol = _CURRENCY_SYMBOLS.get(currency)
    return f"{symbol}{text}" if symbol else f"{text} {currency}"


def _rest_money(amount: Decimal, currency: str) -> str:
    return om.format_money_scalar(amount, currency)
