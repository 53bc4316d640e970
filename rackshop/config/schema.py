"""The configuration file's schema, declared once: every table, key, type, default and range.

Each ``[table]`` of the file is a pydantic model; each key is a field with its default, its
constraints and a one-line description. Everything else is derived from these models: the
validation of a file (:mod:`.validate`), the key tables of ``docs/config.md`` and the JSON Schema
editors use (:mod:`.docs`). Rules between keys are in :mod:`.checks`.

A key that must be given is declared with a ``None`` default and listed in ``required``
(:func:`_required`): the check that it is there words the problem for the table it is in
(``required when orders are enabled: ...``), and an error in one key never hides the others.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.json_schema import WithJsonSchema

from rackshop.config.fields import (
    AllOrLocations,
    ApiVersion,
    Currency,
    Domain,
    FilePath,
    FulfillmentLocationMap,
    GoLive,
    Hint,
    InitialLocationMap,
    ItemNumber,
    ListenHost,
    Locale,
    RackbeatUrl,
    SalesChannels,
    ShipmentField,
    ShopifyLocation,
    ShopifyTag,
    ShopName,
    StockLocationMap,
    Text,
    Url,
    UrlTemplate,
    fail,
    names,
)
from rackshop.config.values import (
    DEFAULT_API_VERSION,
    DEFAULT_RACKBEAT_URL,
    ENV_NAME_RE,
    RACKBEAT_FIELDS,
    SHOPIFY_FIELDS,
    AfterTransfer,
    BarredAction,
    LogFormat,
    LogLevel,
    OrderCurrency,
    PriceRounding,
    ProcessTo,
    ProductMaster,
    ProductStatus,
    ShopPlan,
    TransferOn,
    VatZone,
    WeightUnit,
    WriteBack,
)


def _required(*keys: str) -> dict[str, Any]:
    return {"required": list(keys)}


class Table(BaseModel):
    """A table of the file: unknown keys are refused, types are exact (TOML has them)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    header: ClassVar[str] = ""
    """The table's name in the file and in docs: ``shops.orders``."""
    absent: ClassVar[dict[str, Any]] = {}
    """The keys a table left out of the file has (``enabled = false``)."""


# ----------------------------------------------------------------------------------------------
# Secrets.

_ENV = Annotated[Any, WithJsonSchema(
    {"type": "string", "pattern": ENV_NAME_RE.pattern,
     "description": "The environment variable holding the secret."})]
_FILE = Annotated[Any, WithJsonSchema(
    {"type": "string", "minLength": 1,
     "description": "A file holding only the secret; relative to the config file's folder."})]


class SecretRef(Table):
    """Where a secret is read from: ``{ env = "NAME" }`` or ``{ file = "path" }``."""

    model_config = ConfigDict(
        extra="forbid", strict=True, frozen=True, title="secret reference",
        json_schema_extra={"minProperties": 1, "maxProperties": 1},
    )

    env: _ENV = None
    file: _FILE = None

    @model_validator(mode="after")
    def _one_source(self) -> SecretRef:
        from rackshop.config.fields import describe

        if self.env is not None and self.file is not None:
            raise fail("give either env or file, not both")
        if self.env is None and self.file is None:
            raise fail("empty secret reference")
        if self.env is not None and (
            not isinstance(self.env, str) or not ENV_NAME_RE.fullmatch(self.env)
        ):
            raise fail(
                "expected the name of an environment variable (letters, digits and "
                f'_, like "SHOPIFY_DK_TOKEN"), got {describe(self.env)}'
            )
        if self.file is not None and (not isinstance(self.file, str) or not self.file.strip()):
            raise fail(f"expected a file path (a quoted string), got {describe(self.file)}")
        return self


SecretKey = Annotated[SecretRef | None, Hint(secret=True)]

# ----------------------------------------------------------------------------------------------
# The Rackbeat account and the process.


class RackbeatTable(Table):
    """The one Rackbeat account every shop syncs with."""

    header: ClassVar[str] = "rackbeat"
    model_config = ConfigDict(
        extra="forbid", strict=True, frozen=True, json_schema_extra=_required("token"))

    token: SecretKey = Field(
        None, description="The Rackbeat API token (Rackbeat: Settings -> API).")
    base_url: RackbeatUrl = Field(
        DEFAULT_RACKBEAT_URL,
        description=(
        "An `http://` or `https://` URL without user, password, query or fragment; a trailing"
        " `/` is added. Change it only for the sandbox; plain `http` to anything but the "
        "local machine gives a warning."))
    requests_per_minute: int = Field(
        480, ge=1, le=1_000_000,
        description=(
        "The most requests per minute rackshop sends to Rackbeat, all jobs of a run together."
        " Above 480 (Rackbeat's limit per token) gives a warning, unless `base_url` points "
        "elsewhere (the sandbox)."))
    prices_include_vat: bool = Field(
        False, description="Whether Rackbeat's sales prices include VAT.")
    timeout_seconds: float = Field(
        30.0, ge=1, le=600, description="Seconds to wait for one answer before retrying.")
    lost_answer_wait_seconds: float = Field(
        120.0, ge=0, le=3600,
        description=(
        "After a create whose answer never came (a timeout, a dropped connection, a 502) and "
        "that the system does not show, how long rackshop keeps looking for it before it sends "
        "the create again: a server may still apply a request after rackshop stopped waiting "
        "for the answer. For Rackbeat's orders, customers, credit notes, order lines and "
        "init-sync's stock adjustments, and for Shopify's products (one call or a bulk "
        "mutation) and fulfilments, which take no idempotency key (the Shopify client waits "
        "`timeout_seconds` too). Keep it well above `timeout_seconds`; 0 sends again at once."))
    webhook_token: SecretKey = Field(
        None,
        description="Optional. The token Rackbeat sends with its webhooks (`rackshop listen`).")


class StateTable(Table):
    """Where the SQLite state store lives."""

    header: ClassVar[str] = "state"

    path: FilePath | None = Field(
        None,
        description=(
        "The SQLite state store: order journal, id mappings, cursors, run log. Default: the "
        "platform state folder + `state.sqlite3` (`~/.local/state/rackshop/state.sqlite3` on "
        "Linux). Must not be a folder. Back it up: it is what makes reruns safe."))


class LogTable(Table):
    """Logging."""

    header: ClassVar[str] = "log"

    level: LogLevel = Field("info", description="The least important messages logged.")
    format: LogFormat = Field(
        "text",
        description="`text` (for people) or `json` (one object per line). `--log-format` "
        "overrides it.")
    file: FilePath | None = Field(
        None, description="Also append the log to this file. Must not be a folder.")


class HttpTable(Table):
    """How hard rackshop retries a failing API before it stops the run with exit code 4, and
    how many requests it keeps going at once within the rate limits."""

    header: ClassVar[str] = "http"

    attempts: int = Field(6, ge=1, le=20, description="Attempts per request, the first included.")
    backoff_seconds: float = Field(
        0.5, ge=0.01, le=60,
        description="First wait between attempts; doubles each attempt, plus up to 25 % jitter.")
    max_backoff_seconds: float = Field(
        60.0, ge=0.01, le=3600,
        description="Longest single wait, also the cap of an honoured `Retry-After`.")
    workers: int = Field(
        4, ge=1, le=16,
        description="Records worked on side by side (sync-orders' orders, init-sync's products "
        "and adjustments), sharing each API token's rate limit; 1 works on one at a time. "
        "4 keeps Rackbeat's window full while each answer takes a real API's round trip.")


class ListenTable(Table):
    """``rackshop listen``, the long-running webhook receiver and poller."""

    header: ClassVar[str] = "listen"

    host: ListenHost = Field(
        "127.0.0.1", description="Host name or IP address to listen on. Keep the loopback "
        "address and put a TLS-terminating proxy in front.")
    port: int = Field(8787, ge=1, le=65535, description="The port to listen on.")
    public_url: Url | None = Field(
        None, description=(
        "The listener's public `https` address, used to register Shopify webhooks. A "
        "non-https URL gives a warning (Shopify delivers only to https)."))
    orders_poll_minutes: int = Field(
        5, ge=1, le=1440, description="Safety-net polling for orders, in minutes.")
    stock_poll_minutes: int = Field(
        15, ge=1, le=1440, description="Safety-net polling for stock, in minutes.")
    max_body_kb: int = Field(
        1024, ge=1, le=102400, description="Largest accepted webhook body, in KiB.")
    queue_limit: int = Field(
        10000, ge=1, le=10_000_000,
        description="Deliveries waiting in the durable queue (in the state store) before new "
        "ones are refused with 503 (the sender retries them later).")


# ----------------------------------------------------------------------------------------------
# A shop's tables.

_CUSTOMER_GROUP = Hint(what=" (a Rackbeat customer group number)")
_TERMS = Hint(what=" (a Rackbeat payment terms number)")
_LAYOUT = Hint(what=" (a Rackbeat layout id)")
_CUSTOMER_NO = Hint(what=" (a Rackbeat customer number)")
_LOCATION_NO = Hint(what=" (a Rackbeat location number)")
_PRODUCT_GROUP = Hint(what=" (a Rackbeat product group number)")


class CustomerTable(Table):
    """Defaults for customers created from Shopify orders (buyers not found by e-mail)."""

    header: ClassVar[str] = "shops.orders.customer"

    group: Annotated[int | None, _CUSTOMER_GROUP] = Field(
        None, ge=1, description="Required when orders are enabled. Rackbeat customer group number.")
    vat_zone: VatZone = Field(
        "domestic", description="`domestic_exempt` is domestic without VAT.")
    payment_terms: Annotated[int | None, _TERMS] = Field(
        None, ge=1, description="Required when orders are enabled. Rackbeat payment terms number.")
    layout: Annotated[int | None, _LAYOUT] = Field(
        None, ge=1, description="Rackbeat layout id for new customers.")
    currency: Currency | None = Field(
        None, description=(
        'ISO 4217: three upper-case letters, e.g. `"DKK"`. Default: the currency of the order'
        " that creates the customer."))
    locale: Locale | None = Field(
        None, description=(
        'A language code, optionally with a country: `"da"`, `"sv"`, `"en"`, `"de"`, '
        '`"da_DK"`.'))


class OrdersTable(Table):
    """Orders, Shopify -> Rackbeat. Left out: the shop's orders are not synced."""

    header: ClassVar[str] = "shops.orders"
    absent: ClassVar[dict[str, Any]] = {"enabled": False}

    enabled: bool = Field(
        True, description="`true` if the table is present, else `false`.")
    since: GoLive | None = Field(
        None, description=(
        "Required when enabled. Go-live: orders created before it are never imported. A TOML "
        "date is midnight UTC; a date-time without an offset is UTC. More than 60 days ago "
        "gives a warning (Shopify shows older orders only with `read_all_orders`), except for"
        " a shop with `base_url` (the sandbox)."))
    transfer_on: TransferOn = Field(
        "paid", description="The Shopify state that sends the order to Rackbeat.")
    process_to: ProcessTo = Field(
        "booked", description=(
        "How far rackshop takes the Rackbeat order. The default books it, which reserves the "
        "stock in Rackbeat so that the other shops stop selling it. Any combination with "
        "`transfer_on` is allowed."))
    overlap_minutes: int = Field(
        60, ge=0, le=1440, description="Each poll looks back this far before the last one.")
    include_test_orders: bool = Field(False, description="Transfer Shopify test orders too.")
    currency: OrderCurrency = Field(
        "shop", description=(
        "`shop` (the shop's currency) or `presentment` (the currency the buyer paid in) for "
        "the Rackbeat order."))
    shipping_item: ItemNumber | None = Field(
        None, description=(
        "Required when enabled. Number of the Rackbeat item used for shipping lines. An "
        "integer is accepted and used as text."))
    rounding_item: ItemNumber | None = Field(
        None, description=(
        'Number of the Rackbeat item for rounding lines ("øreafrunding", quantity 1, 0 % '
        "VAT), added when Rackbeat's per-line VAT rounding cannot reach Shopify's total "
        "otherwise. Without it such orders fail with a reason saying so. An integer is "
        "accepted and used as text."))
    rounding_per_line: Annotated[float, Hint(what=" (an amount per line, e.g. 0.01)")] = Field(
        0.01, ge=0, le=1, description=(
        "The largest rounding line allowed, per Shopify line (items and shipping); a larger "
        "gap fails the order."))
    guest_customer: Annotated[int | None, _CUSTOMER_NO] = Field(
        None, ge=1, description="Rackbeat customer number for orders without an e-mail address.")
    location: Annotated[int | None, _LOCATION_NO] = Field(
        None, ge=1, description=(
        "Rackbeat location number set on every order line (default: each item's default "
        "location)."))
    layout: Annotated[int | None, _LAYOUT] = Field(
        None, ge=1, description="Rackbeat order layout id.")
    after_transfer: AfterTransfer = Field(
        "sync", description=(
        "What a cancellation, refund or edit made in Shopify after the order reached Rackbeat"
        " does. `sync` carries it into Rackbeat (draft: lines changed or the draft deleted; "
        "booked: reopened, changed, booked again; invoiced: a credit note per refund); "
        '`report` only names it in the summary and `status`. See the README, "After the '
        'transfer".'))
    refund_item: ItemNumber | None = Field(
        None, description=(
        "Number of the Rackbeat item that carries an amount-only refund (money back on no "
        "line and no shipping) on a credit note. Without it such a refund holds the order "
        "with a reason. An integer is accepted and used as text."))
    return_location: Annotated[int | None, _LOCATION_NO] = Field(
        None, ge=1, description=(
        "Rackbeat location that goods a refund restocked return to when the refund's Shopify "
        "location maps to no Rackbeat location (`initial.location_map`). Default: the invoice"
        " line's location."))
    write_back: WriteBack = Field(
        "tag", description=(
        "How the Shopify order is marked once it is in Rackbeat. The metafield is "
        "`rackshop.rackbeat_order` (namespace and key are fixed) and holds the Rackbeat order"
        " number."))
    tag: ShopifyTag = Field(
        "rackbeat", description=(
        'The tag added with `write_back = "tag"` or `"both"`. At most 40 characters, no '
        "commas. Setting it with `metafield`/`off` gives a warning (no effect)."))
    customer: CustomerTable | None = Field(
        None, description="Defaults for customers created from orders; required when enabled.")


class ProductsTable(Table):
    """Which side owns the product data. Left out, or master = "off": not synced."""

    header: ClassVar[str] = "shops.products"

    master: ProductMaster = Field(
        "off",
        description="`rackbeat` (Rackbeat -> Shopify), `shopify` (Shopify -> Rackbeat), `off`.")
    fields: names(RACKBEAT_FIELDS, '["name", "number"]') = Field(  # type: ignore[valid-type]
        RACKBEAT_FIELDS, description=(
        'With `master = "rackbeat"`: `number` is the variant SKU, `sales_price` has VAT added'
        " as needed, `group` is the product type. Not empty, no repeats."))
    shopify_fields: names(  # type: ignore[valid-type]
        SHOPIFY_FIELDS, '["name", "description"]',
        refused=(("number", "'number' is the key that links a Shopify variant (SKU) to a "
                  "Rackbeat item and is always used; remove it from shopify_fields"),),
    ) = Field(SHOPIFY_FIELDS, description=(
        'With `master = "shopify"`. The number (SKU) is the key and always used, so `number` '
        "is refused here."))
    include_boms: bool = Field(
        False, description='With `master = "rackbeat"`: also sync BOMs (Rackbeat lots).')
    create_missing: bool = Field(
        False, description=(
        'With `master = "rackbeat"`: create Shopify products for Rackbeat items the shop does'
        " not have."))
    new_product_status: ProductStatus = Field(
        "draft", description="Status of products rackshop creates.")
    barred: BarredAction = Field(
        "draft", description="What happens in Shopify to a barred Rackbeat item.")
    default_group: Annotated[int | None, _PRODUCT_GROUP] = Field(
        None, ge=1, description=(
        "Rackbeat product group for items created from Shopify products. Required when "
        '`master = "shopify"`; also used by `init-sync`.'))
    vat_rate: Annotated[float, Hint(what=" (a percentage: 25 means 25 %)")] = Field(
        25.0, ge=0, le=100, description=(
        "A percentage. Used when an item's product group gives none. A value between 0 and 1 "
        "gives a warning (it looks like a fraction)."))
    weight_unit: WeightUnit = Field("kg", description="Rackbeat's weight unit.")
    recreate_deleted: bool = Field(
        False, description=(
        "Rackbeat master: create a linked listing again when it was deleted in Shopify "
        "(otherwise the deletion is respected and reported as `deleted_in_shop`)."))
    rename_numbers: bool = Field(
        False, description=(
        "Shopify master: a SKU edited in Shopify renames the linked Rackbeat item's number "
        "(otherwise a failure row until the SKU is put back)."))
    create_groups: bool = Field(
        False, description=(
        "init-sync: create a Rackbeat product group named after a Shopify product type no "
        "group has (VAT and inventory as `default_group`'s); otherwise such items go to "
        "`default_group` and the shop keeps its type."))
    sales_channels: SalesChannels = Field(
        ["Online Store"], description=(
        "Rackbeat master: publications a created product is published to, by name; `[]` "
        "publishes nowhere."))
    bulk_above: Annotated[int, Hint(what=" (products created in one pass; 0 = never)")] = Field(
        250, ge=0, le=1_000_000, description=(
        "Rackbeat master: a pass that creates more products than this sends the creates as one "
        "Shopify bulk mutation (`productSet`, results read back per SKU) and publishes them with "
        "a second, and one that updates more products than this sends the updates so "
        "(`productUpdate`, then `productVariantsBulkUpdate`), instead of one call each; `0` "
        "always writes one call per product."))
    currency_rate: Annotated[float | None, Hint(
        what=" (units of Rackbeat's base currency per unit of the shop's currency)")] = Field(
        None, gt=0, le=1e9, description=(
        "Units of Rackbeat's base currency per unit of the shop's currency, when they differ "
        "(default: Rackbeat's own rates; see docs/products.md)."))
    price_rounding: PriceRounding = Field(
        "cent", description="Rounding of prices converted into the shop's currency.")


class StockTable(Table):
    """Stock, Rackbeat -> this shop. Left out: the shop's stock is not synced."""

    header: ClassVar[str] = "shops.stock"
    absent: ClassVar[dict[str, Any]] = {"enabled": False}

    enabled: bool = Field(
        True, description="`true` if the table is present, else `false`.")
    rackbeat_locations: AllOrLocations = Field(None, json_schema_extra={"default": "all"},
              description=(
        "Rackbeat location numbers (no repeats, not empty) whose available stock is offered; "
        "child locations are included. Used with `shopify_location`."))
    shopify_location: ShopifyLocation | None = Field(
        None, description="The Shopify location to update: its name or `gid://shopify/Location/<id>`.")
    location_map: StockLocationMap | None = Field(
        None, description=(
        'Several Shopify locations: `{ "Shopify location" = [Rackbeat location numbers], ... '
        "}`. A single number may be written without brackets. A Rackbeat location may appear "
        "under one Shopify location only (otherwise its stock would be offered twice)."))
    buffer: Annotated[int, Hint(what=" (units held back per item)")] = Field(
        0, ge=0, description="Units held back per item: the shop sees available minus buffer, "
        "never below 0.")
    zero_guard: Annotated[float, Hint(what=" (a share of tracked items: 0.5 means 50 %)")] = Field(
        0.5, gt=0, le=1, description=(
        "A pass that would set more than this share of the tracked items to zero is refused "
        "(`--force` overrides); `1` disables the check."))
    track_untracked: bool = Field(
        False, description="Turn on inventory tracking for untracked variants instead of "
        "skipping them.")


class InitialTable(Table):
    """The go-live import (``rackshop init-sync``)."""

    header: ClassVar[str] = "shops.initial"

    location_map: InitialLocationMap | None = Field(
        None, description=(
        '`{ "Shopify location" = Rackbeat location number }`: the ONE Rackbeat location each '
        "Shopify location's stock is imported to (`[1]` is accepted as `1`; two numbers are "
        "an error). Required by `init-sync` when it imports stock. Two Shopify locations "
        "importing into the same Rackbeat location give a warning: their quantities are added"
        " together."))


class FulfillmentsTable(Table):
    """Shipments in Rackbeat become Shopify fulfilments (``rackshop sync-fulfillments``)."""

    header: ClassVar[str] = "shops.fulfillments"

    enabled: bool = Field(False, description=(
        'Run `sync-fulfillments` for this shop. Not with `orders.transfer_on = "fulfilled"` '
        "(that shop fulfils in Shopify first; the check refuses the pair)."))
    notify_customer: bool = Field(
        False, description=(
        "Shopify sends the customer its shipping confirmation (with the tracking) for each "
        "fulfilment."))
    location_map: FulfillmentLocationMap | None = Field(
        None, description=(
        '`{ "Rackbeat location number" = "Shopify location name or gid" }`: the Shopify '
        "location that fulfils what leaves each Rackbeat location. A fulfilment order "
        "assigned elsewhere is not fulfilled: the shipment fails with a reason (move the "
        "fulfilment order in Shopify, or fix the map). Empty: each fulfilment order's own "
        "assigned location fulfils."))
    tracking_number_field: ShipmentField = Field(
        "tracking_number", description=(
        "The shipment field (or dotted path) holding the tracking number; several numbers "
        "separated by commas, semicolons or spaces, or a list. Rackbeat's public API "
        "documents no tracking fields, so name the one your account uses; the sandbox's "
        "shipments use the defaults. No number: the fulfilment is made without tracking."))
    tracking_url_field: ShipmentField = Field(
        "tracking_url", description="The shipment field holding the tracking URL.")
    tracking_company_field: ShipmentField = Field(
        "carrier", description=(
        "The shipment field holding the carrier's name (send it exactly as Shopify lists "
        "carriers, e.g. `PostNord`, `DHL Express`, so Shopify makes the number clickable)."))
    tracking_company: Text | None = Field(
        None, description="The carrier named when the shipment names none.")
    tracking_url_template: UrlTemplate | None = Field(
        None, description=(
        "A URL per tracking number, with `{number}` where the number goes; it wins over "
        "`tracking_url_field`."))


class ShopTable(Table):
    """One Shopify shop; each [[shops]] header starts a new one."""

    header: ClassVar[str] = "shops"
    model_config = ConfigDict(
        extra="forbid", strict=True, frozen=True, json_schema_extra=_required("name", "domain"))

    name: ShopName | None = Field(
        None, description=(
        "1 to 40 of `a-z`, `0-9`, `-`, `_`. Unique. Used with `--shop` and as the key in the "
        "state store: do not rename a shop that has run."))
    domain: Domain | None = Field(
        None, description=(
        "The permanent `*.myshopify.com` domain (a bare host name, no `https://`, no path), "
        "not the storefront domain. Unique across shops (compared case-insensitively). Any "
        "host name is accepted when `base_url` is set."))
    api_version: ApiVersion = Field(
        DEFAULT_API_VERSION, description=(
        "`YYYY-MM` with a release month (`01`, `04`, `07`, `10`). A version other than "
        "2026-07 (the one rackshop is tested against), a retired one (older than 12 months) "
        "or an unreleased one gives a warning."))
    base_url: Url | None = Field(
        None, description=(
        "Send API calls here instead of `https://<domain>` (the sandbox). `http(s)` URL; a "
        "trailing `/` is removed; rackshop appends `/admin/api/<api_version>/graphql.json`."))
    token: SecretKey = Field(
        None, description=(
        "An Admin API access token (`shpat_...`). Give either `token` or `client_id` + "
        "`client_secret`."))
    client_id: Text | None = Field(
        None, description=(
        "The client ID of an app of your organisation (not a secret); with `client_secret`, "
        "instead of `token`."))
    client_secret: SecretKey = Field(
        None, description=(
        "That app's client secret; rackshop requests a token with the client-credentials "
        "grant and refreshes it."))
    webhook_secret: SecretKey = Field(
        None, description="The secret Shopify signs webhooks with (HMAC), for `rackshop listen`.")
    plan: ShopPlan = Field(
        "standard", description=(
        "`standard` is Basic, Shopify and Grow. Only the first guess of the API rate; "
        "rackshop then paces itself by what Shopify reports."))
    enabled: bool = Field(
        True, description="`false` skips the shop in every job; its secrets are then not read.")
    prices_include_tax: bool = Field(
        True, description="Whether the shop's prices include tax (Shopify: Settings -> Taxes "
        "and duties).")
    orders: OrdersTable | None = Field(None, description="Orders, Shopify -> Rackbeat.")
    products: ProductsTable | None = Field(None, description="Products, one direction.")
    stock: StockTable | None = Field(None, description="Stock, Rackbeat -> this shop.")
    initial: InitialTable | None = Field(None, description="The go-live import.")
    fulfillments: FulfillmentsTable | None = Field(
        None, description="Rackbeat shipments -> Shopify fulfilments.")


class ConfigFile(Table):
    """rackshop's configuration: one Rackbeat account and any number of Shopify shops."""

    model_config = ConfigDict(
        extra="forbid", strict=True, frozen=True, title="rackshop configuration",
        json_schema_extra=_required("rackbeat", "shops"),
    )

    rackbeat: RackbeatTable | None = Field(None, description="The Rackbeat account.")
    state: StateTable | None = Field(None, description="The state store.")
    log: LogTable | None = Field(None, description="Logging.")
    http: HttpTable | None = Field(None, description="Retries of failing API calls.")
    listen: ListenTable | None = Field(None, description="The webhook listener.")
    shops: list[ShopTable] | None = Field(
        None, min_length=1, description="The Shopify shops, one [[shops]] table each.")
