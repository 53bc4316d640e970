"""The Shopify twin's in-memory data model: one :class:`ShopState` per shop.

Records are plain dicts keyed by their GraphQL field names wherever graphql-core's default
resolver can read them directly (``title``, ``sku``, ``updatedAt``...). Keys that are not GraphQL
fields carry links between records (``productId``, ``inventoryItemId``, ``variantIds``) or
internal bookkeeping (keys starting with ``_``); resolvers in :mod:`.catalog` turn those into
objects and connections.

Also here, because every resolver module needs them: global ids, the cursor-paginated
:func:`connection` helper, :func:`idempotency_key`, the leaky :class:`Bucket` and the
bulk-mode switch that lets a bulk query read whole connections.
"""

from __future__ import annotations

import base64
import contextlib
import contextvars
import json
import re
import time
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, Protocol, TypeVar

from graphql import GraphQLError, GraphQLResolveInfo, GraphQLSchema, value_from_ast_untyped

from ..base import Clock
from . import consistency, taxonomy

MAX_PAGE_SIZE = 250
"""Largest ``first``/``last`` Shopify accepts on a connection."""

PLANS: dict[str, tuple[float, float]] = {
    "standard": (2000.0, 100.0),
    "advanced": (4000.0, 200.0),
    "plus": (20000.0, 1000.0),
    "enterprise": (40000.0, 2000.0),
}
"""Plan name -> (bucket size, restore rate per second)."""

QUANTITY_NAMES = (
    "available",
    "on_hand",
    "committed",
    "incoming",
    "reserved",
    "damaged",
    "quality_control",
    "safety_stock",
)
"""Inventory quantity names a level holds. ``on_hand`` is ``available`` plus every
unavailable state (committed, reserved, damaged, quality_control, safety_stock)."""

UNAVAILABLE_NAMES = ("committed", "reserved", "damaged", "quality_control", "safety_stock")

_GID = re.compile(r"^gid://shopify/([A-Za-z]+)/(\d+)(\?.*)?$")

# A bulk operation runs its inner query with this set, so that connections return every node.
_BULK_MODE: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "shopify_bulk_mode", default=False
)


def parse_gid(gid: Any) -> tuple[str, int] | None:
    """``("Product", 12)`` from ``gid://shopify/Product/12``; ``None`` if it is not a gid."""
    if not isinstance(gid, str):
        return None
    m = _GID.match(gid)
    if not m:
        return None
    return m.group(1), int(m.group(2))


def gid_number(gid: Any) -> int:
    """The numeric part of a gid (0 if it has none)."""
    parsed = parse_gid(gid)
    return parsed[1] if parsed else 0


def iso(ts: float) -> str:
    """ISO-8601 UTC with a ``Z``, second resolution, as Shopify prints ``DateTime``."""
    return datetime.fromtimestamp(int(ts), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


V = TypeVar("V")


class SchemaMemo(Generic[V]):
    """What was worked out from a query text against a schema, kept per schema (at most
    ``limit`` texts each): clients send the same few documents over and over, and parsing and
    validating one costs more than answering a small one."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._known: weakref.WeakKeyDictionary[GraphQLSchema, dict[str, V]] = (
            weakref.WeakKeyDictionary())

    def get(self, schema: GraphQLSchema, text: str, work_out: Callable[[], V]) -> V:
        """The memoised value for ``text``, worked out (and kept, while there is room) once."""
        known = self._known.setdefault(schema, {})
        found = known.get(text)
        if found is None:
            found = work_out()
            if len(known) < self.limit:
                known[text] = found
        return found


class Bucket:
    """Shopify's leaky bucket of cost points for one app and shop.

    Args:
        now: Twin-time source (seconds), e.g. :meth:`Clock.now`.
        maximum: Bucket size in points.
        rate: Points restored per twin-second.
    """

    def __init__(self, now: Callable[[], float], maximum: float, rate: float) -> None:
        self._now = now
        self.maximum = float(maximum)
        self.rate = float(rate)
        self.available = float(maximum)
        self._at = now()

    def refill(self) -> float:
        """Restore points for the time that passed; returns what is available."""
        t = self._now()
        self.available = min(self.maximum, self.available + (t - self._at) * self.rate)
        self._at = t
        return self.available

    def take(self, points: float) -> bool:
        """Reserve ``points`` if the bucket holds them (after refilling)."""
        self.refill()
        if points > self.available:
            return False
        self.available -= points
        return True

    def give(self, points: float) -> None:
        """Refund points (requested minus actual cost)."""
        self.available = min(self.maximum, self.available + max(0.0, points))

    def status(self) -> dict[str, Any]:
        """``throttleStatus`` as Shopify reports it."""
        return {
            "maximumAvailable": _num(self.maximum),
            "currentlyAvailable": int(self.available),
            "restoreRate": _num(self.rate),
        }


def _num(x: float) -> float | int:
    return int(x) if float(x).is_integer() else x


class WebhookQueue(Protocol):
    """What shops and resolvers ask of the twin's webhook dispatcher (webhooks.py)."""

    def enqueue(self, shop: ShopState, topic: str, payload: dict[str, Any]) -> list[dict[str, Any]]:
        """Queue ``payload`` for every subscription of the shop on ``topic``."""
        ...

    def start(self) -> None:
        """Start the delivery thread if it is not running."""
        ...


class TwinHost(Protocol):
    """What the records and resolvers need of the twin that holds them (:class:`ShopifyTwin`).

    Declared here, below every module of the twin, so that none of them imports the app.
    """

    @property
    def clock(self) -> Clock: ...
    @property
    def lock(self) -> AbstractContextManager[Any]: ...
    @property
    def consistency(self) -> consistency.Consistency: ...
    @property
    def webhooks(self) -> WebhookQueue: ...
    @property
    def schema(self) -> GraphQLSchema: ...
    @property
    def api_secret(self) -> str: ...
    @property
    def shops(self) -> Mapping[str, ShopState]: ...
    @property
    def bulk_background_seconds(self) -> float: ...
    @property
    def bulk_delay(self) -> float | None: ...
    @property
    def bulk_polls_to_complete(self) -> int: ...

    def wall_time(self) -> float:
        """Wall-clock seconds for timestamps."""
        ...

    def run_graphql(self, shop: ShopState, body: Mapping[str, Any], *, api_version: str,
                    base_url: str | None = None) -> dict[str, Any]:
        """Run one GraphQL request for ``shop`` without charging its bucket (a bulk mutation's
        line); returns the answer's body."""
        ...

    def _add_location(self, shop: ShopState, name: str) -> dict[str, Any]: ...


@dataclass
class ShopState:
    """Everything one shop holds.

    The order part of the twin (``orders.py``) owns the content of :attr:`orders`; records there
    are dicts with at least ``id``, ``tags: list[str]``, ``metafields: list[dict]`` and
    ``updatedAt``.

    Attributes:
        name: Shop name, as in the URL ``/shops/{name}/...``.
        domain: ``{name}.myshopify.com`` unless given.
        currency: Shop currency (``CurrencyCode``).
        taxes_included: Whether prices include tax.
        token: The static ``shpat_`` admin token.
        plan: ``standard``, ``advanced``, ``plus`` or ``enterprise``.
        locations: Location gid -> location record.
        products: Product gid -> product record (``variantIds`` lists its variants in order).
        variants: Variant gid -> variant record (``productId``, ``inventoryItemId``, ``sku``...).
        inventory_items: Item gid -> item record (``levels``: location gid -> level record).
        orders: Order gid -> order record (owned by the order part of the twin).
        publications: Publication gid -> record (sales channels; see catalog.publications()).
    """

    twin: TwinHost
    name: str
    token: str
    plan: str = "standard"
    currency: str = "DKK"
    taxes_included: bool = True
    domain: str = ""
    client_id: str | None = None
    client_secret: str | None = None
    shop_no: int = 1
    email: str = ""
    iana_timezone: str = "Europe/Copenhagen"
    weight_unit: str = "KILOGRAMS"
    bucket: Bucket | None = None
    locations: dict[str, dict[str, Any]] = field(default_factory=dict)
    products: dict[str, dict[str, Any]] = field(default_factory=dict)
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)
    inventory_items: dict[str, dict[str, Any]] = field(default_factory=dict)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    adjustment_groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    idempotency: dict[str, dict[str, Any]] = field(default_factory=dict)
    bulk_operations: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: stagedUploadPath -> {signature, data (None until uploaded), limit, mime} (bulk_mutation.py)
    staged_uploads: dict[str, dict[str, Any]] = field(default_factory=dict)
    webhook_subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    publications: dict[str, dict[str, Any]] = field(default_factory=dict)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    issued_tokens: dict[str, float] = field(default_factory=dict)
    api_versions: set[str] = field(default_factory=set)
    created_at: str = ""
    handle_index: dict[str, str] = field(default_factory=dict)
    handle_index_size: int = -1
    #: eventual consistency (consistency.py): record id -> [(twin time, version)], and recent
    #: ``available`` changes (twin time, inventory item id, delta)
    search_history: dict[str, list[tuple[float, dict[str, Any]]]] = field(default_factory=dict)
    quantity_log: list[tuple[float, str, int]] = field(default_factory=list)
    _counters: dict[str, int] = field(default_factory=dict)
    _last_ts: float = 0.0

    def __post_init__(self) -> None:
        if not self.domain:
            self.domain = f"{self.name}.myshopify.com"
        if not self.email:
            self.email = f"owner@{self.domain}"
        if self.bucket is None:
            size, rate = PLANS.get(self.plan, PLANS["standard"])
            self.bucket = Bucket(self.twin.clock.now, size, rate)
        if not self.created_at:
            self.created_at = self.now_iso()

    # -- ids and time ------------------------------------------------------------------------

    def next_id(self, kind: str) -> int:
        """The next number for a kind of record, monotonic per kind and distinct per shop."""
        n = self._counters.get(kind, 0) + 1
        self._counters[kind] = n
        return self.shop_no * 1_000_000_000 + 1000 + n

    @staticmethod
    def gid(kind: str, n: int) -> str:
        """``gid://shopify/{kind}/{n}``."""
        return f"gid://shopify/{kind}/{n}"

    def new_gid(self, kind: str) -> str:
        """A fresh gid of a kind."""
        return self.gid(kind, self.next_id(kind))

    def now(self) -> float:
        """Wall-clock seconds (the twin's wall clock, which ``/__sandbox/time`` can advance)."""
        return self.twin.wall_time()

    def now_iso(self) -> str:
        """Now as ISO-8601 UTC with ``Z`` (``createdAt``/``updatedAt`` format)."""
        return iso(self.now())

    def touch(self, record: dict[str, Any] | None = None) -> str:
        """Stamp ``record["updatedAt"]`` with now (if given) and return the timestamp."""
        ts = self.now_iso()
        if record is not None:
            record["updatedAt"] = ts
            consistency.record_write(self, record)
        return ts

    # -- lookups -----------------------------------------------------------------------------

    def variant(self, gid: str) -> dict[str, Any] | None:
        """A variant record: ``id``, ``title``, ``sku``, ``price``, ``taxable``, ``barcode``,
        ``productId`` (see :meth:`product_of`) and ``inventoryItemId``."""
        return self.variants.get(gid)

    def product_of(self, variant: dict[str, Any]) -> dict[str, Any]:
        """The product record a variant belongs to."""
        return self.products[variant["productId"]]

    def item_of(self, variant: dict[str, Any]) -> dict[str, Any]:
        """The inventory item record of a variant."""
        return self.inventory_items[variant["inventoryItemId"]]

    def primary_location(self) -> dict[str, Any] | None:
        """The first active location (Shopify's fallback location)."""
        for loc in self.locations.values():
            if loc["isActive"]:
                return loc
        return None

    def location_by_name_or_gid(self, key: str) -> dict[str, Any] | None:
        """A location by gid or by exact name."""
        if key in self.locations:
            return self.locations[key]
        for loc in self.locations.values():
            if loc["name"] == key:
                return loc
        return None

    def find_record(self, gid: str) -> dict[str, Any] | None:
        """Any record by gid (what ``node(id:)`` can return)."""
        if str(gid).startswith(taxonomy.PREFIX):
            return taxonomy.category(str(gid))
        parsed = parse_gid(gid)
        if parsed is None:
            return None
        kind = parsed[0]
        table: dict[str, dict[str, Any]] | None = {
            "Product": self.products,
            "ProductVariant": self.variants,
            "InventoryItem": self.inventory_items,
            "Location": self.locations,
            "Order": self.orders,
            "InventoryAdjustmentGroup": self.adjustment_groups,
            "BulkOperation": self.bulk_operations,
            "WebhookSubscription": self.webhook_subscriptions,
        }.get(kind)
        if table is not None:
            found: dict[str, Any] | None = table.get(gid)
            return found
        if kind == "InventoryLevel":
            return self.level_by_gid(gid)
        return None

    def level_by_gid(self, gid: str) -> dict[str, Any] | None:
        """An inventory level from ``gid://shopify/InventoryLevel/{loc}?inventory_item_id={item}``."""
        m = re.match(r"^gid://shopify/InventoryLevel/(\d+)\?inventory_item_id=(\d+)$", str(gid))
        if not m:
            return None
        item = self.inventory_items.get(self.gid("InventoryItem", int(m.group(2))))
        if item is None:
            return None
        level: dict[str, Any] | None = item["levels"].get(self.gid("Location", int(m.group(1))))
        return level

    # -- inventory ---------------------------------------------------------------------------

    def new_level(self, item: dict[str, Any], location: dict[str, Any]) -> dict[str, Any]:
        """Stock an item at a location (all quantities 0) and return the level."""
        ts = self.now_iso()
        level = {
            "id": f"gid://shopify/InventoryLevel/{gid_number(location['id'])}"
            f"?inventory_item_id={gid_number(item['id'])}",
            "isActive": True,
            "canDeactivate": True,
            "createdAt": ts,
            "updatedAt": ts,
            "itemId": item["id"],
            "locationId": location["id"],
            "quantities": dict.fromkeys(QUANTITY_NAMES, 0),
            "quantityUpdatedAt": {"available": ts},
        }
        item["levels"][location["id"]] = level
        return level

    def change_quantity(
        self, level: dict[str, Any], name: str, delta: int, *, lags_totals: bool = False
    ) -> list[tuple[str, int]]:
        """Apply a delta to one named quantity, keeping ``on_hand`` consistent.

        ``lags_totals``: the change reaches ``Product.totalInventory`` late (with eventual
        consistency on; recorded for productSet's quantities only, see consistency.py).

        Returns the (name, delta) pairs that changed, in Shopify's order (the named quantity
        first, then ``on_hand`` when it moves with it).
        """
        if delta == 0:
            return []
        q = level["quantities"]
        changes: list[tuple[str, int]] = []
        if name == "on_hand":
            # Setting on-hand moves available by the same amount (the unavailable states stay).
            q["available"] += delta
            q["on_hand"] += delta
            changes = [("available", delta), ("on_hand", delta)]
        elif name == "available" or name in UNAVAILABLE_NAMES:
            q[name] += delta
            q["on_hand"] += delta
            changes = [(name, delta), ("on_hand", delta)]
        else:  # incoming is not part of on-hand
            q[name] += delta
            changes = [(name, delta)]
        for changed, moved in changes if lags_totals else []:
            consistency.record_quantity(self, level["itemId"], changed, moved)
        ts = self.now_iso()
        level["updatedAt"] = ts
        level["quantityUpdatedAt"]["available"] = ts
        item = self.inventory_items.get(level["itemId"])
        if item is not None:
            item["updatedAt"] = ts
        return changes

    def inventory_event(self, level: dict[str, Any]) -> None:
        """Queue an ``inventory_levels/update`` webhook for a level."""
        self.emit(
            "inventory_levels/update",
            {
                "id": gid_number(level["id"]),
                "inventory_item_id": gid_number(level["itemId"]),
                "location_id": gid_number(level["locationId"]),
                "available": level["quantities"]["available"],
                "updated_at": level["updatedAt"],
                "admin_graphql_api_id": level["id"],
            },
        )

    # -- webhooks ----------------------------------------------------------------------------

    def emit(self, topic: str, payload: dict[str, Any]) -> None:
        """Queue a webhook event (``orders/create``, ``products/update``...) for every
        subscription on that topic. Delivery happens on the twin's webhook thread."""
        self.twin.webhooks.enqueue(self, topic, payload)

    # -- snapshot ----------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """This shop as JSON."""
        assert self.bucket is not None
        return {
            "name": self.name,
            "domain": self.domain,
            "currency": self.currency,
            "taxesIncluded": self.taxes_included,
            "plan": self.plan,
            "apiVersions": sorted(self.api_versions),
            "throttleStatus": self.bucket.status(),
            "locations": list(self.locations.values()),
            "products": list(self.products.values()),
            "variants": list(self.variants.values()),
            "inventoryItems": list(self.inventory_items.values()),
            "orders": list(self.orders.values()),
            "adjustmentGroups": list(self.adjustment_groups.values()),
            "bulkOperations": [
                {k: v for k, v in op.items() if not k.startswith("_")}
                for op in self.bulk_operations.values()
            ],
            "webhookSubscriptions": list(self.webhook_subscriptions.values()),
            "webhookDeliveries": [
                {k: v for k, v in d.items() if k not in ("body",)} for d in self.deliveries
            ],
            "idempotency": [
                {"key": k, **{f: v for f, v in rec.items() if f != "result"}}
                for k, rec in self.idempotency.items()
            ],
        }


@dataclass
class Context:
    """What every resolver gets as ``info.context``.

    Attributes:
        shop: The shop the request is for.
        twin: The twin (for its clock, webhooks and settings).
        api_version: The ``YYYY-MM`` from the URL (``unstable`` counts as newest).
        variables: The request's raw variables.
        base_url: Scheme and host the client used (for URLs the twin hands out).
        search_warnings: ``extensions.search`` entries collected while resolving.
        request_no: Serial number of the request (a bulk operation counts one poll per request).
    """

    shop: ShopState
    twin: TwinHost
    api_version: str = "2026-07"
    variables: dict[str, Any] = field(default_factory=dict)
    base_url: str = "http://127.0.0.1"
    search_warnings: list[dict[str, Any]] = field(default_factory=list)
    request_no: int = 0

    def version_at_least(self, version: str) -> bool:
        """Whether the request's API version is ``version`` or newer."""
        if self.api_version == "unstable":
            return True
        return self.api_version >= version


# -- pagination -------------------------------------------------------------------------------


@contextlib.contextmanager
def bulk_mode() -> Iterator[None]:
    """Within this block :func:`connection` returns every item and needs no page size."""
    token = _BULK_MODE.set(True)
    try:
        yield
    finally:
        _BULK_MODE.reset(token)


def in_bulk_mode() -> bool:
    """Whether a bulk operation's inner query is running."""
    return _BULK_MODE.get()


def encode_cursor(item: dict[str, Any], value: Any) -> str:
    """Shopify-style opaque cursor: base64 of ``{"last_id": n, "last_value": "..."}``."""
    raw = json.dumps(
        {"last_id": gid_number(item.get("id")), "last_value": str(value)}, separators=(",", ":")
    )
    return base64.b64encode(raw.encode()).decode()


def decode_cursor(cursor: str) -> tuple[int, str]:
    """``(last_id, last_value)`` from a cursor.

    Raises:
        GraphQLError: The cursor is not one the twin made.
    """
    try:
        data = json.loads(base64.b64decode(cursor.encode(), validate=True))
        return int(data["last_id"]), str(data["last_value"])
    except (ValueError, KeyError, TypeError) as exc:
        raise GraphQLError(f"Invalid cursor for current pagination sort: {cursor}") from exc


def _check_size(name: str, n: int | None) -> None:
    if n is None:
        return
    if n < 0:
        raise GraphQLError(f"The {name} argument must be a non-negative integer.")
    if n > MAX_PAGE_SIZE:
        # Shopify's wording is not on record; see docs/sandbox-shopify.md.
        raise GraphQLError(f"The {name} argument must be less than or equal to {MAX_PAGE_SIZE}.")


def connection(
    items: Sequence[dict[str, Any]],
    *,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
    reverse: bool = False,
    sort_value: Callable[[dict[str, Any]], Any] | None = None,
) -> dict[str, Any]:
    """One page of a Relay connection, as Shopify paginates.

    Args:
        items: Every matching record, already sorted ascending by ``(sort value, id)``; each is
            a dict with an ``id`` gid.
        first: Page size from the front (≤ 250).
        after: Cursor to start after.
        last: Page size from the back (≤ 250).
        before: Cursor to end before.
        reverse: Reverse the sort order first (Shopify's ``reverse`` argument).
        sort_value: The sort key of an item, written into cursors (default: its numeric id) so a
            cursor still works when its item has gone.

    Returns:
        ``{"edges": [{"cursor", "node"}], "nodes": [...], "pageInfo": {...}}``.

    Raises:
        GraphQLError: Neither ``first`` nor ``last`` given, or one of them over 250.
    """
    key = sort_value or (lambda it: gid_number(it.get("id")))
    seq = list(reversed(items)) if reverse else list(items)
    if in_bulk_mode():
        window = seq
        has_prev = has_next = False
    else:
        if first is None and last is None:
            raise GraphQLError("you must provide one of first or last")
        _check_size("first", first)
        _check_size("last", last)
        start, end = 0, len(seq)
        if after is not None:
            start = _position(seq, after, key, reverse, after=True)
        if before is not None:
            end = _position(seq, before, key, reverse, after=False)
        end = max(start, end)
        window = seq[start:end]
        has_prev = start > 0
        has_next = end < len(seq)
        if first is not None and len(window) > first:
            window = window[:first]
            has_next = True
        if last is not None and len(window) > last:
            window = window[len(window) - last :]
            has_prev = True
    edges = [{"cursor": encode_cursor(it, key(it)), "node": it} for it in window]
    return {
        "edges": edges,
        "nodes": list(window),
        "pageInfo": {
            "hasNextPage": has_next,
            "hasPreviousPage": has_prev,
            "startCursor": edges[0]["cursor"] if edges else None,
            "endCursor": edges[-1]["cursor"] if edges else None,
        },
    }


def _sortable(v: Any) -> tuple[int, Any]:
    if isinstance(v, bool):
        return (0, int(v))
    if isinstance(v, (int, float)):
        return (0, v)
    try:
        return (0, float(str(v)))
    except ValueError:
        return (1, str(v).lower())


def _position(
    seq: list[dict[str, Any]],
    cursor: str,
    key: Callable[[dict[str, Any]], Any],
    reverse: bool,
    *,
    after: bool,
) -> int:
    """Index where a page starts (``after``) or ends (``before``) in ``seq``."""
    last_id, last_value = decode_cursor(cursor)
    # Placed by the sort value and id the cursor carries, never by where its item is now: an
    # item whose sort value changed since (an order tagged mid-pagination moves to the end of
    # an UPDATED_AT sort) must not drag the cursor with it, as Shopify's cursors do not.
    mark = (_sortable(last_value), last_id)
    for i, it in enumerate(seq):
        here = (_sortable(key(it)), gid_number(it.get("id")))
        if after:
            beyond = here < mark if reverse else here > mark
        else:  # the page ends before the cursor's own position
            beyond = here <= mark if reverse else here >= mark
        if beyond:
            return i
    return len(seq)


# -- idempotency ------------------------------------------------------------------------------


def idempotency_key(info: GraphQLResolveInfo) -> str | None:
    """The ``@idempotent(key:)`` on the field being resolved (variables substituted)."""
    # graphql-core 3.3 wraps variables in ``VariableValues``; 3.2 passes a dict.
    raw: Any = info.variable_values
    variables: dict[str, Any] = getattr(raw, "coerced", raw)
    for node in info.field_nodes:
        for d in node.directives or ():
            if d.name.value != "idempotent":
                continue
            for arg in d.arguments or ():
                if arg.name.value == "key":
                    value = value_from_ast_untyped(arg.value, variables)
                    return None if value is None else str(value)
    return None


def wall_clock() -> float:
    """Default wall-clock source (seconds since the epoch)."""
    return time.time()


def set_resolvers(
    schema: GraphQLSchema, type_name: str, resolvers: Mapping[str, Callable[..., Any]]
) -> None:
    """Attach resolvers to the fields of one type, skipping any the schema does not have."""
    t = schema.get_type(type_name)
    fields = getattr(t, "fields", None) or {}
    for field_name, fn in resolvers.items():
        if field_name in fields:
            fields[field_name].resolve = fn


def connection_from_args(
    items: Sequence[dict[str, Any]],
    args: Mapping[str, Any],
    *,
    sort_value: Callable[[dict[str, Any]], Any] | None = None,
) -> dict[str, Any]:
    """:func:`connection` with a field's own paging arguments (``first``, ``after``, ``last``,
    ``before``, ``reverse``)."""
    return connection(
        items,
        first=args.get("first"),
        after=args.get("after"),
        last=args.get("last"),
        before=args.get("before"),
        reverse=bool(args.get("reverse")),
        sort_value=sort_value,
    )
