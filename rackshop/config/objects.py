"""The validated configuration as frozen dataclasses: what every job reads.

These objects are built in one place (:mod:`.build`) from the models of :mod:`.schema`, which
declare every key's type, default, range and meaning. The dataclasses carry no defaults of their
own, so that the schema stays the one place a default is written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from rackshop.config.values import (
    AfterTransfer,
    BarredAction,
    FrozenMap,
    LogFormat,
    LogLevel,
    OrderCurrency,
    PriceRounding,
    ProcessTo,
    ProductMaster,
    ProductStatus,
    RackbeatField,
    Secret,
    ShopifyField,
    ShopPlan,
    TransferOn,
    VatZone,
    WeightUnit,
    WriteBack,
)
from rackshop.errors import UsageError


@dataclass(frozen=True, slots=True)
class RackbeatConfig:
    """``[rackbeat]``: the one Rackbeat account every shop syncs with."""

    token: Secret
    base_url: str
    requests_per_minute: int
    prices_include_vat: bool
    timeout_seconds: float
    lost_answer_wait_seconds: float
    webhook_token: Secret | None


@dataclass(frozen=True, slots=True)
class StateConfig:
    """``[state]``: where the SQLite state store lives (absolute path; not created here)."""

    path: Path


@dataclass(frozen=True, slots=True)
class LogConfig:
    """``[log]``."""

    level: LogLevel
    format: LogFormat
    file: Path | None


@dataclass(frozen=True, slots=True)
class HttpConfig:
    """``[http]``: how hard rackshop retries a failing API before giving up on the run."""

    attempts: int
    backoff_seconds: float
    max_backoff_seconds: float
    workers: int


@dataclass(frozen=True, slots=True)
class ListenConfig:
    """``[listen]``: the webhook listener and poller of ``rackshop listen``."""

    host: str
    port: int
    public_url: str | None
    orders_poll_minutes: int
    stock_poll_minutes: int
    max_body_kb: int
    queue_limit: int


@dataclass(frozen=True, slots=True)
class CustomerDefaults:
    """``[shops.orders.customer]``: how customers created from Shopify orders are set up."""

    group: int | None
    vat_zone: VatZone
    payment_terms: int | None
    layout: int | None
    currency: str | None
    locale: str | None


@dataclass(frozen=True, slots=True)
class OrdersConfig:
    """``[shops.orders]``: orders from Shopify into Rackbeat."""

    enabled: bool
    since: dt.datetime | None
    transfer_on: TransferOn
    process_to: ProcessTo
    overlap_minutes: int
    include_test_orders: bool
    currency: OrderCurrency
    shipping_item: str | None
    rounding_item: str | None
    rounding_per_line: float
    guest_customer: int | None
    location: int | None
    layout: int | None
    after_transfer: AfterTransfer
    refund_item: str | None
    return_location: int | None
    write_back: WriteBack
    tag: str
    customer: CustomerDefaults

    @property
    def writes_tag(self) -> bool:
        """Whether a tag is added to the Shopify order once it is in Rackbeat."""
        return self.write_back in ("tag", "both")

    @property
    def writes_metafield(self) -> bool:
        """Whether the ``rackshop.rackbeat_order`` metafield is set on the Shopify order."""
        return self.write_back in ("metafield", "both")


@dataclass(frozen=True, slots=True)
class ProductsConfig:
    """``[shops.products]``: which side owns the product data, and what is synced."""

    master: ProductMaster
    fields: tuple[RackbeatField, ...]
    shopify_fields: tuple[ShopifyField, ...]
    include_boms: bool
    create_missing: bool
    new_product_status: ProductStatus
    barred: BarredAction
    default_group: int | None
    vat_rate: float
    weight_unit: WeightUnit
    recreate_deleted: bool
    rename_numbers: bool
    create_groups: bool
    sales_channels: tuple[str, ...]
    bulk_above: int
    currency_rate: float | None
    price_rounding: PriceRounding


@dataclass(frozen=True, slots=True)
class StockTarget:
    """One Shopify location and the Rackbeat locations whose stock it shows (``None``: all)."""

    shopify_location: str
    rackbeat_locations: tuple[int, ...] | None


@dataclass(frozen=True, slots=True)
class StockConfig:
    """``[shops.stock]``: stock from Rackbeat to this shop."""

    enabled: bool
    rackbeat_locations: tuple[int, ...] | Literal["all"]
    shopify_location: str | None
    location_map: FrozenMap[str, tuple[int, ...]]
    buffer: int
    zero_guard: float
    track_untracked: bool

    @property
    def targets(self) -> tuple[StockTarget, ...]:
        """Every Shopify location to update, each with its Rackbeat locations."""
        if self.location_map:
            return tuple(StockTarget(k, v) for k, v in self.location_map.items())
        if self.shopify_location is None:
            return ()
        locs = None if self.rackbeat_locations == "all" else self.rackbeat_locations
        return (StockTarget(self.shopify_location, locs),)


@dataclass(frozen=True, slots=True)
class InitialConfig:
    """``[shops.initial]``: the go-live import (``rackshop init-sync``)."""

    location_map: FrozenMap[str, int]


@dataclass(frozen=True, slots=True)
class FulfillmentsConfig:
    """``[shops.fulfillments]``: Rackbeat shipments become Shopify fulfilments."""

    enabled: bool
    notify_customer: bool
    location_map: FrozenMap[int, str]
    tracking_number_field: str
    tracking_url_field: str
    tracking_company_field: str
    tracking_company: str | None
    tracking_url_template: str | None


@dataclass(frozen=True, slots=True)
class ShopConfig:
    """One ``[[shops]]`` entry."""

    name: str
    domain: str
    api_version: str
    base_url: str | None
    token: Secret | None
    client_id: str | None
    client_secret: Secret | None
    webhook_secret: Secret | None
    plan: ShopPlan
    enabled: bool
    prices_include_tax: bool
    orders: OrdersConfig
    products: ProductsConfig
    stock: StockConfig
    initial: InitialConfig
    fulfillments: FulfillmentsConfig

    @property
    def graphql_url(self) -> str:
        """The Admin GraphQL endpoint: ``{base}/admin/api/{api_version}/graphql.json``."""
        base = self.base_url or f"https://{self.domain}"
        return f"{base}/admin/api/{self.api_version}/graphql.json"

    @property
    def admin_url(self) -> str:
        """The shop's base URL (``base_url`` or ``https://{domain}``), without a trailing slash."""
        return self.base_url or f"https://{self.domain}"


@dataclass(frozen=True, slots=True)
class Config:
    """The whole configuration.

    Attributes:
        source: The file it was read from (``None`` for :func:`validate_dict` without one).
        warnings: Things that are allowed but probably not what the user wants (a secret file
            other users can read, a setting with no effect). ``rackshop check`` shows them.
    """

    rackbeat: RackbeatConfig
    state: StateConfig
    log: LogConfig
    http: HttpConfig
    listen: ListenConfig
    shops: tuple[ShopConfig, ...]
    source: Path | None = None
    warnings: tuple[str, ...] = ()

    def shop(self, name: str) -> ShopConfig:
        """Return the shop called ``name`` (enabled or not).

        Raises:
            UsageError: No shop has that name; the message lists the known ones.
        """
        for shop in self.shops:
            if shop.name == name:
                return shop
        raise UsageError(
            f"unknown shop {name!r}; the config defines: {self._names()}",
            hint="pass one of these to --shop, or add the shop as a [[shops]] table",
        )

    def select(
        self, names: Sequence[str] = (), *, include_disabled: bool = False
    ) -> tuple[ShopConfig, ...]:
        """Return the shops a command should work on, in config order.

        Args:
            names: The ``--shop`` values. Empty means every enabled shop.
            include_disabled: Let a disabled shop be selected by name (``check``, ``status``).
                Otherwise naming a disabled shop is an error, because every job skips it.

        Raises:
            UsageError: A name is unknown (the message lists the valid ones), or names a
                disabled shop.
        """
        if not names:
            return tuple(s for s in self.shops if s.enabled)
        wanted = set(names)
        unknown = [n for n in dict.fromkeys(names) if n not in {s.name for s in self.shops}]
        if unknown:
            listed = ", ".join(repr(n) for n in unknown)
            raise UsageError(
                f"unknown shop{'s' if len(unknown) > 1 else ''} {listed}; "
                f"the config defines: {self._names()}",
                hint="--shop takes the name = ... of a [[shops]] table",
            )
        chosen = tuple(s for s in self.shops if s.name in wanted)
        if not include_disabled:
            disabled = [s.name for s in chosen if not s.enabled]
            if disabled:
                raise UsageError(
                    f"shop {', '.join(repr(n) for n in disabled)} is disabled in the config "
                    "(enabled = false), and every job skips it",
                    hint="set enabled = true in its [[shops]] table to run it",
                )
        return chosen

    def _names(self) -> str:
        return (
            ", ".join(s.name + ("" if s.enabled else " (disabled)") for s in self.shops)
            or "(no shops)"
        )
