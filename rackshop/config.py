"""The configuration: a TOML file turned into frozen dataclasses.

One file describes the Rackbeat account and every Shopify shop (see ``examples/config.toml`` and
``docs/config.md``). :func:`load_config` reads it; :func:`validate_dict` does the same for an
already parsed mapping. Validation never stops at the first mistake: it collects every problem
(wrong types, unknown keys, values out of range, contradictions between keys, clashes between
shops) and raises one :class:`~rackshop.errors.ConfigError` that lists each with its key path
(``shops[1].orders.transfer_on``) and what to write instead.

Secrets are never written in the file. A secret key holds a reference, ``{ env = "NAME" }`` or
``{ file = "path" }``; the value is read at load time, wrapped in a :class:`Secret` (whose repr
is ``Secret('***')``) and registered with :mod:`rackshop.redact` so it is masked wherever it
might be logged.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import difflib
import ipaddress
import os
import re
import tempfile
import tomllib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args
from urllib.parse import urlsplit, urlunsplit

import platformdirs
import tomli_w

from rackshop import redact
from rackshop.errors import ConfigError, ConfigProblem, UsageError

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

_SHOP_NAME_RE = re.compile(r"^[a-z0-9_-]{1,40}$")
_API_VERSION_RE = re.compile(r"^(\d{4})-(\d{2})$")
_MYSHOPIFY_RE = re.compile(r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$")
_HOSTNAME_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:\d{1,5})?$")
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
_LOCALE_RE = re.compile(r"^[a-z]{2}(_[A-Z]{2})?$")
_LOCATION_GID_RE = re.compile(r"^gid://shopify/Location/\d+$")

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


# ----------------------------------------------------------------------------------------------
# The configuration dataclasses.


@dataclass(frozen=True, slots=True)
class RackbeatConfig:
    """``[rackbeat]``: the one Rackbeat account every shop syncs with."""

    token: Secret
    base_url: str = DEFAULT_RACKBEAT_URL
    """Always ends with ``/``."""
    requests_per_minute: int = 480
    prices_include_vat: bool = False
    """Whether the Rackbeat sales prices include VAT."""
    timeout_seconds: float = 30.0
    webhook_token: Secret | None = None


@dataclass(frozen=True, slots=True)
class StateConfig:
    """``[state]``: where the SQLite state store lives (absolute path; not created here)."""

    path: Path


@dataclass(frozen=True, slots=True)
class LogConfig:
    """``[log]``."""

    level: LogLevel = "info"
    format: LogFormat = "text"
    file: Path | None = None


@dataclass(frozen=True, slots=True)
class HttpConfig:
    """``[http]``: how hard rackshop retries a failing API before giving up on the run."""

    attempts: int = 6
    """Attempts per request, the first included (429, 5xx, timeouts are retried)."""
    backoff_seconds: float = 0.5
    """First wait between attempts; it doubles each time (with jitter)."""
    max_backoff_seconds: float = 60.0
    """Longest single wait, also the cap of an honoured Retry-After."""


@dataclass(frozen=True, slots=True)
class ListenConfig:
    """``[listen]``: the webhook listener and poller of ``rackshop listen``."""

    host: str = "127.0.0.1"
    port: int = 8787
    public_url: str | None = None
    orders_poll_minutes: int = 5
    stock_poll_minutes: int = 15
    max_body_kb: int = 1024
    queue_limit: int = 10000


@dataclass(frozen=True, slots=True)
class CustomerDefaults:
    """``[shops.orders.customer]``: how customers created from Shopify orders are set up."""

    group: int | None = None
    vat_zone: VatZone = "domestic"
    payment_terms: int | None = None
    layout: int | None = None
    currency: str | None = None
    """ISO 4217 code for new customers; ``None``: the currency of the order that creates them."""
    locale: str | None = None


@dataclass(frozen=True, slots=True)
class OrdersConfig:
    """``[shops.orders]``: orders from Shopify into Rackbeat."""

    enabled: bool = False
    since: dt.datetime | None = None
    """Go-live instant (timezone-aware, UTC); required when enabled."""
    transfer_on: TransferOn = "paid"
    process_to: ProcessTo = "booked"
    overlap_minutes: int = 60
    include_test_orders: bool = False
    currency: OrderCurrency = "shop"
    shipping_item: str | None = None
    rounding_item: str | None = None
    """Rackbeat item for rounding lines (øreafrunding); none: orders Rackbeat's per-line VAT
    rounding cannot reach fail instead."""
    rounding_per_line: float = 0.01
    """The largest rounding line allowed, per Shopify line (items and shipping)."""
    guest_customer: int | None = None
    location: int | None = None
    layout: int | None = None
    after_transfer: AfterTransfer = "sync"
    """What a cancellation, refund or edit in Shopify after the transfer does: ``sync`` carries
    it into Rackbeat, ``report`` only reports it."""
    refund_item: str | None = None
    """Rackbeat item for amount-only refunds (no lines, no shipping) on a credit note."""
    return_location: int | None = None
    """Rackbeat location restocked goods return to when the refund's location maps to none."""
    write_back: WriteBack = "tag"
    tag: str = "rackbeat"
    customer: CustomerDefaults = field(default_factory=CustomerDefaults)

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

    master: ProductMaster = "off"
    fields: tuple[RackbeatField, ...] = RACKBEAT_FIELDS
    shopify_fields: tuple[ShopifyField, ...] = SHOPIFY_FIELDS
    include_boms: bool = False
    create_missing: bool = False
    new_product_status: ProductStatus = "draft"
    barred: BarredAction = "draft"
    default_group: int | None = None
    vat_rate: float = 25.0
    weight_unit: WeightUnit = "kg"
    recreate_deleted: bool = False
    """Rackbeat master: create a linked listing again when it was deleted in Shopify."""
    rename_numbers: bool = False
    """Shopify master: a SKU edited in Shopify renames the linked Rackbeat item's number."""
    create_groups: bool = False
    """init-sync: create a Rackbeat product group for a product type no group is named after."""
    sales_channels: tuple[str, ...] = ("Online Store",)
    """Rackbeat master: the publications (sales channels) a created product is published to."""
    currency_rate: float | None = None
    """Units of Rackbeat's base currency one unit of the shop's currency is worth (overrides
    Rackbeat's own rates from ``GET /currencies``)."""
    price_rounding: PriceRounding = "cent"
    """Rackbeat -> Shopify prices converted to another currency: to the cent, whole units, or
    ending in .95."""


@dataclass(frozen=True, slots=True)
class StockTarget:
    """One Shopify location and the Rackbeat locations whose stock it shows."""

    shopify_location: str
    """A location name or ``gid://shopify/Location/<id>``."""
    rackbeat_locations: tuple[int, ...] | None
    """Rackbeat location numbers (their child locations included); ``None`` means all."""


@dataclass(frozen=True, slots=True)
class StockConfig:
    """``[shops.stock]``: stock from Rackbeat to this shop."""

    enabled: bool = False
    rackbeat_locations: tuple[int, ...] | Literal["all"] = "all"
    shopify_location: str | None = None
    location_map: FrozenMap[str, tuple[int, ...]] = field(default_factory=FrozenMap)
    buffer: int = 0
    zero_guard: float = 0.5
    track_untracked: bool = False

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

    location_map: FrozenMap[str, int] = field(default_factory=FrozenMap)
    """Shopify location (name or gid) -> the ONE Rackbeat location its stock is imported to."""


@dataclass(frozen=True, slots=True)
class FulfillmentsConfig:
    """``[shops.fulfillments]``: Rackbeat shipments become Shopify fulfilments
    (``rackshop sync-fulfillments``)."""

    enabled: bool = False
    notify_customer: bool = False
    location_map: FrozenMap[int, str] = field(default_factory=FrozenMap)
    """Rackbeat location number -> the Shopify location (name or gid) that fulfils what leaves
    it; empty: each fulfilment order's own assigned location."""
    tracking_number_field: str = "tracking_number"
    tracking_url_field: str = "tracking_url"
    tracking_company_field: str = "carrier"
    tracking_company: str | None = None
    """The carrier named when the shipment names none."""
    tracking_url_template: str | None = None
    """A tracking URL per number, e.g. ``https://tracking.example/?id={number}``."""


@dataclass(frozen=True, slots=True)
class ShopConfig:
    """One ``[[shops]]`` entry."""

    name: str
    domain: str
    api_version: str = DEFAULT_API_VERSION
    base_url: str | None = None
    """Overrides ``https://{domain}`` (the sandbox); never ends with ``/``."""
    token: Secret | None = None
    client_id: str | None = None
    client_secret: Secret | None = None
    webhook_secret: Secret | None = None
    plan: ShopPlan = "standard"
    enabled: bool = True
    prices_include_tax: bool = True
    orders: OrdersConfig = field(default_factory=OrdersConfig)
    products: ProductsConfig = field(default_factory=ProductsConfig)
    stock: StockConfig = field(default_factory=StockConfig)
    initial: InitialConfig = field(default_factory=InitialConfig)
    fulfillments: FulfillmentsConfig = field(default_factory=FulfillmentsConfig)

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
        warnings: Things that are allowed but probably not what the user wants (a secret file
            other users can read, a setting with no effect). ``rackshop check`` shows them.
    """

    rackbeat: RackbeatConfig
    state: StateConfig
    log: LogConfig
    listen: ListenConfig
    shops: tuple[ShopConfig, ...]
    source: Path | None = None
    warnings: tuple[str, ...] = ()
    http: HttpConfig = HttpConfig()

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


# ----------------------------------------------------------------------------------------------
# Public functions.


def default_state_path() -> Path:
    """The state database when ``[state] path`` is not set: the platform's user state folder."""
    return Path(platformdirs.user_state_dir(APP_NAME)) / "state.sqlite3"


def default_user_config_path() -> Path:
    """The per-user config file looked for last: ``<user config dir>/rackshop/config.toml``."""
    return Path(platformdirs.user_config_dir(APP_NAME)) / "config.toml"


def find_config_path(
    explicit: Path | None,
    env: Mapping[str, str],
    cwd: Path,
    *,
    user_config: Path | None = None,
) -> Path:
    """Decide which config file to use.

    Order: ``--config`` (``explicit``), then ``$RACKSHOP_CONFIG``, then ``./rackshop.toml``, then
    the per-user file (:func:`default_user_config_path`). A path given explicitly (option or
    variable) must exist: rackshop never falls back silently from a file the user named.

    Args:
        explicit: The ``--config`` value, if given.
        env: The environment (injected; the CLI passes ``os.environ``).
        cwd: The current folder (injected).
        user_config: The per-user config path; defaults to :func:`default_user_config_path`.

    Returns:
        The path of an existing file (absolute if ``cwd`` is).

    Raises:
        ConfigError: The named file does not exist, or no candidate exists; the message lists
            every place looked and how to create a config.
    """

    def absolute(p: Path) -> Path:
        p = _expand(p)
        return p if p.is_absolute() else cwd / p

    how = _HOW_TO_CREATE
    if explicit is not None:
        path = absolute(explicit)
        if not path.is_file():
            what = "is a folder, not a file" if path.is_dir() else "does not exist"
            raise ConfigError(
                [ConfigProblem("", f"config file {path} (from --config) {what}; {how}")]
            )
        return path
    from_env = env.get(CONFIG_ENV_VAR, "").strip()
    if from_env:
        path = absolute(Path(from_env))
        if not path.is_file():
            what = "is a folder, not a file" if path.is_dir() else "does not exist"
            raise ConfigError(
                [ConfigProblem("", f"config file {path} (from ${CONFIG_ENV_VAR}) {what}; {how}")]
            )
        return path
    candidates = [cwd / DEFAULT_CONFIG_NAME, user_config or default_user_config_path()]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    looked = "; ".join(
        ["--config (not given)", f"${CONFIG_ENV_VAR} (not set)"] + [str(c) for c in candidates]
    )
    raise ConfigError([ConfigProblem("", f"no config file found; looked at: {looked}; {how}")])


def load_config(
    path: Path,
    *,
    env: Mapping[str, str] | None = None,
    resolve_secrets: bool = True,
    now: dt.datetime | None = None,
) -> Config:
    """Read, parse and validate a config file.

    Args:
        path: The TOML file. Relative paths inside it (state, log, secret files) are relative
            to its folder.
        env: Where ``{ env = "..." }`` secrets are looked up; defaults to ``os.environ``.
        resolve_secrets: Read secret values (the default). False keeps them as unresolved
            references (:meth:`Secret.reveal` then raises); for tooling that only inspects the
            structure.
        now: The current time, for the warnings that depend on it (an expired API version,
            a go-live date beyond Shopify's order history). Defaults to the system clock.

    Returns:
        The validated configuration.

    Raises:
        ConfigError: The file is missing, unreadable, not TOML, or invalid. Lists every problem.
    """
    # Absolute, so that messages in cron logs and the paths derived from it are unambiguous.
    path = _expand(path).absolute()
    source = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            [ConfigProblem("", f"config file {path} does not exist; {_HOW_TO_CREATE}")],
            source=source,
        ) from None
    except IsADirectoryError:
        raise ConfigError(
            [ConfigProblem("", f"{path} is a folder; give the path of the TOML file")],
            source=source,
        ) from None
    except OSError as exc:
        raise ConfigError(
            [ConfigProblem("", f"cannot read config file {path}: {exc.strerror or exc}")],
            source=source,
        ) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            [
                ConfigProblem(
                    "",
                    f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}); "
                    "save it as UTF-8",
                )
            ],
            source=source,
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            [ConfigProblem("", f"{path.name}: not valid TOML: {exc}{_toml_hint(str(exc))}")],
            source=source,
        ) from None
    return validate_dict(
        data,
        source=path,
        env=env,
        base_dir=path.parent,
        resolve_secrets=resolve_secrets,
        now=now,
    )


def validate_dict(
    data: Mapping[str, Any],
    *,
    source: Path | None = None,
    env: Mapping[str, str] | None = None,
    base_dir: Path | None = None,
    resolve_secrets: bool = True,
    now: dt.datetime | None = None,
) -> Config:
    """Validate an already parsed config mapping (what ``tomllib`` returns).

    Args:
        data: The parsed TOML document.
        source: The file it came from, for messages and :attr:`Config.source`.
        env: Where ``{ env = "..." }`` secrets are looked up; defaults to ``os.environ``.
        base_dir: Relative paths are relative to this folder; defaults to the folder of
            ``source``, else the current folder.
        resolve_secrets: See :func:`load_config`.
        now: See :func:`load_config`.

    Returns:
        The validated configuration.

    Raises:
        ConfigError: Every problem found, each with its key path.
    """
    if base_dir is None:
        base_dir = source.parent if source is not None else Path.cwd()
    ctx = _Ctx(
        env=os.environ if env is None else env,
        base_dir=base_dir,
        resolve_secrets=resolve_secrets,
        now=now or dt.datetime.now(dt.UTC),
    )
    config = _parse_config(ctx, data, source)
    if ctx.problems or config is None:
        raise ConfigError(ctx.problems, source=str(source) if source else None)
    return config


def write_config(
    config: Mapping[str, Any],
    path: Path,
    *,
    header: str | None = None,
    validate: bool = True,
) -> None:
    """Write a config mapping as TOML, atomically and readable by the owner only (mode 0600).

    The mapping uses the file's own shape: secrets are ``{"env": ...}`` or ``{"file": ...}``
    references, never values. Used by ``rackshop sandbox serve --write-config``.

    Args:
        config: The document to write.
        path: Target file; its folder is created if needed.
        header: Optional comment lines put at the top (each line gets a ``#``).
        validate: Check the document first (structure only: secrets are not resolved), so that
            rackshop never writes a file it would then refuse.

    Raises:
        ConfigError: ``validate`` is on and the document is invalid.
        OSError: The file cannot be written.
    """
    path = _expand(path)
    if validate:
        validate_dict(config, source=path, base_dir=path.parent, resolve_secrets=False)
    text = tomli_w.dumps(dict(config))
    if header:
        comment = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines())
        text = comment + "\n" + text
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            # mkstemp creates the file 0600 already; say so explicitly, it matters here.
            os.chmod(tmp, 0o600)
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# ----------------------------------------------------------------------------------------------
# Validation machinery.

_HOW_TO_CREATE = (
    "create one by copying examples/config.toml from the rackshop source (every key is explained "
    "in it and in docs/config.md), or run `rackshop sandbox serve --write-config PATH` to write "
    "one for the local sandbox"
)

# Every table of the schema and its keys, in documentation order. The names are schema paths
# ("shops.orders"), not key paths ("shops[0].orders").
# fmt: off
_KEYS: dict[str, tuple[str, ...]] = {
    "": ("rackbeat", "state", "log", "http", "listen", "shops"),
    "rackbeat": (
        "token", "base_url", "requests_per_minute", "prices_include_vat", "timeout_seconds",
        "webhook_token",
    ),
    "state": ("path",),
    "log": ("level", "format", "file"),
    "http": ("attempts", "backoff_seconds", "max_backoff_seconds"),
    "listen": (
        "host", "port", "public_url", "orders_poll_minutes", "stock_poll_minutes",
        "max_body_kb", "queue_limit",
    ),
    "shops": (
        "name", "domain", "api_version", "base_url", "token", "client_id", "client_secret",
        "webhook_secret", "plan", "enabled", "prices_include_tax", "orders", "products",
        "stock", "initial", "fulfillments",
    ),
    "shops.orders": (
        "enabled", "since", "transfer_on", "process_to", "overlap_minutes",
        "include_test_orders", "currency", "shipping_item", "rounding_item",
        "rounding_per_line", "guest_customer", "location",
        "layout", "write_back", "tag", "customer", "after_transfer", "refund_item",
        "return_location",
    ),
    "shops.orders.customer": (
        "group", "vat_zone", "payment_terms", "layout", "currency", "locale",
    ),
    "shops.products": (
        "master", "fields", "shopify_fields", "include_boms", "create_missing",
        "new_product_status", "barred", "default_group", "vat_rate", "weight_unit",
        "recreate_deleted", "rename_numbers", "create_groups", "sales_channels",
        "currency_rate", "price_rounding",
    ),
    "shops.stock": (
        "enabled", "rackbeat_locations", "shopify_location", "location_map", "buffer",
        "zero_guard", "track_untracked",
    ),
    "shops.initial": ("location_map",),
    "shops.fulfillments": (
        "enabled", "notify_customer", "location_map", "tracking_number_field",
        "tracking_url_field", "tracking_company_field", "tracking_company",
        "tracking_url_template",
    ),
}
# fmt: on
_SECRET_KEYS = ("env", "file")


def _header(schema: str) -> str:
    if schema == "":
        return "the top level of the file"
    if schema == "shops":
        return "[[shops]]"
    return f"[{schema}]"


def _where(schema: str) -> str:
    return "at the top level of the file" if schema == "" else f"in {_header(schema)}"


def _parent_schema(schema: str) -> str | None:
    if schema == "":
        return None
    return schema.rpartition(".")[0]


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _join_map(path: str, key: str) -> str:
    return f'{path}["{key}"]'


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def _describe(value: Any) -> str:
    """Name a TOML value's type for a message, with the value when it is short and harmless."""
    if isinstance(value, bool):
        return f"a boolean ({'true' if value else 'false'})"
    if isinstance(value, int):
        return f"an integer ({value})"
    if isinstance(value, float):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"a string ({_short(value)})"
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


def _toml_hint(message: str) -> str:
    if any(m in message for m in ("Invalid value", "Invalid statement", "Expected newline")):
        return (
            ' (text values need quotes, e.g. level = "info"; dates are written without '
            "quotes, e.g. since = 2026-11-01; each [[shops]] table needs its own header)"
        )
    if "Cannot overwrite a value" in message or "Cannot declare" in message:
        return " (a key or [table] is written twice)"
    return ""


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


_INVALID: Any = object()
"""Returned by the readers for a value that is present but wrong (a problem was recorded)."""


class _Ctx:
    """Collects problems and warnings, and reads typed values out of TOML tables."""

    def __init__(
        self,
        *,
        env: Mapping[str, str],
        base_dir: Path,
        resolve_secrets: bool,
        now: dt.datetime,
    ) -> None:
        self.env = env
        self.base_dir = base_dir
        self.resolve_secrets = resolve_secrets
        self.now = now if now.tzinfo else now.replace(tzinfo=dt.UTC)
        self.problems: list[ConfigProblem] = []
        self.warnings: list[str] = []

    # -- reporting ------------------------------------------------------------------------

    def problem(self, path: str, message: str) -> None:
        self.problems.append(ConfigProblem(path, message))

    def warn(self, path: str, message: str) -> None:
        self.warnings.append(f"{path}: {message}" if path else message)

    # -- tables ---------------------------------------------------------------------------

    def check_keys(self, table: Mapping[str, Any], path: str, schema: str) -> None:
        allowed = _KEYS[schema]
        for key in table:
            if key not in allowed:
                self.problem(_join(path, key), _unknown_key_message(key, schema))

    def table(
        self, parent: Mapping[str, Any], key: str, path: str, schema: str
    ) -> Mapping[str, Any] | None:
        """The sub-table ``parent[key]`` with its keys checked; None when absent or wrong."""
        if key not in parent:
            return None
        value = parent[key]
        if not isinstance(value, dict):
            self.problem(
                path,
                f"expected a table (a {_header(schema)} section), got {_describe(value)}",
            )
            return None
        self.check_keys(value, path, schema)
        return value

    # -- scalars --------------------------------------------------------------------------

    def _type_problem(self, path: str, key: str, value: Any, expected: str, hint: str = "") -> Any:
        self.problem(path, f"expected {expected}, got {_describe(value)}{hint}")
        return _INVALID

    def boolean(self, tbl: Mapping[str, Any], key: str, path: str, default: bool) -> bool:
        if key not in tbl:
            return default
        value = tbl[key]
        if isinstance(value, bool):
            return value
        hint = ""
        if isinstance(value, str) and value.strip().lower() in ("true", "false", "yes", "no"):
            word = "true" if value.strip().lower() in ("true", "yes") else "false"
            hint = f"; write {key} = {word} (no quotes)"
        elif isinstance(value, int) and value in (0, 1):
            hint = f"; write {key} = {'true' if value else 'false'}"
        else:
            hint = f"; write {key} = true or {key} = false"
        self._type_problem(path, key, value, "true or false", hint)
        return default

    def integer(
        self,
        tbl: Mapping[str, Any],
        key: str,
        path: str,
        default: Any,
        *,
        lo: int | None = None,
        hi: int | None = None,
        what: str = "",
    ) -> Any:
        """An int within ``lo..hi``; ``default`` when absent, :data:`_INVALID` when wrong."""
        if key not in tbl:
            return default
        value = tbl[key]
        if isinstance(value, bool) or not isinstance(value, int):
            hint = ""
            if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
                hint = f"; write {key} = {value.strip()} (no quotes)"
            elif isinstance(value, float) and value.is_integer():
                hint = f"; write {key} = {int(value)} (a whole number)"
            return self._type_problem(path, key, value, f"an integer{what}", hint)
        if not _in_range(value, lo, hi):
            self.problem(path, f"{value} is out of range: {_range_text(lo, hi)}{what}")
            return _INVALID
        return value

    def number(
        self,
        tbl: Mapping[str, Any],
        key: str,
        path: str,
        default: float,
        *,
        lo: float,
        hi: float,
        lo_open: bool = False,
        what: str = "",
    ) -> Any:
        """A float (ints accepted) in ``lo..hi`` (``lo`` excluded when ``lo_open``)."""
        if key not in tbl:
            return default
        value = tbl[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            hint = ""
            if isinstance(value, str) and re.fullmatch(r"\s*-?\d+(\.\d+)?\s*", value):
                hint = f"; write {key} = {value.strip()} (no quotes)"
            return self._type_problem(path, key, value, "a number", hint)
        number = float(value)
        too_low = number <= lo if lo_open else number < lo
        if too_low or number > hi or number != number:
            bound = f"greater than {lo:g}" if lo_open else f"at least {lo:g}"
            self.problem(path, f"{value} is out of range: must be {bound} and at most {hi:g}{what}")
            return _INVALID
        return number

    def string(
        self,
        tbl: Mapping[str, Any],
        key: str,
        path: str,
        default: Any,
        *,
        accept_int: bool = False,
        what: str = "a string",
    ) -> Any:
        """A non-empty, stripped string; ``default`` when absent, :data:`_INVALID` when wrong."""
        if key not in tbl:
            return default
        value = tbl[key]
        if accept_int and isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, str):
            return self._type_problem(path, key, value, what, f'; write {key} = "..." (quoted)')
        if not value.strip():
            self.problem(path, "must not be empty; remove the line to use the default")
            return _INVALID
        return value.strip()

    def enum(
        self, tbl: Mapping[str, Any], key: str, path: str, default: str, allowed: Sequence[str]
    ) -> Any:
        if key not in tbl:
            return default
        return self.enum_value(tbl[key], path, allowed)

    def enum_value(self, value: Any, path: str, allowed: Sequence[str]) -> Any:
        choices = ", ".join(allowed)
        if not isinstance(value, str):
            self.problem(
                path, f"expected one of {choices} (a quoted string), got {_describe(value)}"
            )
            return _INVALID
        if value in allowed:
            return value
        self.problem(path, f"{_short(value)} is not one of {choices}{_suggest(value, allowed)}")
        return _INVALID

    def positive_int_list(self, value: Any, path: str, what: str) -> tuple[int, ...] | None:
        """A non-empty array of distinct positive integers."""
        if not isinstance(value, list):
            self.problem(
                path, f"expected an array of {what} numbers like [1, 2], got {_describe(value)}"
            )
            return None
        if not value:
            self.problem(path, f"must list at least one {what} number, like [1]")
            return None
        out: list[int] = []
        ok = True
        for i, item in enumerate(value):
            if isinstance(item, bool) or not isinstance(item, int):
                hint = ""
                if isinstance(item, str) and item.strip().isdigit():
                    hint = f" (write {item.strip()} without quotes)"
                self.problem(
                    f"{path}[{i}]",
                    f"expected a {what} number (a positive integer), got {_describe(item)}{hint}",
                )
                ok = False
            elif item < 1:
                self.problem(f"{path}[{i}]", f"{item} is not a {what} number; numbers start at 1")
                ok = False
            elif item in out:
                self.problem(f"{path}[{i}]", f"{what} {item} is listed twice")
                ok = False
            else:
                out.append(item)
        return tuple(out) if ok else None

    # -- special values -------------------------------------------------------------------

    def path_value(self, tbl: Mapping[str, Any], key: str, path: str) -> Any:
        raw = self.string(tbl, key, path, None, what="a file path (a quoted string)")
        if raw is None or raw is _INVALID:
            return raw
        return self.resolve_path(raw)

    def resolve_path(self, raw: str) -> Path:
        p = _expand(Path(raw))
        return p if p.is_absolute() else self.base_dir / p

    def url(self, tbl: Mapping[str, Any], key: str, path: str, default: Any) -> Any:
        """An http(s) URL without credentials, query or fragment, with no trailing slash."""
        raw = self.string(tbl, key, path, default, what="a URL (a quoted string)")
        if raw is default or raw is _INVALID:
            return raw
        parts = urlsplit(raw)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            self.problem(
                path, f'{_short(raw)} is not an http(s) URL; write it like "https://host/path"'
            )
            return _INVALID
        if parts.username or parts.password:
            self.problem(
                path,
                "must not contain a user name or password; credentials belong in the "
                'token keys as { env = "..." } references',
            )
            return _INVALID
        if parts.query or parts.fragment:
            self.problem(path, f"{_short(raw)} must not have a query (?...) or fragment (#...)")
            return _INVALID
        try:
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            self.problem(path, f"{_short(raw)} has an invalid port number")
            return _INVALID
        return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))

    def since(self, tbl: Mapping[str, Any], key: str, path: str) -> Any:
        if key not in tbl:
            return None
        value = tbl[key]
        example = (
            f"write {key} = 2026-11-01 (a TOML date, no quotes: midnight UTC) or a date-time "
            f"such as {key} = 2026-11-01T00:00:00+01:00"
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
                self.problem(path, f"{_short(value)} is not a valid date; {example}")
                return _INVALID
        self.problem(path, f"expected a date, got {_describe(value)}; {example}")
        return _INVALID

    def secret(
        self,
        tbl: Mapping[str, Any],
        key: str,
        path: str,
        *,
        env_name: str,
        file_name: str,
        resolve: bool = True,
    ) -> Any:
        """A ``{ env = ... }`` / ``{ file = ... }`` reference, resolved to a :class:`Secret`."""
        if key not in tbl:
            return None
        value = tbl[key]
        how = (
            f'put it in an environment variable and write {key} = {{ env = "{env_name}" }}, '
            f'or in a file: {key} = {{ file = "{file_name}" }}'
        )
        if isinstance(value, str):
            # The value is in the file already; at least keep it out of anything we log.
            redact.register(value)
            self.problem(path, f"a secret must not be written in the config file; {how}")
            return _INVALID
        if not isinstance(value, dict):
            self.problem(
                path,
                f'expected {{ env = "NAME" }} or {{ file = "path" }}, got '
                f"{_describe(value)}; {how}",
            )
            return _INVALID
        shape = 'a secret is { env = "NAME" } or { file = "path" }'
        for k in value:
            if k not in _SECRET_KEYS:
                close = _suggest(k, _SECRET_KEYS)
                self.problem(
                    _join(path, k),
                    f"unknown key{close} ({shape})" if close else f"unknown key; {shape}",
                )
        has_env, has_file = "env" in value, "file" in value
        if has_env and has_file:
            self.problem(path, "give either env or file, not both")
            return _INVALID
        if not has_env and not has_file:
            if all(k in _SECRET_KEYS for k in value):
                self.problem(path, f"empty secret reference; {how}")
            return _INVALID
        if has_env:
            return self._env_secret(value["env"], path, resolve)
        return self._file_secret(value["file"], path, resolve)

    def _env_secret(self, name: Any, path: str, resolve: bool) -> Any:
        if not isinstance(name, str) or not _ENV_NAME_RE.fullmatch(name):
            shown = _describe(name)
            self.problem(
                path,
                f"expected the name of an environment variable (letters, digits and "
                f'_, like "SHOPIFY_DK_TOKEN"), got {shown}',
            )
            return _INVALID
        source = f"environment variable {name}"
        if not (resolve and self.resolve_secrets):
            return Secret.unresolved(source)
        raw = self.env.get(name)
        if raw is None:
            self.problem(
                path,
                f"environment variable {name} is not set; set it where rackshop runs "
                f"(shell profile, cron line, systemd Environment=...), or keep the secret "
                f'in a file and write {{ file = "..." }} instead',
            )
            return _INVALID
        value = raw.strip()
        if not value:
            self.problem(
                path,
                f"environment variable {name} is set but empty; give it the secret's value",
            )
            return _INVALID
        redact.register(value)
        return Secret(value, source)

    def _file_secret(self, raw: Any, path: str, resolve: bool) -> Any:
        if not isinstance(raw, str) or not raw.strip():
            self.problem(path, f"expected a file path (a quoted string), got {_describe(raw)}")
            return _INVALID
        file = self.resolve_path(raw.strip())
        source = f"file {file}"
        if not (resolve and self.resolve_secrets):
            return Secret.unresolved(source)
        relative = (
            ""
            if _expand(Path(raw)).is_absolute()
            else (f" (a relative path is relative to the config file's folder, {self.base_dir})")
        )
        try:
            content = file.read_text(encoding="utf-8")
        except FileNotFoundError:
            self.problem(path, f"secret file {file} does not exist{relative}")
            return _INVALID
        except IsADirectoryError:
            self.problem(path, f"secret file {file} is a folder; name the file holding the secret")
            return _INVALID
        except PermissionError:
            self.problem(
                path,
                f"cannot read secret file {file}: permission denied; the user running "
                "rackshop must be able to read it",
            )
            return _INVALID
        except UnicodeDecodeError:
            self.problem(
                path, f"secret file {file} is not UTF-8 text; it must hold only the secret"
            )
            return _INVALID
        except OSError as exc:
            self.problem(path, f"cannot read secret file {file}: {exc.strerror or exc}")
            return _INVALID
        value = content.strip()
        if not value:
            self.problem(path, f"secret file {file} is empty; put the secret in it")
            return _INVALID
        if "\n" in value or "\r" in value:
            self.problem(
                path,
                f"secret file {file} has more than one line; it must hold only the "
                "secret (no KEY=value, no comments)",
            )
            return _INVALID
        redact.register(value)
        if os.name == "posix":
            try:
                mode = file.stat().st_mode
            except OSError:
                mode = 0
            if mode & 0o077:
                self.warn(
                    path,
                    f"secret file {file} can be read or changed by other users "
                    f"(mode {mode & 0o777:o}); run: chmod 600 {file}",
                )
        return Secret(value, source)


def _expand(path: Path) -> Path:
    """``~`` and ``~user`` expanded; left as written when there is no such home folder."""
    try:
        return path.expanduser()
    except RuntimeError:
        return path


def _utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def _in_range(value: float, lo: float | None, hi: float | None) -> bool:
    return (lo is None or value >= lo) and (hi is None or value <= hi)


def _range_text(lo: int | None, hi: int | None) -> str:
    if lo is not None and hi is not None:
        return f"allowed {lo}..{hi}"
    if lo is not None:
        return f"must be {lo} or more"
    if hi is not None:
        return f"must be {hi} or less"
    return "any integer"


def _suggest(value: str, allowed: Sequence[str], prefix: str = "; did you mean") -> str:
    folded = value.strip().lower().replace("-", "_").replace(" ", "_")
    if folded in allowed:
        return f"{prefix} '{folded}'?"
    close = difflib.get_close_matches(folded, list(allowed), n=1, cutoff=0.6)
    return f"{prefix} '{close[0]}'?" if close else ""


def _unknown_key_message(key: str, schema: str) -> str:
    allowed = _KEYS[schema]
    suggestion = _suggest(key, allowed)
    if suggestion:
        return "unknown key" + suggestion
    folded = key.strip().lower().replace("-", "_")
    homes = [s for s, keys in _KEYS.items() if s != schema and folded in keys]
    parent = _parent_schema(schema)
    if parent is not None and parent in homes:
        return (
            f"unknown key {_where(schema)}; it belongs in {_header(parent)}. In TOML every key "
            f"after a [table] header belongs to that table: move this line above the "
            f"{_header(schema)} header"
        )
    if len(homes) == 1:
        extra = ""
        if homes[0].startswith("shops") and not schema.startswith("shops"):
            extra = " (each shop is its own [[shops]] table)"
        return f"unknown key {_where(schema)}; it belongs in {_header(homes[0])}{extra}"
    if homes:
        return f"unknown key {_where(schema)}; it is a key of " + " or ".join(
            _header(h) for h in homes
        )
    where = "the top-level keys" if schema == "" else f"the keys of {_header(schema)}"
    return f"unknown key; {where} are: {', '.join(allowed)}"


def _env_stem(name: Any) -> str:
    if isinstance(name, str) and name:
        return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").upper() or "SHOP"
    return "SHOP"


def _ok(*values: Any) -> bool:
    return all(v is not _INVALID for v in values)


def _val(value: Any, fallback: Any) -> Any:
    return fallback if value is _INVALID else value


# ----------------------------------------------------------------------------------------------
# Section parsers.


def _parse_config(ctx: _Ctx, data: Any, source: Path | None) -> Config | None:
    if not isinstance(data, Mapping):
        ctx.problem("", f"expected a TOML document (a table), got {_describe(data)}")
        return None
    ctx.check_keys(data, "", "")
    rackbeat = _parse_rackbeat(ctx, data)
    state = _parse_state(ctx, data)
    log = _parse_log(ctx, data)
    http = _parse_http(ctx, data)
    listen = _parse_listen(ctx, data)
    shops = _parse_shops(ctx, data)
    if rackbeat is None:
        return None
    return Config(
        rackbeat=rackbeat,
        state=state,
        log=log,
        listen=listen,
        shops=shops,
        source=source,
        warnings=tuple(ctx.warnings),
        http=http,
    )


def _parse_rackbeat(ctx: _Ctx, data: Mapping[str, Any]) -> RackbeatConfig | None:
    path = "rackbeat"
    if "rackbeat" not in data:
        ctx.problem(
            path, 'missing; add a [rackbeat] table with at least token = { env = "RACKBEAT_TOKEN" }'
        )
        return None
    tbl = ctx.table(data, "rackbeat", path, "rackbeat")
    if tbl is None:
        return None
    token = ctx.secret(
        tbl, "token", "rackbeat.token", env_name="RACKBEAT_TOKEN", file_name="rackbeat-token.txt"
    )
    if token is None:
        ctx.problem(
            "rackbeat.token",
            'required: the Rackbeat API token, written as token = { env = "RACKBEAT_TOKEN" } '
            'or token = { file = "rackbeat-token.txt" }',
        )
    base_url = ctx.url(tbl, "base_url", "rackbeat.base_url", DEFAULT_RACKBEAT_URL)
    if isinstance(base_url, str):
        base_url = base_url.rstrip("/") + "/"
        _warn_plain_http(ctx, "rackbeat.base_url", base_url)
    rpm = ctx.integer(
        tbl, "requests_per_minute", "rackbeat.requests_per_minute", 480, lo=1, hi=1_000_000
    )
    # Rackbeat's limit is the real service's; a sandbox (another base_url) may allow more.
    if rpm is not _INVALID and rpm > 480 and base_url == DEFAULT_RACKBEAT_URL:
        ctx.warn(
            "rackbeat.requests_per_minute",
            f"{rpm} is above Rackbeat's documented 480 requests "
            "per minute; expect 429 answers (rackshop slows down and retries)",
        )
    piv = ctx.boolean(tbl, "prices_include_vat", "rackbeat.prices_include_vat", False)
    timeout = ctx.number(tbl, "timeout_seconds", "rackbeat.timeout_seconds", 30.0, lo=1, hi=600)
    webhook = ctx.secret(
        tbl,
        "webhook_token",
        "rackbeat.webhook_token",
        env_name="RACKBEAT_WEBHOOK_TOKEN",
        file_name="rackbeat-webhook-token.txt",
    )
    if not _ok(token, base_url, rpm, timeout, webhook) or token is None:
        return None
    return RackbeatConfig(
        token=token,
        base_url=base_url,
        requests_per_minute=rpm,
        prices_include_vat=piv,
        timeout_seconds=float(timeout),
        webhook_token=webhook,
    )


def _warn_plain_http(ctx: _Ctx, path: str, url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme == "http" and not _is_loopback(parts.hostname or ""):
        ctx.warn(
            path,
            f"{url} uses plain http: the token would travel unencrypted; use https "
            "(plain http is meant for the local sandbox)",
        )


def _parse_state(ctx: _Ctx, data: Mapping[str, Any]) -> StateConfig:
    tbl = ctx.table(data, "state", "state", "state") or {}
    p = ctx.path_value(tbl, "path", "state.path")
    if isinstance(p, Path):
        if p.is_dir():
            ctx.problem(
                "state.path", f"{p} is a folder; give a file path such as {p / 'state.sqlite3'}"
            )
        return StateConfig(path=p)
    return StateConfig(path=default_state_path())


def _parse_log(ctx: _Ctx, data: Mapping[str, Any]) -> LogConfig:
    tbl = ctx.table(data, "log", "log", "log") or {}
    level = ctx.enum(tbl, "level", "log.level", "info", get_args(LogLevel))
    fmt = ctx.enum(tbl, "format", "log.format", "text", get_args(LogFormat))
    file = ctx.path_value(tbl, "file", "log.file")
    if isinstance(file, Path) and file.is_dir():
        ctx.problem(
            "log.file", f"{file} is a folder; give a file path such as {file / 'rackshop.log'}"
        )
    return LogConfig(
        level=_val(level, "info"),
        format=_val(fmt, "text"),
        file=file if isinstance(file, Path) else None,
    )


def _parse_http(ctx: _Ctx, data: Mapping[str, Any]) -> HttpConfig:
    tbl = ctx.table(data, "http", "http", "http") or {}
    attempts = ctx.integer(tbl, "attempts", "http.attempts", 6, lo=1, hi=20)
    backoff = ctx.number(tbl, "backoff_seconds", "http.backoff_seconds", 0.5, lo=0.01, hi=60)
    cap = ctx.number(tbl, "max_backoff_seconds", "http.max_backoff_seconds", 60.0, lo=0.01,
                     hi=3600)
    return HttpConfig(
        attempts=_val(attempts, 6),
        backoff_seconds=float(_val(backoff, 0.5)),
        max_backoff_seconds=float(_val(cap, 60.0)),
    )


def _parse_listen(ctx: _Ctx, data: Mapping[str, Any]) -> ListenConfig:
    tbl = ctx.table(data, "listen", "listen", "listen") or {}
    d = ListenConfig()
    host = ctx.string(tbl, "host", "listen.host", d.host)
    if host is not _INVALID and not _HOSTNAME_RE.fullmatch(host) and not _is_ip(host):
        ctx.problem(
            "listen.host",
            f'{_short(host)} is not a host name or IP address to listen on, e.g. "127.0.0.1"',
        )
        host = _INVALID
    port = ctx.integer(tbl, "port", "listen.port", d.port, lo=1, hi=65535)
    public_url = ctx.url(tbl, "public_url", "listen.public_url", None)
    if isinstance(public_url, str) and urlsplit(public_url).scheme != "https":
        ctx.warn("listen.public_url", "Shopify delivers webhooks only to https URLs")
    opm = ctx.integer(
        tbl,
        "orders_poll_minutes",
        "listen.orders_poll_minutes",
        d.orders_poll_minutes,
        lo=1,
        hi=1440,
    )
    spm = ctx.integer(
        tbl, "stock_poll_minutes", "listen.stock_poll_minutes", d.stock_poll_minutes, lo=1, hi=1440
    )
    body = ctx.integer(tbl, "max_body_kb", "listen.max_body_kb", d.max_body_kb, lo=1, hi=102400)
    queue = ctx.integer(
        tbl, "queue_limit", "listen.queue_limit", d.queue_limit, lo=1, hi=10_000_000
    )
    return ListenConfig(
        host=_val(host, d.host),
        port=_val(port, d.port),
        public_url=_val(public_url, None),
        orders_poll_minutes=_val(opm, d.orders_poll_minutes),
        stock_poll_minutes=_val(spm, d.stock_poll_minutes),
        max_body_kb=_val(body, d.max_body_kb),
        queue_limit=_val(queue, d.queue_limit),
    )


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _parse_shops(ctx: _Ctx, data: Mapping[str, Any]) -> tuple[ShopConfig, ...]:
    raw = data.get("shops")
    if raw is None:
        ctx.problem(
            "shops",
            "no shops configured; add one [[shops]] table per Shopify shop, with at "
            "least name, domain and token (see examples/config.toml)",
        )
        return ()
    if isinstance(raw, dict):
        ctx.problem(
            "shops",
            "write [[shops]] (double brackets) for each shop: shops is a list of "
            "tables, so that several shops can be configured",
        )
        return ()
    if not isinstance(raw, list):
        ctx.problem("shops", f"expected a list of [[shops]] tables, got {_describe(raw)}")
        return ()
    if not raw:
        ctx.problem(
            "shops",
            "no shops configured; add one [[shops]] table per Shopify shop, with at "
            "least name, domain and token (see examples/config.toml)",
        )
        return ()
    shops: list[ShopConfig] = []
    raw_tables: list[tuple[int, Mapping[str, Any]]] = []
    for i, item in enumerate(raw):
        path = f"shops[{i}]"
        if not isinstance(item, dict):
            ctx.problem(path, f"expected a [[shops]] table, got {_describe(item)}")
            continue
        ctx.check_keys(item, path, "shops")
        raw_tables.append((i, item))
        shop = _parse_shop(ctx, item, path, i)
        if shop is not None:
            shops.append(shop)
    _check_across_shops(ctx, raw_tables, shops)
    return tuple(shops)


def _parse_shop(ctx: _Ctx, tbl: Mapping[str, Any], path: str, index: int) -> ShopConfig | None:
    def p(key: str) -> str:
        return _join(path, key)

    # name
    name: Any = _INVALID
    if "name" not in tbl:
        ctx.problem(
            p("name"),
            'required: a short unique name such as name = "dk" (lower-case letters, '
            "digits, - and _); it is used with --shop and in the state store",
        )
    else:
        name = ctx.string(tbl, "name", p("name"), None)
        if isinstance(name, str) and not _SHOP_NAME_RE.fullmatch(name):
            fixed = re.sub(r"[^a-z0-9_-]+", "-", name.lower()).strip("-")[:40] or "shop"
            ctx.problem(
                p("name"),
                f"{_short(name)} is not a valid shop name: use 1 to 40 lower-case "
                f'letters, digits, - or _ (e.g. "{fixed}")',
            )
            name = _INVALID
    stem = _env_stem(name if name is not _INVALID else tbl.get("name"))
    if stem == "SHOP":
        stem = f"SHOP{index + 1}"
    file_stem = stem.lower().replace("_", "-")
    enabled = ctx.boolean(tbl, "enabled", p("enabled"), True)
    # A disabled shop may still be being set up: its secrets are checked for shape, not read.
    resolve = enabled

    # base_url first: it decides what the domain may be.
    base_url = ctx.url(tbl, "base_url", p("base_url"), None)
    if isinstance(base_url, str):
        _warn_plain_http(ctx, p("base_url"), base_url)

    domain: Any = _INVALID
    if "domain" not in tbl:
        ctx.problem(
            p("domain"),
            'required: the shop\'s permanent domain, e.g. domain = "example.myshopify.com" '
            "(Shopify admin -> Settings -> Domains)",
        )
    else:
        domain = ctx.string(tbl, "domain", p("domain"), None)
        if isinstance(domain, str):
            domain = _check_domain(ctx, p("domain"), domain, has_base_url=base_url is not None)

    api_version = ctx.string(tbl, "api_version", p("api_version"), DEFAULT_API_VERSION)
    if isinstance(api_version, str):
        api_version = _check_api_version(ctx, p("api_version"), api_version)

    token = ctx.secret(
        tbl,
        "token",
        p("token"),
        env_name=f"SHOPIFY_{stem}_TOKEN",
        file_name=f"{file_stem}-token.txt",
        resolve=resolve,
    )
    client_id = ctx.string(tbl, "client_id", p("client_id"), None)
    client_secret = ctx.secret(
        tbl,
        "client_secret",
        p("client_secret"),
        env_name=f"SHOPIFY_{stem}_CLIENT_SECRET",
        file_name=f"{file_stem}-client-secret.txt",
        resolve=resolve,
    )
    webhook_secret = ctx.secret(
        tbl,
        "webhook_secret",
        p("webhook_secret"),
        env_name=f"SHOPIFY_{stem}_WEBHOOK_SECRET",
        file_name=f"{file_stem}-webhook-secret.txt",
        resolve=resolve,
    )
    _check_auth(ctx, tbl, path, stem, file_stem)

    plan = ctx.enum(tbl, "plan", p("plan"), "standard", get_args(ShopPlan))
    prices_include_tax = ctx.boolean(tbl, "prices_include_tax", p("prices_include_tax"), True)

    orders = _parse_orders(ctx, tbl, path)
    products = _parse_products(ctx, tbl, path)
    stock = _parse_stock(ctx, tbl, path)
    initial = _parse_initial(ctx, tbl, path)
    fulfillments = _parse_fulfillments(ctx, tbl, path)
    if (fulfillments is not None and fulfillments.enabled and orders is not None
            and orders.enabled and orders.transfer_on == "fulfilled"):
        ctx.problem(
            _join(_join(path, "fulfillments"), "enabled"),
            'cannot be true while orders.transfer_on = "fulfilled": that shop fulfils in '
            "Shopify first and Rackbeat follows, so Rackbeat's shipments must not fulfil the "
            'order again; set transfer_on = "paid" (or "created"), or fulfillments.enabled = '
            "false",
        )
        fulfillments = None

    if not _ok(
        name, domain, api_version, base_url, token, client_id, client_secret, webhook_secret, plan
    ) or None in (orders, products, stock, initial, fulfillments):
        return None
    assert orders is not None and products is not None and stock is not None and initial is not None
    assert fulfillments is not None
    return ShopConfig(
        name=name,
        domain=domain,
        api_version=api_version,
        base_url=base_url,
        token=token,
        client_id=client_id,
        client_secret=client_secret,
        webhook_secret=webhook_secret,
        plan=plan,
        enabled=enabled,
        prices_include_tax=prices_include_tax,
        orders=orders,
        products=products,
        stock=stock,
        initial=initial,
        fulfillments=fulfillments,
    )


def _check_domain(ctx: _Ctx, path: str, domain: str, *, has_base_url: bool) -> Any:
    original = domain
    host = domain.lower()
    if "://" in host or "/" in host:
        bare = urlsplit(host if "://" in host else "https://" + host).hostname or host
        ctx.problem(
            path,
            f"{_short(original)} must be a bare host name without https:// or a path: "
            f'write domain = "{bare}"',
        )
        return _INVALID
    if has_base_url:
        if not _HOSTNAME_RE.fullmatch(host):
            ctx.problem(path, f"{_short(original)} is not a host name")
            return _INVALID
        return host
    if not _MYSHOPIFY_RE.fullmatch(host):
        if host.endswith(".myshopify.com"):
            ctx.problem(path, f"{_short(original)} is not a valid .myshopify.com domain")
        else:
            ctx.problem(
                path,
                f"{_short(original)} must be the shop's .myshopify.com domain (e.g. "
                '"example.myshopify.com"; Shopify admin -> Settings -> Domains), not the '
                "storefront domain; to point at a local sandbox set base_url as well",
            )
        return _INVALID
    return host


def _check_api_version(ctx: _Ctx, path: str, version: str) -> Any:
    m = _API_VERSION_RE.fullmatch(version)
    if not m or m.group(2) not in ("01", "04", "07", "10"):
        ctx.problem(
            path,
            f"{_short(version)} is not a Shopify API version: versions are named YYYY-MM "
            f'and released quarterly (months 01, 04, 07, 10), e.g. "{DEFAULT_API_VERSION}"',
        )
        return _INVALID
    year, month = int(m.group(1)), int(m.group(2))
    released = dt.datetime(year, month, 1, 17, tzinfo=dt.UTC)
    retired = dt.datetime(year + 1, month, 1, 17, tzinfo=dt.UTC)
    if ctx.now >= retired:
        ctx.warn(
            path,
            f"Shopify supports {version} only until {retired:%Y-%m-%d}; requests to it "
            f'fall forward to the oldest supported version. Use "{DEFAULT_API_VERSION}"',
        )
    elif ctx.now < released:
        ctx.warn(
            path, f"{version} is not released until {released:%Y-%m-%d} (it is a release candidate)"
        )
    elif version != DEFAULT_API_VERSION:
        ctx.warn(
            path,
            f"rackshop's queries are tested against {DEFAULT_API_VERSION}; {version} "
            "probably works, but run `rackshop check` first",
        )
    return version


def _check_auth(ctx: _Ctx, tbl: Mapping[str, Any], path: str, stem: str, file_stem: str) -> None:
    has_token = "token" in tbl
    has_id, has_secret = "client_id" in tbl, "client_secret" in tbl
    if has_token and (has_id or has_secret):
        ctx.problem(
            _join(path, "token"),
            "give either token (an Admin API access token) or client_id + "
            "client_secret (an app of your organisation; rackshop requests and refreshes the "
            "token), not both: remove one",
        )
    elif not has_token and not has_id and not has_secret:
        ctx.problem(
            _join(path, "token"),
            f"required: Shopify credentials, either token = {{ env = "
            f'"SHOPIFY_{stem}_TOKEN" }} (an Admin API access token, shpat_...) or client_id = '
            f'"..." with client_secret = {{ env = "SHOPIFY_{stem}_CLIENT_SECRET" }}',
        )
    elif has_id and not has_secret:
        ctx.problem(
            _join(path, "client_secret"),
            f"required when client_id is set: client_secret = "
            f'{{ env = "SHOPIFY_{stem}_CLIENT_SECRET" }}',
        )
    elif has_secret and not has_id:
        ctx.problem(
            _join(path, "client_id"),
            "required when client_secret is set: the app's client ID "
            '(not a secret), client_id = "..."',
        )


def _parse_orders(ctx: _Ctx, shop: Mapping[str, Any], shop_path: str) -> OrdersConfig | None:
    path = _join(shop_path, "orders")
    tbl = ctx.table(shop, "orders", path, "shops.orders")
    if tbl is None:
        return None if "orders" in shop else OrdersConfig()

    def p(key: str) -> str:
        return _join(path, key)

    d = OrdersConfig()
    # The table being there means "sync orders", unless enabled = false says otherwise.
    enabled = ctx.boolean(tbl, "enabled", p("enabled"), True)
    since = ctx.since(tbl, "since", p("since"))
    transfer_on = ctx.enum(
        tbl, "transfer_on", p("transfer_on"), d.transfer_on, get_args(TransferOn)
    )
    process_to = ctx.enum(tbl, "process_to", p("process_to"), d.process_to, get_args(ProcessTo))
    overlap = ctx.integer(
        tbl, "overlap_minutes", p("overlap_minutes"), d.overlap_minutes, lo=0, hi=1440
    )
    include_test = ctx.boolean(tbl, "include_test_orders", p("include_test_orders"), False)
    currency = ctx.enum(tbl, "currency", p("currency"), d.currency, get_args(OrderCurrency))
    shipping_item = ctx.string(
        tbl,
        "shipping_item",
        p("shipping_item"),
        None,
        accept_int=True,
        what="a Rackbeat item number (a quoted string)",
    )
    rounding_item = ctx.string(
        tbl, "rounding_item", p("rounding_item"), None, accept_int=True,
        what="a Rackbeat item number (a quoted string)",
    )
    rounding_per_line = ctx.number(
        tbl, "rounding_per_line", p("rounding_per_line"), d.rounding_per_line, lo=0, hi=1,
        what=" (an amount per line, e.g. 0.01)",
    )
    guest = ctx.integer(
        tbl, "guest_customer", p("guest_customer"), None, lo=1, what=" (a Rackbeat customer number)"
    )
    location = ctx.integer(
        tbl, "location", p("location"), None, lo=1, what=" (a Rackbeat location number)"
    )
    layout = ctx.integer(tbl, "layout", p("layout"), None, lo=1, what=" (a Rackbeat layout id)")
    after_transfer = ctx.enum(
        tbl, "after_transfer", p("after_transfer"), d.after_transfer, get_args(AfterTransfer)
    )
    refund_item = ctx.string(
        tbl, "refund_item", p("refund_item"), None, accept_int=True,
        what="a Rackbeat item number (a quoted string)",
    )
    return_location = ctx.integer(
        tbl, "return_location", p("return_location"), None, lo=1,
        what=" (a Rackbeat location number)",
    )
    write_back = ctx.enum(tbl, "write_back", p("write_back"), d.write_back, get_args(WriteBack))
    tag = ctx.string(tbl, "tag", p("tag"), d.tag)
    if isinstance(tag, str) and (len(tag) > 40 or "," in tag):
        ctx.problem(
            p("tag"), f"{_short(tag)} is not a valid Shopify tag: at most 40 characters, no commas"
        )
        tag = _INVALID
    customer = _parse_customer(ctx, tbl, path, enabled)

    if enabled:
        if "since" not in tbl:
            ctx.problem(
                p("since"),
                "required when orders are enabled: the go-live date, e.g. since = "
                "2026-11-01; orders placed before it are never imported (this keeps old "
                "orders from being booked twice)",
            )
        if "shipping_item" not in tbl:
            ctx.problem(
                p("shipping_item"),
                "required when orders are enabled: the number of the Rackbeat "
                'item used for shipping lines, e.g. shipping_item = "FREIGHT"',
            )
        # The 60-day window is the real Shopify's; a base_url points at a sandbox.
        if isinstance(since, dt.datetime) and "base_url" not in shop:
            horizon = ctx.now - dt.timedelta(days=SHOPIFY_ORDER_HISTORY_DAYS)
            if since < horizon:
                ctx.warn(
                    p("since"),
                    f"{since:%Y-%m-%d} is more than {SHOPIFY_ORDER_HISTORY_DAYS} days "
                    "ago: Shopify only shows older orders to apps with the read_all_orders scope",
                )
        if currency == "presentment" and customer is not None and customer.currency is not None:
            ctx.warn(
                _join(p("customer"), "currency"),
                f'with currency = "presentment" each order '
                f"keeps the currency the buyer paid in; customer.currency = "
                f'"{customer.currency}" only sets the currency of newly created customers, '
                "never the order's",
            )
    if "tag" in tbl and write_back in ("metafield", "off"):
        ctx.warn(
            p("tag"),
            f'has no effect with write_back = "{write_back}"; set write_back = '
            '"tag" or "both" to tag orders',
        )

    if (
        not _ok(
            enabled,
            since,
            transfer_on,
            process_to,
            overlap,
            currency,
            shipping_item,
            rounding_item,
            rounding_per_line,
            guest,
            location,
            layout,
            write_back,
            tag,
            after_transfer,
            refund_item,
            return_location,
        )
        or customer is None
    ):
        return None
    return OrdersConfig(
        enabled=enabled,
        since=since,
        transfer_on=transfer_on,
        process_to=process_to,
        overlap_minutes=overlap,
        include_test_orders=include_test,
        currency=currency,
        shipping_item=shipping_item,
        rounding_item=rounding_item,
        rounding_per_line=rounding_per_line,
        guest_customer=guest,
        location=location,
        layout=layout,
        after_transfer=after_transfer,
        refund_item=refund_item,
        return_location=return_location,
        write_back=write_back,
        tag=tag,
        customer=customer,
    )


def _parse_customer(
    ctx: _Ctx, orders: Mapping[str, Any], orders_path: str, orders_enabled: bool
) -> CustomerDefaults | None:
    path = _join(orders_path, "customer")
    tbl = ctx.table(orders, "customer", path, "shops.orders.customer")
    if tbl is None:
        if "customer" in orders:
            return None
        if orders_enabled:
            ctx.problem(
                path,
                "required when orders are enabled: add a [shops.orders.customer] table with "
                "group = <customer group number> and payment_terms = <payment terms number>, "
                "the Rackbeat defaults for customers created from Shopify orders",
            )
            orders_enabled = False  # reported once for the table, not once per key
        tbl = {}

    def p(key: str) -> str:
        return _join(path, key)

    group = ctx.integer(
        tbl, "group", p("group"), None, lo=1, what=" (a Rackbeat customer group number)"
    )
    vat_zone = ctx.enum(tbl, "vat_zone", p("vat_zone"), "domestic", get_args(VatZone))
    terms = ctx.integer(
        tbl,
        "payment_terms",
        p("payment_terms"),
        None,
        lo=1,
        what=" (a Rackbeat payment terms number)",
    )
    layout = ctx.integer(tbl, "layout", p("layout"), None, lo=1, what=" (a Rackbeat layout id)")
    currency = ctx.string(tbl, "currency", p("currency"), None)
    if isinstance(currency, str) and not _CURRENCY_RE.fullmatch(currency):
        hint = (
            f'; write currency = "{currency.upper()}"'
            if _CURRENCY_RE.fullmatch(currency.upper())
            else ""
        )
        ctx.problem(
            p("currency"),
            f"{_short(currency)} is not an ISO 4217 currency code (three "
            f'upper-case letters such as "DKK"){hint}',
        )
        currency = _INVALID
    locale = ctx.string(tbl, "locale", p("locale"), None)
    if isinstance(locale, str) and not _LOCALE_RE.fullmatch(locale):
        ctx.problem(
            p("locale"),
            f"{_short(locale)} is not a locale: write a language code such as "
            '"da" or "sv", optionally with a country, "da_DK"',
        )
        locale = _INVALID
    if orders_enabled:
        if "group" not in tbl:
            ctx.problem(
                p("group"),
                "required when orders are enabled: the Rackbeat customer group "
                "number for customers created from Shopify orders, e.g. group = 1 under "
                "[shops.orders.customer]",
            )
        if "payment_terms" not in tbl:
            ctx.problem(
                p("payment_terms"),
                "required when orders are enabled: the Rackbeat payment "
                "terms number for new customers, e.g. payment_terms = 1 under "
                "[shops.orders.customer]",
            )
    if not _ok(group, vat_zone, terms, layout, currency, locale):
        return None
    return CustomerDefaults(
        group=group,
        vat_zone=vat_zone,
        payment_terms=terms,
        layout=layout,
        currency=currency,
        locale=locale,
    )


def _parse_field_list(
    ctx: _Ctx,
    tbl: Mapping[str, Any],
    key: str,
    path: str,
    allowed: Sequence[str],
    default: tuple[str, ...],
) -> Any:
    if key not in tbl:
        return default
    value = tbl[key]
    if not isinstance(value, list):
        return ctx._type_problem(
            path, key, value, f'an array such as ["{allowed[0]}", "{allowed[1]}"]'
        )
    if not value:
        ctx.problem(
            path, 'must name at least one field; to stop syncing products set master = "off"'
        )
        return _INVALID
    out: list[str] = []
    ok = True
    for i, item in enumerate(value):
        ipath = f"{path}[{i}]"
        if key == "shopify_fields" and item == "number":
            ctx.problem(
                ipath,
                "'number' is the key that links a Shopify variant (SKU) to a Rackbeat "
                "item and is always used; remove it from shopify_fields",
            )
            ok = False
            continue
        v = ctx.enum_value(item, ipath, allowed)
        if v is _INVALID:
            ok = False
        elif v in out:
            ctx.problem(ipath, f"'{v}' is listed twice")
            ok = False
        else:
            out.append(v)
    return tuple(out) if ok else _INVALID


def _parse_products(ctx: _Ctx, shop: Mapping[str, Any], shop_path: str) -> ProductsConfig | None:
    path = _join(shop_path, "products")
    tbl = ctx.table(shop, "products", path, "shops.products")
    if tbl is None:
        return None if "products" in shop else ProductsConfig()

    def p(key: str) -> str:
        return _join(path, key)

    d = ProductsConfig()
    master = ctx.enum(tbl, "master", p("master"), d.master, get_args(ProductMaster))
    fields = _parse_field_list(ctx, tbl, "fields", p("fields"), RACKBEAT_FIELDS, d.fields)
    shopify_fields = _parse_field_list(
        ctx, tbl, "shopify_fields", p("shopify_fields"), SHOPIFY_FIELDS, d.shopify_fields
    )
    include_boms = ctx.boolean(tbl, "include_boms", p("include_boms"), False)
    create_missing = ctx.boolean(tbl, "create_missing", p("create_missing"), False)
    status = ctx.enum(
        tbl,
        "new_product_status",
        p("new_product_status"),
        d.new_product_status,
        get_args(ProductStatus),
    )
    barred = ctx.enum(tbl, "barred", p("barred"), d.barred, get_args(BarredAction))
    group = ctx.integer(
        tbl,
        "default_group",
        p("default_group"),
        None,
        lo=1,
        what=" (a Rackbeat product group number)",
    )
    vat_rate = ctx.number(
        tbl,
        "vat_rate",
        p("vat_rate"),
        d.vat_rate,
        lo=0,
        hi=100,
        what=" (a percentage: 25 means 25 %)",
    )
    weight_unit = ctx.enum(
        tbl, "weight_unit", p("weight_unit"), d.weight_unit, get_args(WeightUnit)
    )
    recreate_deleted = ctx.boolean(tbl, "recreate_deleted", p("recreate_deleted"), False)
    rename_numbers = ctx.boolean(tbl, "rename_numbers", p("rename_numbers"), False)
    create_groups = ctx.boolean(tbl, "create_groups", p("create_groups"), False)
    channels: Any = d.sales_channels
    if "sales_channels" in tbl:
        raw = tbl["sales_channels"]
        if not isinstance(raw, list) or not all(isinstance(x, str) and x.strip() for x in raw):
            channels = ctx._type_problem(
                p("sales_channels"), "sales_channels", raw,
                'an array of sales channel names, e.g. ["Online Store", "Point of Sale"] '
                "([] publishes nowhere)")
        else:
            channels = tuple(dict.fromkeys(x.strip() for x in raw))
    currency_rate = ctx.number(
        tbl, "currency_rate", p("currency_rate"), None, lo=0, hi=1e9, lo_open=True,  # type: ignore[arg-type]
        what=" (units of Rackbeat's base currency per unit of the shop's currency)",
    )
    rounding = ctx.enum(tbl, "price_rounding", p("price_rounding"), d.price_rounding,
                        get_args(PriceRounding))
    if isinstance(vat_rate, float) and 0 < vat_rate < 1:
        ctx.warn(
            p("vat_rate"),
            f"{vat_rate:g} looks like a fraction; vat_rate is a percentage (25 means 25 %)",
        )

    # Keys that only apply to one direction. With master = "shopify" they are a contradiction (the
    # user believes something syncs that does not); with "off" the shop is merely paused.
    rackbeat_only = ("fields", "include_boms", "create_missing", "recreate_deleted",
                     "sales_channels", "price_rounding")
    if master in ("shopify", "off"):
        for key in rackbeat_only:
            if key not in tbl:
                continue
            text = (
                f'has no effect because master = "{master}" ({key} applies only when Rackbeat '
                f'is the product master); remove it, or set master = "rackbeat"'
            )
            if master == "shopify":
                ctx.problem(p(key), text)
            else:
                ctx.warn(p(key), text)
    if master in ("rackbeat", "off") and "shopify_fields" in tbl:
        text = (
            f'has no effect because master = "{master}" (shopify_fields applies only when '
            'Shopify is the product master); remove it, or set master = "shopify"'
        )
        if master == "rackbeat":
            ctx.problem(p("shopify_fields"), text)
        else:
            ctx.warn(p("shopify_fields"), text)
    if master == "shopify" and "default_group" not in tbl:
        ctx.problem(
            p("default_group"),
            'required when master = "shopify": the Rackbeat product group '
            "number for items created from Shopify products, e.g. default_group = 1",
        )
    if master in ("rackbeat", "off") and "rename_numbers" in tbl:
        ctx.warn(p("rename_numbers"), 'has no effect unless master = "shopify"')
    if not _ok(master, fields, shopify_fields, status, barred, group, vat_rate, weight_unit,
               channels, currency_rate, rounding):
        return None
    return ProductsConfig(
        master=master,
        fields=fields,
        shopify_fields=shopify_fields,
        include_boms=include_boms,
        create_missing=create_missing,
        new_product_status=status,
        barred=barred,
        default_group=group,
        vat_rate=vat_rate,
        weight_unit=weight_unit,
        recreate_deleted=recreate_deleted,
        rename_numbers=rename_numbers,
        create_groups=create_groups,
        sales_channels=channels,
        currency_rate=currency_rate,
        price_rounding=rounding,
    )


def _location_key_ok(ctx: _Ctx, path: str, key: str) -> bool:
    if not key.strip():
        ctx.problem(
            path,
            "a Shopify location must be named: write its name or its gid "
            "(gid://shopify/Location/123)",
        )
        return False
    if key.startswith("gid://") and not _LOCATION_GID_RE.fullmatch(key):
        ctx.problem(
            path,
            f"{_short(key)} is not a Shopify location gid; write "
            "gid://shopify/Location/<number>, or the location's name",
        )
        return False
    return True


def _parse_stock(ctx: _Ctx, shop: Mapping[str, Any], shop_path: str) -> StockConfig | None:
    path = _join(shop_path, "stock")
    tbl = ctx.table(shop, "stock", path, "shops.stock")
    if tbl is None:
        return None if "stock" in shop else StockConfig()

    def p(key: str) -> str:
        return _join(path, key)

    d = StockConfig()
    enabled = ctx.boolean(tbl, "enabled", p("enabled"), True)

    locations: Any = d.rackbeat_locations
    if "rackbeat_locations" in tbl:
        raw = tbl["rackbeat_locations"]
        if raw == "all":
            locations = "all"
        elif isinstance(raw, str):
            ctx.problem(
                p("rackbeat_locations"),
                f'{_short(raw)} is not "all" or a list of Rackbeat location numbers such as [1, 2]',
            )
            locations = _INVALID
        else:
            locations = ctx.positive_int_list(raw, p("rackbeat_locations"), "Rackbeat location")
            if locations is None:
                locations = _INVALID

    shopify_location = ctx.string(
        tbl,
        "shopify_location",
        p("shopify_location"),
        None,
        what="a Shopify location name or gid (a quoted string)",
    )
    if isinstance(shopify_location, str) and not _location_key_ok(
        ctx, p("shopify_location"), shopify_location
    ):
        shopify_location = _INVALID

    location_map: Any = FrozenMap()
    if "location_map" in tbl:
        location_map = _parse_stock_location_map(ctx, tbl["location_map"], p("location_map"))

    buffer = ctx.integer(
        tbl, "buffer", p("buffer"), d.buffer, lo=0, what=" (units held back per item)"
    )
    zero_guard = ctx.number(
        tbl,
        "zero_guard",
        p("zero_guard"),
        d.zero_guard,
        lo=0,
        hi=1,
        lo_open=True,
        what=" (a share of tracked items: 0.5 means 50 %)",
    )
    track_untracked = ctx.boolean(tbl, "track_untracked", p("track_untracked"), False)

    has_single, has_map = "shopify_location" in tbl, "location_map" in tbl
    if has_single and has_map:
        ctx.problem(
            p("location_map"),
            "give either shopify_location (with rackbeat_locations) or "
            "location_map, not both: location_map maps every Shopify location to its Rackbeat "
            "locations by itself",
        )
    elif has_map and "rackbeat_locations" in tbl:
        ctx.problem(
            p("rackbeat_locations"),
            "has no effect with location_map, which names the Rackbeat "
            "locations for each Shopify location; remove it",
        )
    elif enabled and not has_single and not has_map:
        ctx.problem(
            p("shopify_location"),
            "required when stock is enabled: the Shopify location to "
            'update, e.g. shopify_location = "Main warehouse" (or its gid), or several with '
            'location_map = { "Main warehouse" = [1, 2], "Outlet" = [3] }',
        )

    if not _ok(enabled, locations, shopify_location, location_map, buffer, zero_guard):
        return None
    return StockConfig(
        enabled=enabled,
        rackbeat_locations=locations,
        shopify_location=shopify_location,
        location_map=location_map,
        buffer=buffer,
        zero_guard=zero_guard,
        track_untracked=track_untracked,
    )


def _parse_stock_location_map(ctx: _Ctx, raw: Any, path: str) -> Any:
    example = '{ "Main warehouse" = [1, 2], "Outlet" = [3] }'
    if not isinstance(raw, dict):
        ctx.problem(
            path,
            f"expected a table of Shopify location -> Rackbeat location numbers, like "
            f"location_map = {example}; got {_describe(raw)}",
        )
        return _INVALID
    if not raw:
        ctx.problem(
            path, f"is empty; map at least one Shopify location, like location_map = {example}"
        )
        return _INVALID
    out: dict[str, tuple[int, ...]] = {}
    owner: dict[int, str] = {}
    ok = True
    for key, value in raw.items():
        kpath = _join_map(path, key)
        if not _location_key_ok(ctx, kpath, key):
            ok = False
            continue
        if isinstance(value, int) and not isinstance(value, bool):
            value = [value]  # a single location number is a list of one
        numbers = ctx.positive_int_list(value, kpath, "Rackbeat location")
        if numbers is None:
            ok = False
            continue
        for n in numbers:
            if n in owner:
                ctx.problem(
                    kpath,
                    f'Rackbeat location {n} is also mapped to "{owner[n]}"; a Rackbeat '
                    "location may feed only one Shopify location, or its stock would be "
                    "offered twice",
                )
                ok = False
            else:
                owner[n] = key
        out[key] = numbers
    return FrozenMap(out) if ok else _INVALID


def _parse_initial(ctx: _Ctx, shop: Mapping[str, Any], shop_path: str) -> InitialConfig | None:
    path = _join(shop_path, "initial")
    tbl = ctx.table(shop, "initial", path, "shops.initial")
    if tbl is None:
        return None if "initial" in shop else InitialConfig()
    if "location_map" not in tbl:
        return InitialConfig()
    mpath = _join(path, "location_map")
    raw = tbl["location_map"]
    if not isinstance(raw, dict):
        ctx.problem(
            mpath,
            "expected a table of Shopify location -> ONE Rackbeat location number, like "
            f'location_map = {{ "Main warehouse" = 1 }}; got {_describe(raw)}',
        )
        return None
    out: dict[str, int] = {}
    ok = True
    seen: dict[int, str] = {}
    for key, value in raw.items():
        kpath = _join_map(mpath, key)
        if not _location_key_ok(ctx, kpath, key):
            ok = False
            continue
        if isinstance(value, list) and len(value) == 1:
            value = value[0]
        if isinstance(value, list):
            ctx.problem(
                kpath,
                "must be ONE Rackbeat location number: the stock counted at a Shopify "
                f'location is imported to one place; write "{key}" = 1',
            )
            ok = False
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            ctx.problem(
                kpath,
                f"expected a Rackbeat location number (a positive integer), got {_describe(value)}",
            )
            ok = False
            continue
        if value in seen:
            ctx.warn(
                kpath,
                f'"{seen[value]}" and "{key}" both import into Rackbeat location '
                f"{value}; their quantities are added together",
            )
        seen.setdefault(value, key)
        out[key] = value
    return InitialConfig(location_map=FrozenMap(out)) if ok else None


def _parse_fulfillments(ctx: _Ctx, shop: Mapping[str, Any],
                        shop_path: str) -> FulfillmentsConfig | None:
    path = _join(shop_path, "fulfillments")
    tbl = ctx.table(shop, "fulfillments", path, "shops.fulfillments")
    if tbl is None:
        return None if "fulfillments" in shop else FulfillmentsConfig()

    def p(key: str) -> str:
        return _join(path, key)

    default = FulfillmentsConfig()
    enabled = ctx.boolean(tbl, "enabled", p("enabled"), False)
    notify = ctx.boolean(tbl, "notify_customer", p("notify_customer"), False)
    texts = {key: ctx.string(tbl, key, p(key), getattr(default, key))
             for key in ("tracking_number_field", "tracking_url_field",
                         "tracking_company_field", "tracking_company",
                         "tracking_url_template")}
    for key in ("tracking_number_field", "tracking_url_field", "tracking_company_field"):
        value = texts[key]
        if isinstance(value, str) and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*"
                                                       r"(\.[A-Za-z_][A-Za-z0-9_]*)*", value):
            ctx.problem(p(key), f"{_short(value)} is not a field of a Rackbeat shipment: give "
                        'its name, or a dotted path such as "delivery.tracking_number"')
            texts[key] = _INVALID
    template = texts["tracking_url_template"]
    if isinstance(template, str) and "{number}" not in template:
        ctx.problem(p("tracking_url_template"), "must contain {number}, where each tracking "
                    'number goes, e.g. "https://tracking.example/?id={number}"')
        texts["tracking_url_template"] = _INVALID
    location_map: dict[int, str] = {}
    ok = True
    if "location_map" in tbl:
        mpath = p("location_map")
        raw = tbl["location_map"]
        if not isinstance(raw, dict):
            ctx.problem(mpath, "expected a table of Rackbeat location number -> Shopify "
                        f'location, like location_map = {{ "1" = "Main warehouse" }}; got '
                        f"{_describe(raw)}")
            ok = False
        else:
            for key, value in raw.items():
                kpath = _join_map(mpath, key)
                if not str(key).isdigit() or int(key) < 1:
                    ctx.problem(kpath, f"{_short(key)} is not a Rackbeat location number: "
                                'write the number in quotes, e.g. "1" = "Main warehouse"')
                    ok = False
                elif not isinstance(value, str) or not value.strip():
                    ctx.problem(kpath, "expected the Shopify location's name or gid as "
                                f"`rackshop check` lists them, got {_describe(value)}")
                    ok = False
                else:
                    location_map[int(key)] = value.strip()
    if not ok or not _ok(enabled, notify, *texts.values()):
        return None
    return FulfillmentsConfig(enabled=enabled, notify_customer=notify,
                              location_map=FrozenMap(location_map), **texts)


def _check_across_shops(
    ctx: _Ctx, raw: list[tuple[int, Mapping[str, Any]]], shops: list[ShopConfig]
) -> None:
    """Clashes between shops, checked on the raw tables: a shop with other problems still counts."""
    names: dict[str, int] = {}
    domains: dict[str, int] = {}
    for i, tbl in raw:
        name = tbl.get("name")
        if isinstance(name, str):
            key = name.strip()
            if key in names:
                ctx.problem(
                    f"shops[{i}].name",
                    f'"{key}" is already the name of shops[{names[key]}]; '
                    "shop names must be unique (they select shops with --shop and key the "
                    "state store)",
                )
            else:
                names[key] = i
        domain = tbl.get("domain")
        if isinstance(domain, str):
            key = domain.strip().lower()
            if key in domains:
                ctx.problem(
                    f"shops[{i}].domain",
                    f'"{key}" is already the domain of '
                    f"shops[{domains[key]}]; one Shopify shop must be configured once (give "
                    "it several locations with stock.location_map instead)",
                )
            else:
                domains[key] = i
    masters = [s for s in shops if s.enabled and s.products.master == "shopify"]
    if len(masters) > 1:
        first = masters[0].name
        others = ", ".join(f'"{s.name}"' for s in masters[1:])
        ctx.warn(
            "shops",
            f'"{first}" and {others} are all product masters (master = "shopify"); '
            f'for a product number found in several of them, the first shop ("{first}") wins',
        )
    if shops and len(shops) == len(raw) and not any(s.enabled for s in shops):
        ctx.warn("shops", "every shop has enabled = false, so every job has nothing to do")


__all__ = [
    "CONFIG_ENV_VAR",
    "DEFAULT_API_VERSION",
    "DEFAULT_RACKBEAT_URL",
    "Config",
    "CustomerDefaults",
    "FrozenMap",
    "InitialConfig",
    "ListenConfig",
    "LogConfig",
    "OrdersConfig",
    "ProductsConfig",
    "RackbeatConfig",
    "Secret",
    "ShopConfig",
    "StateConfig",
    "StockConfig",
    "StockTarget",
    "default_state_path",
    "default_user_config_path",
    "find_config_path",
    "load_config",
    "validate_dict",
    "write_config",
]
