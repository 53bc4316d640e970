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

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic.json_schema import WithJsonSchema

from rackshop.config.fields import (
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
    LocationList,
    ShipmentField,
    ShopifyLocation,
    ShopifyTag,
    ShopName,
    StockLocationMap,
    Text,
    Url,
    UrlTemplate,
    _all_or_locations,
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


def _with_slash(value: str) -> str:
    return value.rstrip("/") + "/"


def _all_is_none(value: Any) -> Any:
    # "all" is the default: no list, every location.
    return None if _all_or_locations(value) == "all" else value


def _channels(value: Any) -> Any:
    return tuple(dict.fromkeys(value))


SalesChannels = Annotated[
    list[Text], AfterValidator(_channels),
    Hint(expected='an array of sales channel names, e.g. ["Online Store", "Point of Sale"] '
         "([] publishes nowhere)"),
]


class RackbeatTable(Table):
    """The one Rackbeat account every shop syncs with."""

    header: ClassVar[str] = "rackbeat"
    model_config = ConfigDict(
        extra="forbid", strict=True, frozen=True, json_schema_extra=_required("token"))

    token: SecretKey = Field(
        None, description="The Rackbeat API token (Rackbeat: Settings -> API).")
    base_url: Annotated[Url, AfterValidator(_with_slash)] = Field(
        DEFAULT_RACKBEAT_URL,
        description="Rackbeat's API address; change it only for the sandbox. A trailing / is "
        "added; plain http to anything but the local machine gives a warning.")
    requests_per_minute: int = Field(
        480, ge=1, le=1_000_000,
        description="The most requests per minute sent to Rackbeat, all jobs of a run together; "
        "above 480 (Rackbeat's limit per token) gives a warning unless base_url points elsewhere.")
    prices_include_vat: bool = Field(
        False, description="Whether Rackbeat's sales prices include VAT.")
    timeout_seconds: float = Field(
        30.0, ge=1, le=600, description="Seconds to wait for one answer before retrying.")
    webhook_token: SecretKey = Field(
        None, description="The token Rackbeat sends with its webhooks (`rackshop listen`).")


class StateTable(Table):
    """Where the SQLite state store lives."""

    header: ClassVar[str] = "state"

    path: FilePath | None = Field(
        None,
        description="The SQLite state store (order journal, id mappings, cursors, run log); "
        "default: the platform's state folder + state.sqlite3 "
        "(~/.local/state/rackshop/state.sqlite3 on Linux). Must not be a folder. Back it up: it "
        "is what makes reruns safe.")


class LogTable(Table):
    """Logging."""

    header: ClassVar[str] = "log"

    level: LogLevel = Field("info", description="The least important messages logged.")
    format: LogFormat = Field(
        "text", description="text (for people) or json (one object per line); --log-format "
        "overrides it.")
    file: FilePath | None = Field(
        None, description="Also append the log to this file. Must not be a folder.")


class HttpTable(Table):
    """How hard rackshop retries a failing API before it stops the run with exit code 4."""

    header: ClassVar[str] = "http"

    attempts: int = Field(6, ge=1, le=20, description="Attempts per request, the first included.")
    backoff_seconds: float = Field(
        0.5, ge=0.01, le=60,
        description="First wait between attempts; doubles each attempt, plus up to 25 % jitter.")
    max_backoff_seconds: float = Field(
        60.0, ge=0.01, le=3600,
        description="Longest single wait, also the cap of an honoured Retry-After.")


class ListenTable(Table):
    """``rackshop listen``, the long-running webhook receiver and poller."""

    header: ClassVar[str] = "listen"

    host: ListenHost = Field(
        "127.0.0.1", description="Host name or IP address to listen on. Keep the loopback "
        "address and put a TLS-terminating proxy in front.")
    port: int = Field(8787, ge=1, le=65535, description="The port to listen on.")
    public_url: Url | None = Field(
        None, description="The listener's public https address, used to register Shopify "
        "webhooks; a non-https URL gives a warning (Shopify delivers only to https).")
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
        None, ge=1, description="Rackbeat customer group number; required when orders are "
        "enabled.")
    vat_zone: VatZone = Field(
        "domestic", description="The VAT zone of new customers (domestic_exempt: domestic "
        "without VAT).")
    payment_terms: Annotated[int | None, _TERMS] = Field(
        None, ge=1, description="Rackbeat payment terms number; required when orders are "
        "enabled.")
    layout: Annotated[int | None, _LAYOUT] = Field(
        None, ge=1, description="Rackbeat layout id for new customers.")
    currency: Currency | None = Field(
        None, description="ISO 4217 code for new customers, e.g. \"DKK\"; default: the "
        "currency of the order that creates the customer.")
    locale: Locale | None = Field(
        None, description='A language code, optionally with a country: "da", "sv", "da_DK".')


class OrdersTable(Table):
    """Orders, Shopify -> Rackbeat. Left out: the shop's orders are not synced."""

    header: ClassVar[str] = "shops.orders"
    absent: ClassVar[dict[str, Any]] = {"enabled": False}

    enabled: bool = Field(
        True, description="Sync this shop's orders; true when the table is present.")
    since: GoLive | None = Field(
        None, description="Go-live: orders created before it are never imported (required when "
        "enabled). More than 60 days ago gives a warning unless base_url is set.")
    transfer_on: TransferOn = Field(
        "paid", description="The Shopify state that sends the order to Rackbeat.")
    process_to: ProcessTo = Field(
        "booked", description="How far rackshop takes the Rackbeat order; booked reserves the "
        "stock, so the other shops stop selling it.")
    overlap_minutes: int = Field(
        60, ge=0, le=1440, description="Each poll looks back this far before the last one.")
    include_test_orders: bool = Field(False, description="Transfer Shopify test orders too.")
    currency: OrderCurrency = Field(
        "shop", description="The Rackbeat order's currency: the shop's, or the one the buyer "
        "paid in (presentment).")
    shipping_item: ItemNumber | None = Field(
        None, description="Number of the Rackbeat item used for shipping lines (required when "
        "enabled).")
    rounding_item: ItemNumber | None = Field(
        None, description="Number of the Rackbeat item for rounding lines (øreafrunding); "
        "without it, orders Rackbeat's per-line VAT rounding cannot reach fail instead.")
    rounding_per_line: Annotated[float, Hint(what=" (an amount per line, e.g. 0.01)")] = Field(
        0.01, ge=0, le=1, description="The largest rounding line allowed, per Shopify line "
        "(items and shipping).")
    guest_customer: Annotated[int | None, _CUSTOMER_NO] = Field(
        None, ge=1, description="Rackbeat customer number for orders without an e-mail.")
    location: Annotated[int | None, _LOCATION_NO] = Field(
        None, ge=1, description="Rackbeat location set on every order line (default: each "
        "item's default location).")
    layout: Annotated[int | None, _LAYOUT] = Field(
        None, ge=1, description="Rackbeat order layout id.")
    after_transfer: AfterTransfer = Field(
        "sync", description="What a cancellation, refund or edit in Shopify after the transfer "
        "does: sync carries it into Rackbeat, report only reports it.")
    refund_item: ItemNumber | None = Field(
        None, description="Rackbeat item for amount-only refunds (no lines, no shipping) on a "
        "credit note; without it such a refund holds the order.")
    return_location: Annotated[int | None, _LOCATION_NO] = Field(
        None, ge=1, description="Rackbeat location restocked goods return to when the refund's "
        "location maps to none (default: the invoice line's location).")
    write_back: WriteBack = Field(
        "tag", description="How the Shopify order is marked once it is in Rackbeat (the "
        "metafield is rackshop.rackbeat_order).")
    tag: ShopifyTag = Field(
        "rackbeat", description='The tag added with write_back = "tag" or "both".')
    customer: CustomerTable | None = Field(
        None, description="Defaults for customers created from orders; required when enabled.")


class ProductsTable(Table):
    """Which side owns the product data. Left out, or master = "off": not synced."""

    header: ClassVar[str] = "shops.products"

    master: ProductMaster = Field(
        "off", description="rackbeat (Rackbeat -> Shopify), shopify (Shopify -> Rackbeat) or "
        "off.")
    fields: names(RACKBEAT_FIELDS, '["name", "number"]') = Field(  # type: ignore[valid-type]
        RACKBEAT_FIELDS, description="Rackbeat master: the fields synced (number is the variant "
        "SKU, group the product type).")
    shopify_fields: names(  # type: ignore[valid-type]
        SHOPIFY_FIELDS, '["name", "description"]',
        refused=(("number", "'number' is the key that links a Shopify variant (SKU) to a "
                  "Rackbeat item and is always used; remove it from shopify_fields"),),
    ) = Field(SHOPIFY_FIELDS, description="Shopify master: the fields synced (the SKU is the "
              "key and always used).")
    include_boms: bool = Field(False, description="Rackbeat master: also sync BOMs.")
    create_missing: bool = Field(
        False, description="Rackbeat master: create Shopify products for Rackbeat items the "
        "shop does not have.")
    new_product_status: ProductStatus = Field(
        "draft", description="Status of products rackshop creates.")
    barred: BarredAction = Field(
        "draft", description="What happens in Shopify to a barred Rackbeat item.")
    default_group: Annotated[int | None, _PRODUCT_GROUP] = Field(
        None, ge=1, description="Rackbeat product group for items created from Shopify "
        'products; required when master = "shopify", also used by init-sync.')
    vat_rate: Annotated[float, Hint(what=" (a percentage: 25 means 25 %)")] = Field(
        25.0, ge=0, le=100, description="VAT percentage used when an item's product group gives "
        "none.")
    weight_unit: WeightUnit = Field("kg", description="Rackbeat's weight unit.")
    recreate_deleted: bool = Field(
        False, description="Rackbeat master: create a linked listing again when it was deleted "
        "in Shopify.")
    rename_numbers: bool = Field(
        False, description="Shopify master: a SKU edited in Shopify renames the linked Rackbeat "
        "item's number.")
    create_groups: bool = Field(
        False, description="init-sync: create a Rackbeat product group for a product type no "
        "group is named after.")
    sales_channels: SalesChannels = Field(
        ["Online Store"], description="Rackbeat master: the sales channels a created product "
        "is published to, by name; [] publishes nowhere.")
    currency_rate: Annotated[float | None, Hint(
        what=" (units of Rackbeat's base currency per unit of the shop's currency)")] = Field(
        None, gt=0, le=1e9, description="Units of Rackbeat's base currency per unit of the "
        "shop's currency (default: Rackbeat's own rates).")
    price_rounding: PriceRounding = Field(
        "cent", description="Rounding of prices converted into the shop's currency.")


class StockTable(Table):
    """Stock, Rackbeat -> this shop. Left out: the shop's stock is not synced."""

    header: ClassVar[str] = "shops.stock"
    absent: ClassVar[dict[str, Any]] = {"enabled": False}

    enabled: bool = Field(
        True, description="Sync this shop's stock; true when the table is present.")
    rackbeat_locations: Annotated[
        LocationList | None, BeforeValidator(_all_is_none), WithJsonSchema({"anyOf": [
            {"const": "all"},
            {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 1,
             "uniqueItems": True}]})
    ] = Field(None, json_schema_extra={"default": "all"},
              description='"all", or the Rackbeat locations (child locations included) whose '
              "available stock is offered at shopify_location.")
    shopify_location: ShopifyLocation | None = Field(
        None, description="The Shopify location to update: its name or "
        "gid://shopify/Location/<id>.")
    location_map: StockLocationMap | None = Field(
        None, description="Several Shopify locations: { \"Shopify location\" = [Rackbeat "
        "location numbers] }; a Rackbeat location may feed one Shopify location only.")
    buffer: Annotated[int, Hint(what=" (units held back per item)")] = Field(
        0, ge=0, description="Units held back per item: the shop sees available minus buffer, "
        "never below 0.")
    zero_guard: Annotated[float, Hint(what=" (a share of tracked items: 0.5 means 50 %)")] = Field(
        0.5, gt=0, le=1, description="A pass that would set more than this share of the "
        "tracked items to zero is refused (--force overrides); 1 disables the check.")
    track_untracked: bool = Field(
        False, description="Turn on inventory tracking for untracked variants instead of "
        "skipping them.")


class InitialTable(Table):
    """The go-live import (``rackshop init-sync``)."""

    header: ClassVar[str] = "shops.initial"

    location_map: InitialLocationMap | None = Field(
        None, description="{ \"Shopify location\" = Rackbeat location number }: the ONE "
        "Rackbeat location each Shopify location's stock is imported to.")


class FulfillmentsTable(Table):
    """Shipments in Rackbeat become Shopify fulfilments (``rackshop sync-fulfillments``)."""

    header: ClassVar[str] = "shops.fulfillments"

    enabled: bool = Field(False, description="Run sync-fulfillments for this shop.")
    notify_customer: bool = Field(
        False, description="Shopify sends the customer its shipping confirmation for each "
        "fulfilment.")
    location_map: FulfillmentLocationMap | None = Field(
        None, description="{ \"Rackbeat location number\" = \"Shopify location\" }: the Shopify "
        "location that fulfils what leaves each Rackbeat location (default: each fulfilment "
        "order's own).")
    tracking_number_field: ShipmentField = Field(
        "tracking_number", description="The shipment field (or dotted path) holding the "
        "tracking number.")
    tracking_url_field: ShipmentField = Field(
        "tracking_url", description="The shipment field holding the tracking URL.")
    tracking_company_field: ShipmentField = Field(
        "carrier", description="The shipment field holding the carrier's name.")
    tracking_company: Text | None = Field(
        None, description="The carrier named when the shipment names none.")
    tracking_url_template: UrlTemplate | None = Field(
        None, description="A tracking URL per number, with {number} where the number goes; it "
        "wins over tracking_url_field.")


class ShopTable(Table):
    """One Shopify shop; each [[shops]] header starts a new one."""

    header: ClassVar[str] = "shops"
    model_config = ConfigDict(
        extra="forbid", strict=True, frozen=True, json_schema_extra=_required("name", "domain"))

    name: ShopName | None = Field(
        None, description="Unique; used with --shop and as the key in the state store: do not "
        "rename a shop that has run.")
    domain: Domain | None = Field(
        None, description="The permanent *.myshopify.com domain (no https://, no path), not "
        "the storefront domain; any host name when base_url is set.")
    api_version: ApiVersion = Field(
        DEFAULT_API_VERSION, description="The Shopify Admin API version (YYYY-MM, a release "
        "month); another than 2026-07, a retired or an unreleased one gives a warning.")
    base_url: Url | None = Field(
        None, description="Send API calls here instead of https://<domain> (the sandbox).")
    token: SecretKey = Field(
        None, description="An Admin API access token (shpat_...); or client_id + "
        "client_secret.")
    client_id: Text | None = Field(
        None, description="The client ID of an app of your organisation (not a secret).")
    client_secret: SecretKey = Field(
        None, description="That app's client secret; rackshop requests and refreshes the "
        "token (client-credentials grant).")
    webhook_secret: SecretKey = Field(
        None, description="The secret Shopify signs webhooks with (HMAC), for rackshop listen.")
    plan: ShopPlan = Field(
        "standard", description="The first guess of the API rate (standard: Basic, Shopify, "
        "Grow); rackshop then paces itself by what Shopify reports.")
    enabled: bool = Field(
        True, description="false skips the shop in every job; its secrets are then not read.")
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
