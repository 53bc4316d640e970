"""Config validation: every broken config names the exact key path and says how to fix it."""

from __future__ import annotations

import copy
import datetime as dt
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from rackshop import redact
from rackshop.config import (
    DEFAULT_RACKBEAT_URL,
    Config,
    FrozenMap,
    Secret,
    StockTarget,
    load_config,
    validate_dict,
)
from rackshop.errors import ConfigError, ExitCode, UsageError

ROOT = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)

RACKBEAT_TOKEN = "rb-test-token-0001"
DK_TOKEN = "shpat_dktoken0123456789abcdef"
SE_WEBHOOK = "se-webhook-secret-0001"
SE_CLIENT_SECRET = "se-client-secret-0001"
ENV = {
    "RACKBEAT_TOKEN": RACKBEAT_TOKEN,
    "SHOPIFY_DK_TOKEN": DK_TOKEN,
    "SHOPIFY_SE_WEBHOOK_SECRET": SE_WEBHOOK,
}


@pytest.fixture(autouse=True)
def _clean_redact_registry() -> Any:
    redact.clear()
    yield
    redact.clear()


def base() -> dict[str, Any]:
    """A valid two-shop config, close to examples/config.toml."""
    return {
        "rackbeat": {"token": {"env": "RACKBEAT_TOKEN"}},
        "shops": [
            {
                "name": "dk",
                "domain": "example-dk.myshopify.com",
                "token": {"env": "SHOPIFY_DK_TOKEN"},
                "orders": {
                    "since": dt.date(2026, 11, 1),
                    "transfer_on": "paid",
                    "process_to": "booked",
                    "shipping_item": "FREIGHT",
                    "customer": {"group": 1, "payment_terms": 1, "currency": "DKK"},
                },
                "products": {"master": "rackbeat", "fields": ["name", "number", "sales_price"]},
                "stock": {"rackbeat_locations": [1, 2], "shopify_location": "Main warehouse"},
                "initial": {"location_map": {"Main warehouse": 1}},
            },
            {
                "name": "se",
                "domain": "example-se.myshopify.com",
                "client_id": "0123456789abcdef",
                "client_secret": {"file": "se-client-secret.txt"},
                "webhook_secret": {"env": "SHOPIFY_SE_WEBHOOK_SECRET"},
                "orders": {
                    "since": dt.datetime(2026, 12, 1, 0, 0),
                    "transfer_on": "fulfilled",
                    "process_to": "shipped_invoiced",
                    "currency": "presentment",
                    "shipping_item": "FREIGHT-SE",
                    "customer": {"group": 2, "payment_terms": 1, "vat_zone": "eu"},
                },
                "products": {"master": "shopify", "default_group": 2},
                "stock": {"location_map": {"Stockholm": [3]}, "buffer": 2},
            },
        ],
    }


def write(tmp_path: Path, data: dict[str, Any] | str) -> Path:
    """Write the config (and the se shop's secret file, mode 0600) into tmp_path."""
    secret = tmp_path / "se-client-secret.txt"
    secret.write_text(SE_CLIENT_SECRET + "\n", encoding="utf-8")
    secret.chmod(0o600)
    path = tmp_path / "rackshop.toml"
    path.write_text(data if isinstance(data, str) else tomli_w.dumps(data), encoding="utf-8")
    return path


def load(tmp_path: Path, data: dict[str, Any] | str, env: dict[str, str] | None = None) -> Config:
    return load_config(write(tmp_path, data), env=ENV if env is None else env, now=NOW)


def errors_of(
    tmp_path: Path, data: dict[str, Any] | str, env: dict[str, str] | None = None
) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, data, env)
    return info.value


# ----------------------------------------------------------------------------------------------
# Mutation helpers for the table of broken configs.

Mutator = Callable[[dict[str, Any]], None]


def _walk(d: Any, dotted: str) -> tuple[Any, str | int]:
    parts: list[str | int] = [int(p) if p.isdigit() else p for p in dotted.split(".")]
    for part in parts[:-1]:
        d = d[part]
    return d, parts[-1]


def S(dotted: str, value: Any) -> Mutator:
    def mutate(d: dict[str, Any]) -> None:
        parent, key = _walk(d, dotted)
        parent[key] = value

    return mutate


def D(dotted: str) -> Mutator:
    def mutate(d: dict[str, Any]) -> None:
        parent, key = _walk(d, dotted)
        del parent[key]

    return mutate


def all_of(*mutators: Mutator) -> Mutator:
    def mutate(d: dict[str, Any]) -> None:
        for m in mutators:
            m(d)

    return mutate


@dataclass(frozen=True)
class Case:
    id: str
    change: Mutator | str
    """A change to base(), or a whole TOML text."""
    path: str
    fragment: str


INLINE = "shpat_inline0123456789abcdef"

CASES = [
    Case(
        "unknown top-level key",
        S("logg", {"level": "info"}),
        "logg",
        "unknown key; did you mean 'log'?",
    ),
    Case(
        "unknown nested key",
        S("shops.0.orders.procces_to", "booked"),
        "shops[0].orders.procces_to",
        "unknown key; did you mean 'process_to'?",
    ),
    Case(
        "unknown key, nothing close",
        S("shops.1.stock.frobnicate", 1),
        "shops[1].stock.frobnicate",
        "the keys of [shops.stock] are: enabled, rackbeat_locations",
    ),
    Case(
        "key under the wrong [header]",
        S("shops.0.orders.customer.overlap_minutes", 30),
        "shops[0].orders.customer.overlap_minutes",
        "it belongs in [shops.orders]. In TOML every key after a [table] header belongs to "
        "that table: move this line above the [shops.orders.customer] header",
    ),
    Case(
        "shop key at top level",
        S("domain", "x.myshopify.com"),
        "domain",
        "belongs in [[shops]] (each shop is its own [[shops]] table)",
    ),
    Case(
        "string for int",
        S("shops.1.stock.buffer", "2"),
        "shops[1].stock.buffer",
        "expected an integer (units held back per item), got a string ('2'); "
        "write buffer = 2 (no quotes)",
    ),
    Case(
        "int for bool",
        S("shops.0.enabled", 1),
        "shops[0].enabled",
        "expected true or false, got an integer (1); write enabled = true",
    ),
    Case(
        "bool for int",
        S("rackbeat.requests_per_minute", True),
        "rackbeat.requests_per_minute",
        "expected an integer, got a boolean (true)",
    ),
    Case(
        "enum typo",
        S("shops.1.orders.transfer_on", "payed"),
        "shops[1].orders.transfer_on",
        "'payed' is not one of created, paid, fulfilled; did you mean 'paid'?",
    ),
    Case(
        "enum typo, process_to",
        S("shops.0.orders.process_to", "shiped"),
        "shops[0].orders.process_to",
        "'shiped' is not one of draft, booked, shipped, invoiced, shipped_invoiced",
    ),
    Case(
        "inline token refused",
        S("shops.0.token", INLINE),
        "shops[0].token",
        "a secret must not be written in the config file; put it in an environment variable "
        'and write token = { env = "SHOPIFY_DK_TOKEN" }, or in a file: '
        'token = { file = "dk-token.txt" }',
    ),
    Case(
        "inline client secret refused",
        S("shops.1.client_secret", INLINE),
        "shops[1].client_secret",
        'client_secret = { env = "SHOPIFY_SE_CLIENT_SECRET" }, or in a file: '
        'client_secret = { file = "se-client-secret.txt" }',
    ),
    Case(
        "inline rackbeat token refused",
        S("rackbeat.token", INLINE),
        "rackbeat.token",
        'token = { env = "RACKBEAT_TOKEN" }',
    ),
    Case(
        "env var missing",
        S("rackbeat.token", {"env": "RB_TOKEN_NOT_SET"}),
        "rackbeat.token",
        "environment variable RB_TOKEN_NOT_SET is not set",
    ),
    Case(
        "secret file missing",
        S("shops.1.client_secret", {"file": "nope.txt"}),
        "shops[1].client_secret",
        "nope.txt does not exist (a relative path is relative to the config file's folder",
    ),
    Case(
        "secret ref with both env and file",
        S("shops.0.token", {"env": "SHOPIFY_DK_TOKEN", "file": "dk.txt"}),
        "shops[0].token",
        "give either env or file, not both",
    ),
    Case(
        "secret ref key typo",
        S("shops.1.webhook_secret", {"evn": "X"}),
        "shops[1].webhook_secret.evn",
        "unknown key; did you mean 'env'?",
    ),
    Case(
        "duplicate shop names",
        S("shops.1.name", "dk"),
        "shops[1].name",
        '"dk" is already the name of shops[0]; shop names must be unique',
    ),
    Case(
        "duplicate domains",
        S("shops.1.domain", "EXAMPLE-DK.myshopify.com"),
        "shops[1].domain",
        '"example-dk.myshopify.com" is already the domain of shops[0]',
    ),
    Case(
        "token and client id",
        all_of(
            S("shops.0.client_id", "abc"), S("shops.0.client_secret", {"env": "SHOPIFY_DK_TOKEN"})
        ),
        "shops[0].token",
        "give either token (an Admin API access token) or client_id + client_secret",
    ),
    Case(
        "neither token nor client id",
        D("shops.0.token"),
        "shops[0].token",
        'required: Shopify credentials, either token = { env = "SHOPIFY_DK_TOKEN" }',
    ),
    Case(
        "client_id without client_secret",
        D("shops.1.client_secret"),
        "shops[1].client_secret",
        "required when client_id is set",
    ),
    Case(
        "client_secret without client_id",
        D("shops.1.client_id"),
        "shops[1].client_id",
        "required when client_secret is set",
    ),
    Case(
        "orders enabled without since",
        D("shops.0.orders.since"),
        "shops[0].orders.since",
        "required when orders are enabled: the go-live date, e.g. since = 2026-11-01",
    ),
    Case(
        "orders enabled without shipping item",
        D("shops.1.orders.shipping_item"),
        "shops[1].orders.shipping_item",
        "required when orders are enabled",
    ),
    Case(
        "orders enabled without customer group",
        D("shops.0.orders.customer.group"),
        "shops[0].orders.customer.group",
        "required when orders are enabled",
    ),
    Case(
        "orders enabled without customer table",
        D("shops.1.orders.customer"),
        "shops[1].orders.customer",
        "add a [shops.orders.customer] table with group",
    ),
    Case(
        "bad date",
        S("shops.0.orders.since", "2026-13-01"),
        "shops[0].orders.since",
        "'2026-13-01' is not a valid date; write since = 2026-11-01 (a TOML date",
    ),
    Case(
        "time of day for date",
        S("shops.0.orders.since", dt.time(12, 0)),
        "shops[0].orders.since",
        "expected a date, got a time of day",
    ),
    Case(
        "negative buffer",
        S("shops.1.stock.buffer", -1),
        "shops[1].stock.buffer",
        "-1 is out of range: must be 0 or more",
    ),
    Case(
        "zero_guard above 1",
        S("shops.0.stock.zero_guard", 1.5),
        "shops[0].stock.zero_guard",
        "1.5 is out of range: must be greater than 0 and at most 1",
    ),
    Case(
        "zero_guard zero",
        S("shops.0.stock.zero_guard", 0),
        "shops[0].stock.zero_guard",
        "must be greater than 0",
    ),
    Case(
        "shopify_location and location_map",
        S("shops.0.stock.location_map", {"Outlet": [3]}),
        "shops[0].stock.location_map",
        "give either shopify_location (with rackbeat_locations) or location_map, not both",
    ),
    Case(
        "stock enabled without a location",
        D("shops.0.stock.shopify_location"),
        "shops[0].stock.shopify_location",
        "required when stock is enabled",
    ),
    Case(
        "rackbeat location mapped twice",
        S("shops.1.stock.location_map", {"Stockholm": [3, 4], "Outlet": [4]}),
        'shops[1].stock.location_map["Outlet"]',
        'Rackbeat location 4 is also mapped to "Stockholm"',
    ),
    Case(
        "empty rackbeat_locations",
        S("shops.0.stock.rackbeat_locations", []),
        "shops[0].stock.rackbeat_locations",
        "must list at least one Rackbeat location number",
    ),
    Case(
        "master shopify without default_group",
        D("shops.1.products.default_group"),
        "shops[1].products.default_group",
        'required when master = "shopify"',
    ),
    Case(
        "create_missing with master shopify",
        S("shops.1.products.create_missing", True),
        "shops[1].products.create_missing",
        'has no effect because master = "shopify" (create_missing applies only when Rackbeat '
        'is the product master); remove it, or set master = "rackbeat"',
    ),
    Case(
        "fields with master shopify",
        S("shops.1.products.fields", ["name"]),
        "shops[1].products.fields",
        'has no effect because master = "shopify"',
    ),
    Case(
        "number in shopify_fields",
        S("shops.1.products.shopify_fields", ["name", "number"]),
        "shops[1].products.shopify_fields[1]",
        "'number' is the key",
    ),
    Case(
        "unknown product field",
        S("shops.0.products.fields", ["name", "price"]),
        "shops[0].products.fields[1]",
        "'price' is not one of name, number, sales_price",
    ),
    Case(
        "bad api_version format",
        S("shops.0.api_version", "2026-7"),
        "shops[0].api_version",
        "'2026-7' is not a Shopify API version: versions are named YYYY-MM",
    ),
    Case(
        "api_version not a release month",
        S("shops.0.api_version", "2026-06"),
        "shops[0].api_version",
        "released quarterly (months 01, 04, 07, 10)",
    ),
    Case(
        "bad shop name",
        S("shops.0.name", "DK Shop"),
        "shops[0].name",
        "'DK Shop' is not a valid shop name: use 1 to 40 lower-case letters, digits, - or _ "
        '(e.g. "dk-shop")',
    ),
    Case(
        "domain with scheme",
        S("shops.0.domain", "https://example-dk.myshopify.com/"),
        "shops[0].domain",
        'write domain = "example-dk.myshopify.com"',
    ),
    Case(
        "storefront domain",
        S("shops.0.domain", "shop.example.dk"),
        "shops[0].domain",
        "must be the shop's .myshopify.com domain",
    ),
    Case(
        "rackbeat base_url not a URL",
        S("rackbeat.base_url", "app.rackbeat.com/api"),
        "rackbeat.base_url",
        "'app.rackbeat.com/api' is not an http(s) URL",
    ),
    Case(
        "base_url with credentials",
        S("rackbeat.base_url", "https://u:p@host/api"),
        "rackbeat.base_url",
        "must not contain a user name or password",
    ),
    Case(
        "timeout out of range",
        S("rackbeat.timeout_seconds", 0),
        "rackbeat.timeout_seconds",
        "0 is out of range: must be at least 1 and at most 600",
    ),
    Case("empty shops list", S("shops", []), "shops", "no shops configured; add one [[shops]]"),
    Case(
        "[shops] instead of [[shops]]",
        S("shops", {"name": "dk"}),
        "shops",
        "write [[shops]] (double brackets) for each shop",
    ),
    Case(
        "missing [rackbeat]",
        D("rackbeat"),
        "rackbeat",
        'missing; add a [rackbeat] table with at least token = { env = "RACKBEAT_TOKEN" }',
    ),
    Case(
        "currency lower case",
        S("shops.0.orders.customer.currency", "dkk"),
        "shops[0].orders.customer.currency",
        "not an ISO 4217 currency code (three upper-case "
        'letters such as "DKK"); write currency = "DKK"',
    ),
    Case(
        "bad locale",
        S("shops.0.orders.customer.locale", "danish"),
        "shops[0].orders.customer.locale",
        "'danish' is not a locale",
    ),
    Case(
        "initial map to several locations",
        S("shops.0.initial.location_map", {"Main warehouse": [1, 2]}),
        'shops[0].initial.location_map["Main warehouse"]',
        "must be ONE Rackbeat location",
    ),
    Case(
        "bad location gid",
        S("shops.0.stock.shopify_location", "gid://shopify/Location/abc"),
        "shops[0].stock.shopify_location",
        "is not a Shopify location gid",
    ),
    Case(
        "log level",
        S("log", {"level": "verbose"}),
        "log.level",
        "'verbose' is not one of debug, info, warning, error",
    ),
    Case(
        "listen port",
        S("listen", {"port": 70000}),
        "listen.port",
        "70000 is out of range: allowed 1..65535",
    ),
    Case(
        "tag with comma",
        S("shops.0.orders.tag", "a,b"),
        "shops[0].orders.tag",
        "is not a valid Shopify tag",
    ),
    Case(
        "table expected",
        S("shops.0.orders", "yes"),
        "shops[0].orders",
        "expected a table (a [shops.orders] section), got a string ('yes')",
    ),
    Case(
        "env name not a name",
        S("shops.0.token", {"env": 5}),
        "shops[0].token",
        "expected the name of an environment variable (letters, digits and _",
    ),
    Case(
        "rackbeat location below 1",
        S("shops.0.stock.rackbeat_locations", [1, 0]),
        "shops[0].stock.rackbeat_locations[1]",
        "0 is not a Rackbeat location number; numbers start at 1",
    ),
    Case(
        "fulfillments map key not a location number",
        S("shops.0.fulfillments", {"location_map": {"main": "Main warehouse"}}),
        'shops[0].fulfillments.location_map["main"]',
        "'main' is not a Rackbeat location number: write the number in quotes",
    ),
    Case(
        "stock map key a bad gid",
        S("shops.1.stock.location_map", {"gid://shopify/Location/x": [3]}),
        'shops[1].stock.location_map["gid://shopify/Location/x"]',
        "is not a Shopify location gid",
    ),
    Case(
        "fulfillments while transfer_on is fulfilled",
        S("shops.1.fulfillments", {"enabled": True}),
        "shops[1].fulfillments.enabled",
        'cannot be true while orders.transfer_on = "fulfilled"',
    ),
    Case(
        "TOML syntax error",
        '[rackbeat]\ntoken = { env = "RACKBEAT_TOKEN" }\nbase_url = nope\n',
        "",
        "not valid TOML: Invalid value (at line 3, column 12)",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_broken_config_names_the_key_and_the_fix(tmp_path: Path, case: Case) -> None:
    data: dict[str, Any] | str
    if isinstance(case.change, str):
        data = case.change
    else:
        data = base()
        case.change(data)
    err = errors_of(tmp_path, data)
    # Exactly one problem: a single mistake must not drown in follow-on noise.
    assert [p.path for p in err.problems] == [case.path], str(err)
    assert case.fragment in err.problems[0].message
    assert err.exit_code == ExitCode.CONFIG
    assert err.source == str(tmp_path / "rackshop.toml")
    # The rendered error carries the path and the message, and never a secret.
    text = str(err)
    assert case.fragment in text
    for secret in (*ENV.values(), SE_CLIENT_SECRET, INLINE):
        assert secret not in text


def test_at_least_twenty_broken_configs() -> None:
    assert len(CASES) >= 20


def test_base_config_is_valid(tmp_path: Path) -> None:
    config = load(tmp_path, base())
    assert [s.name for s in config.shops] == ["dk", "se"]
    assert config.warnings == ()


def test_several_problems_are_reported_together(tmp_path: Path) -> None:
    data = base()
    data["rackbeat"]["token"] = {"env": "NOT_SET_ANYWHERE"}
    data["shops"][0]["orders"]["transfer_on"] = "payed"
    data["shops"][0]["stock"]["buffer"] = -3
    data["shops"][1]["name"] = "dk"
    data["shops"][1]["products"]["create_missing"] = True
    data["shops"][1]["orders"]["procces_to"] = "draft"
    err = errors_of(tmp_path, data)
    assert [p.path for p in err.problems] == [
        "rackbeat.token",
        "shops[0].orders.transfer_on",
        "shops[0].stock.buffer",
        "shops[1].orders.procces_to",
        "shops[1].products.create_missing",
        "shops[1].name",
    ]
    text = str(err)
    assert text.startswith(f"6 problems with the configuration in {tmp_path / 'rackshop.toml'}:")
    assert "  - shops[0].orders.transfer_on: 'payed' is not one of created, paid, fulfilled" in text


def test_a_wrong_key_never_hides_a_rule_of_its_table(tmp_path: Path) -> None:
    # Each table is checked on the keys that are right: a bad plan does not hide the missing
    # credentials, and a bad [shops.orders] does not hide a bad [shops.stock].
    data = base()
    data["shops"][0]["plan"] = "pluss"
    del data["shops"][0]["token"]
    data["shops"][0]["orders"]["transfer_on"] = "payed"
    del data["shops"][0]["orders"]["since"]
    data["shops"][0]["stock"]["location_map"] = {"Outlet": [3]}
    err = errors_of(tmp_path, data)
    assert [p.path for p in err.problems] == [
        "shops[0].plan",
        "shops[0].token",
        "shops[0].orders.transfer_on",
        "shops[0].orders.since",
        "shops[0].stock.location_map",
    ]
    assert "did you mean 'plus'?" in err.problems[0].message


def test_invalid_values_do_not_cascade(tmp_path: Path) -> None:
    # A wrong since is reported once, not also as "since is required".
    data = base()
    data["shops"][0]["orders"]["since"] = "soon"
    assert [p.path for p in errors_of(tmp_path, data).problems] == ["shops[0].orders.since"]


# ----------------------------------------------------------------------------------------------
# The example file.


def _example_in(tmp_path: Path) -> Path:
    target = tmp_path / "config.toml"
    shutil.copy(ROOT / "examples" / "config.toml", target)
    (tmp_path / "secrets").mkdir()
    secret = tmp_path / "secrets" / "se-client-secret.txt"
    secret.write_text(SE_CLIENT_SECRET + "\n", encoding="utf-8")
    secret.chmod(0o600)
    return target


def test_example_config_loads_cleanly(tmp_path: Path) -> None:
    config = load_config(_example_in(tmp_path), env=ENV, now=NOW)
    assert config.warnings == ()
    dk, se = config.shops
    assert config.rackbeat.token.reveal() == RACKBEAT_TOKEN
    assert config.rackbeat.base_url == DEFAULT_RACKBEAT_URL
    # dk: Rackbeat master, paid -> booked, stock from two Rackbeat locations.
    assert dk.products.master == "rackbeat"
    assert (dk.orders.transfer_on, dk.orders.process_to) == ("paid", "booked")
    assert dk.orders.since == dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    assert dk.stock.targets == (StockTarget("Main warehouse", (1, 2)),)
    assert dk.token == Secret(DK_TOKEN)
    # se: Shopify master, fulfilled -> shipped_invoiced, presentment currency, buffer 2.
    assert se.products.master == "shopify"
    assert (se.orders.transfer_on, se.orders.process_to) == ("fulfilled", "shipped_invoiced")
    assert se.orders.currency == "presentment"
    assert se.orders.since == dt.datetime(2026, 11, 30, 23, 0, tzinfo=dt.UTC)
    assert se.stock.buffer == 2
    assert se.token is None and se.client_id
    assert se.client_secret is not None and se.client_secret.reveal() == SE_CLIENT_SECRET
    assert se.client_secret.source == f"file {tmp_path / 'secrets' / 'se-client-secret.txt'}"
    assert se.initial.location_map == {"Stockholm": 3}


def test_example_config_documents_every_key() -> None:
    from rackshop.config import TABLE_KEYS as _KEYS

    text = (ROOT / "examples" / "config.toml").read_text(encoding="utf-8")
    docs = (ROOT / "docs" / "config.md").read_text(encoding="utf-8")
    for table, keys in _KEYS.items():
        for key in keys:
            full = f"{table}.{key}" if table else key
            if full in _KEYS:  # a table: documented by its header
                header = "[[shops]]" if full == "shops" else f"[{full}]"
                assert header in text and f"`{header}`" in docs, full
            else:
                assert f"{key} =" in text, f"examples/config.toml does not show {full}"
                assert f"| `{key}` |" in docs, f"docs/config.md does not describe {full}"


def test_example_config_without_env_lists_every_missing_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(_example_in(tmp_path), env={}, now=NOW)
    assert [str(p).split(";")[0] for p in info.value.problems] == [
        "rackbeat.token: environment variable RACKBEAT_TOKEN is not set",
        "shops[0].token: environment variable SHOPIFY_DK_TOKEN is not set",
        "shops[1].webhook_secret: environment variable SHOPIFY_SE_WEBHOOK_SECRET is not set",
    ]


# ----------------------------------------------------------------------------------------------
# Secrets never show.


def test_secrets_never_show_in_repr_of_config(tmp_path: Path) -> None:
    config = load(tmp_path, base())
    text = repr(config) + str(config) + repr(config.shops) + f"{config.shops[0].token}"
    for secret in (RACKBEAT_TOKEN, DK_TOKEN, SE_WEBHOOK, SE_CLIENT_SECRET):
        assert secret not in text
    assert "token=Secret('***')" in repr(config.rackbeat)
    assert config.shops[0].token is not None
    assert config.shops[0].token.reveal() == DK_TOKEN


def test_resolved_secrets_are_registered_for_redaction(tmp_path: Path) -> None:
    load(tmp_path, base())
    assert {RACKBEAT_TOKEN, DK_TOKEN, SE_WEBHOOK, SE_CLIENT_SECRET} <= redact.secrets()
    line = f"GET /products Authorization: {RACKBEAT_TOKEN} client_secret {SE_CLIENT_SECRET}"
    assert redact.redact(line) == "GET /products Authorization: *** client_secret ***"


def test_inline_secret_is_registered_and_kept_out_of_the_error(tmp_path: Path) -> None:
    data = base()
    data["shops"][0]["token"] = INLINE
    err = errors_of(tmp_path, data)
    assert INLINE not in str(err) and INLINE not in repr(err.problems)
    assert redact.redact(f"token {INLINE}") == "token ***"


def test_env_values_are_stripped_and_empty_is_refused(tmp_path: Path) -> None:
    config = load(tmp_path, base(), env={**ENV, "RACKBEAT_TOKEN": f"  {RACKBEAT_TOKEN}\n"})
    assert config.rackbeat.token.reveal() == RACKBEAT_TOKEN
    err = errors_of(tmp_path, base(), env={**ENV, "RACKBEAT_TOKEN": "   "})
    assert [str(p) for p in err.problems] == [
        "rackbeat.token: environment variable RACKBEAT_TOKEN is set but empty; give it the "
        "secret's value"
    ]


def test_secret_file_checks(tmp_path: Path) -> None:
    data = base()
    data["shops"][0]["token"] = {"file": "dk.txt"}
    data["rackbeat"]["token"] = {"file": "rb.txt"}
    (tmp_path / "rb.txt").write_text("   \n", encoding="utf-8")
    (tmp_path / "dk.txt").write_text("KEY=abc\nother\n", encoding="utf-8")
    err = errors_of(tmp_path, data)
    assert [p.path for p in err.problems] == ["rackbeat.token", "shops[0].token"]
    assert "rb.txt is empty" in err.problems[0].message
    assert "has more than one line" in err.problems[1].message


def test_unknown_home_folder_does_not_crash(tmp_path: Path) -> None:
    data = base()
    data["shops"][0]["token"] = {"file": "~no-such-user-xyz/dk.txt"}
    err = errors_of(tmp_path, data)
    assert [p.path for p in err.problems] == ["shops[0].token"]
    assert "~no-such-user-xyz/dk.txt does not exist" in err.problems[0].message


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_group_readable_secret_file_is_a_warning(tmp_path: Path) -> None:
    path = write(tmp_path, base())
    (tmp_path / "se-client-secret.txt").chmod(0o644)
    config = load_config(path, env=ENV, now=NOW)
    secret_file = tmp_path / "se-client-secret.txt"
    assert config.warnings == (
        f"shops[1].client_secret: secret file {secret_file} can be read or changed by other "
        f"users (mode 644); run: chmod 600 {secret_file}",
    )


def test_disabled_shop_secrets_are_not_read(tmp_path: Path) -> None:
    data = base()
    data["shops"][1]["enabled"] = False
    data["shops"][1]["client_secret"] = {"file": "not-there-yet.txt"}
    config = load(tmp_path, data)
    se = config.shops[1]
    assert not se.enabled
    assert se.client_secret is not None and not se.client_secret.resolved
    # ... but an inline secret is still refused.
    data["shops"][1]["client_secret"] = INLINE
    assert [p.path for p in errors_of(tmp_path, data).problems] == ["shops[1].client_secret"]


def test_resolve_secrets_false_needs_no_environment(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, base()), env={}, resolve_secrets=False, now=NOW)
    token = config.rackbeat.token
    assert not token.resolved
    assert token.source == "environment variable RACKBEAT_TOKEN"
    with pytest.raises(RuntimeError, match="RACKBEAT_TOKEN was not read"):
        token.reveal()
    assert redact.secrets() == frozenset()


# ----------------------------------------------------------------------------------------------
# Defaults, types and normalisation.


def minimal() -> dict[str, Any]:
    return {
        "rackbeat": {"token": {"env": "RACKBEAT_TOKEN"}},
        "shops": [
            {
                "name": "dk",
                "domain": "example-dk.myshopify.com",
                "token": {"env": "SHOPIFY_DK_TOKEN"},
            }
        ],
    }


def test_minimal_config_gets_the_defaults(tmp_path: Path) -> None:
    config = load(tmp_path, minimal())
    rb = config.rackbeat
    assert (rb.base_url, rb.requests_per_minute, rb.prices_include_vat, rb.timeout_seconds) == (
        "https://app.rackbeat.com/api/",
        480,
        False,
        30.0,
    )
    assert rb.webhook_token is None
    assert (config.log.level, config.log.format, config.log.file) == ("info", "text", None)
    assert config.state.path.name == "state.sqlite3" and config.state.path.is_absolute()
    assert config.listen.port == 8787 and config.listen.host == "127.0.0.1"
    (shop,) = config.shops
    assert (shop.api_version, shop.plan, shop.enabled, shop.prices_include_tax) == (
        "2026-07",
        "standard",
        True,
        True,
    )
    # Tables left out mean "not synced".
    assert not shop.orders.enabled and not shop.stock.enabled
    assert shop.products.master == "off"
    assert shop.stock.targets == ()
    assert shop.graphql_url == "https://example-dk.myshopify.com/admin/api/2026-07/graphql.json"


def test_a_present_table_is_enabled_by_default(tmp_path: Path) -> None:
    data = minimal()
    data["shops"][0]["stock"] = {"shopify_location": "gid://shopify/Location/42"}
    config = load(tmp_path, data)
    stock = config.shops[0].stock
    assert stock.enabled and stock.rackbeat_locations == "all"
    assert stock.targets == (StockTarget("gid://shopify/Location/42", None),)
    # enabled = false switches it off, and the keys it would need are then optional.
    data["shops"][0]["orders"] = {"enabled": False}
    assert not load(tmp_path, data).shops[0].orders.enabled


def test_dates_become_utc_datetimes(tmp_path: Path) -> None:
    data = base()
    cases = [
        (dt.date(2026, 11, 1), dt.datetime(2026, 11, 1, tzinfo=dt.UTC)),
        (dt.datetime(2026, 11, 1, 6, 30), dt.datetime(2026, 11, 1, 6, 30, tzinfo=dt.UTC)),
        (
            dt.datetime(2026, 11, 1, 1, 0, tzinfo=dt.timezone(dt.timedelta(hours=1))),
            dt.datetime(2026, 11, 1, 0, 0, tzinfo=dt.UTC),
        ),
        ("2026-11-01", dt.datetime(2026, 11, 1, tzinfo=dt.UTC)),
        ("2026-11-01T10:00:00Z", dt.datetime(2026, 11, 1, 10, tzinfo=dt.UTC)),
    ]
    for given, expected in cases:
        data["shops"][0]["orders"]["since"] = given
        since = load(tmp_path, data).shops[0].orders.since
        assert since == expected and since is not None and since.tzinfo == dt.UTC, given


def test_paths_are_relative_to_the_config_folder(tmp_path: Path) -> None:
    data = base()
    data["state"] = {"path": "state/db.sqlite3"}
    data["log"] = {"file": "~/rackshop.log", "format": "json"}
    config = load(tmp_path, data)
    assert config.state.path == tmp_path / "state" / "db.sqlite3"
    assert config.log.file == Path("~/rackshop.log").expanduser()
    assert config.source == tmp_path / "rackshop.toml"


def test_urls_are_normalised(tmp_path: Path) -> None:
    data = base()
    data["rackbeat"]["base_url"] = "http://127.0.0.1:8001/api"
    data["shops"][0]["base_url"] = "http://127.0.0.1:8000/shops/dk/"
    data["shops"][0]["domain"] = "dk.sandbox"
    config = load(tmp_path, data)
    assert config.rackbeat.base_url == "http://127.0.0.1:8001/api/"
    assert config.shops[0].graphql_url == (
        "http://127.0.0.1:8000/shops/dk/admin/api/2026-07/graphql.json"
    )
    assert config.warnings == ()  # plain http to the loopback sandbox is fine


def test_item_number_may_be_written_as_an_integer(tmp_path: Path) -> None:
    data = base()
    data["shops"][0]["orders"]["shipping_item"] = 9000
    assert load(tmp_path, data).shops[0].orders.shipping_item == "9000"


def test_location_map_accepts_a_single_number(tmp_path: Path) -> None:
    data = base()
    data["shops"][1]["stock"]["location_map"] = {"Stockholm": 3, "Outlet": [4, 5]}
    stock = load(tmp_path, data).shops[1].stock
    assert stock.location_map == FrozenMap({"Stockholm": (3,), "Outlet": (4, 5)})
    assert stock.targets == (StockTarget("Stockholm", (3,)), StockTarget("Outlet", (4, 5)))


def test_config_objects_are_frozen_and_hashable(tmp_path: Path) -> None:
    config = load(tmp_path, base())
    with pytest.raises(AttributeError):
        config.shops[0].name = "other"  # type: ignore[misc]
    assert hash(config) == hash(load(tmp_path, base()))


def test_validate_dict_without_a_file(tmp_path: Path) -> None:
    (tmp_path / "se-client-secret.txt").write_text(SE_CLIENT_SECRET, encoding="utf-8")
    (tmp_path / "se-client-secret.txt").chmod(0o600)
    config = validate_dict(base(), env=ENV, base_dir=tmp_path, now=NOW)
    assert config.source is None
    with pytest.raises(ConfigError) as info:
        validate_dict({"shops": []}, env=ENV, base_dir=tmp_path, now=NOW)
    assert [p.path for p in info.value.problems] == ["rackbeat", "shops"]
    assert info.value.source is None


# ----------------------------------------------------------------------------------------------
# Warnings: allowed, but probably not meant.


def test_warnings(tmp_path: Path) -> None:
    data = base()
    data["shops"][0]["api_version"] = "2025-04"  # retired 2026-04-01
    data["shops"][0]["orders"]["since"] = dt.date(2026, 1, 1)  # beyond 60 days
    data["shops"][1]["orders"]["customer"]["currency"] = "SEK"  # with presentment currency
    data["shops"][0]["products"] = {"master": "shopify", "default_group": 1}  # two masters
    data["rackbeat"]["base_url"] = "http://rackbeat.example.com/api/"
    config = load(tmp_path, data)
    w = config.warnings
    assert len(w) == 5, w
    assert w[0].startswith("rackbeat.base_url: http://rackbeat.example.com/api/ uses plain http")
    assert w[1].startswith("shops[0].api_version: Shopify supports 2025-04 only until 2026-04-01")
    assert w[2].startswith("shops[0].orders.since: 2026-01-01 is more than 60 days ago")
    assert w[3].startswith('shops[1].orders.customer.currency: with currency = "presentment"')
    assert w[4] == (
        'shops: "dk" and "se" are all product masters (master = "shopify"); for a product number '
        'found in several of them, the first shop ("dk") wins'
    )


@pytest.mark.parametrize(("rackbeat", "warned"), [
    ({}, False),  # 120 s against 30 s
    ({"lost_answer_wait_seconds": 30}, True),  # at the default timeout
    ({"lost_answer_wait_seconds": 29.5}, True),  # below it
    ({"lost_answer_wait_seconds": 31}, False),
    ({"timeout_seconds": 10, "lost_answer_wait_seconds": 10}, True),
    ({"timeout_seconds": 10, "lost_answer_wait_seconds": 11}, False),
    ({"timeout_seconds": 200}, True),  # the default 120 s below a longer timeout
    ({"lost_answer_wait_seconds": 0}, False),  # 0 is a choice: send again at once
])
def test_a_lost_answer_wait_not_above_the_timeout_is_a_warning(
        tmp_path: Path, rackbeat: dict[str, Any], warned: bool) -> None:
    data = minimal()
    data["rackbeat"].update(rackbeat)
    config = load(tmp_path, data)
    wait = [w for w in config.warnings if w.startswith("rackbeat.lost_answer_wait_seconds:")]
    assert len(wait) == int(warned), config.warnings
    if warned:
        assert "is not above timeout_seconds" in wait[0] and "sent twice" in wait[0]


def test_settings_without_effect_while_paused_are_warnings(tmp_path: Path) -> None:
    data = base()
    data["shops"][0]["products"]["master"] = "off"
    data["shops"][0]["orders"]["write_back"] = "off"
    data["shops"][0]["orders"]["tag"] = "synced"
    config = load(tmp_path, data)
    assert [w.split(":")[0] for w in config.warnings] == [
        "shops[0].orders.tag",
        "shops[0].products.fields",
    ]


# ----------------------------------------------------------------------------------------------
# Selecting shops.


def test_shop_and_select(tmp_path: Path) -> None:
    data = base()
    data["shops"].append(
        {
            "name": "no",
            "domain": "example-no.myshopify.com",
            "enabled": False,
            "token": {"env": "SHOPIFY_NO_TOKEN"},
        }
    )
    config = load(tmp_path, data)
    assert config.shop("se").name == "se"
    assert [s.name for s in config.select([])] == ["dk", "se"]
    assert [s.name for s in config.select(["se", "dk", "se"])] == ["dk", "se"]
    assert [s.name for s in config.select(["no"], include_disabled=True)] == ["no"]
    with pytest.raises(
        UsageError,
        match=r"unknown shop 'fi'; the config defines: dk, se, no "
        r"\(disabled\)",
    ) as info:
        config.shop("fi")
    assert info.value.exit_code == ExitCode.USAGE
    with pytest.raises(UsageError, match="unknown shops 'fi', 'de'"):
        config.select(["fi", "dk", "de"])
    with pytest.raises(UsageError, match="shop 'no' is disabled"):
        config.select(["no"])


# ----------------------------------------------------------------------------------------------
# Reading the file.


def test_missing_file_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.toml", env=ENV)
    text = str(info.value)
    assert f"config file {tmp_path / 'nope.toml'} does not exist" in text
    assert "examples/config.toml" in text
    assert "rackshop sandbox serve --write-config" in text


def test_toml_syntax_error_names_file_line_and_column(tmp_path: Path) -> None:
    err = errors_of(tmp_path, "[log]\nlevel = debug\n")
    assert err.problems[0].message.startswith(
        "rackshop.toml: not valid TOML: Invalid value (at line 2, column 9)"
    )
    assert 'text values need quotes, e.g. level = "info"' in err.problems[0].message


def test_duplicate_table_is_a_syntax_error(tmp_path: Path) -> None:
    err = errors_of(tmp_path, "[log]\nlevel = 'info'\n[log]\nformat = 'json'\n")
    assert "line 3" in err.problems[0].message
    assert "written twice" in err.problems[0].message


def test_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = write(tmp_path, base())
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert load_config(path, env=ENV, now=NOW).shops[0].name == "dk"


def test_non_utf8_file(tmp_path: Path) -> None:
    path = write(tmp_path, base())
    path.write_bytes(path.read_bytes() + b"# caf\xe9\n")
    with pytest.raises(ConfigError, match="is not UTF-8 text"):
        load_config(path, env=ENV, now=NOW)


def test_base_unchanged_by_cases() -> None:
    # The table of cases mutates copies only.
    assert base() == copy.deepcopy(base())
