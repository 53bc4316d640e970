"""The rules between keys: what one key requires or rules out in another, and the warnings.

The schema checks each value on its own; these checks see a whole table (and its shop), on the
keys that are valid, so a wrong value is never reported a second time as a broken rule. Each
check names the key to change and what to write.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from rackshop.config.checks_tables import initial, orders, products, stock
from rackshop.config.fields import describe, is_loopback, short
from rackshop.config.tree import Ctx, Node
from rackshop.config.values import (
    DEFAULT_API_VERSION,
    DEFAULT_RACKBEAT_URL,
    HOSTNAME_RE,
    MYSHOPIFY_RE,
)

_NO_SHOPS = (
    "no shops configured; add one [[shops]] table per Shopify shop, with at "
    "least name, domain and token (see examples/config.toml)"
)


def missing_rackbeat(ctx: Ctx) -> None:
    """The file has no ``[rackbeat]`` table."""
    ctx.problem(
        "rackbeat",
        'missing; add a [rackbeat] table with at least token = { env = "RACKBEAT_TOKEN" }',
    )


def shop_list(ctx: Ctx, data: Mapping[str, Any]) -> list[Any] | None:
    """The ``[[shops]]`` tables, or None (a problem recorded) when there is no list of them."""
    raw = data.get("shops")
    if raw is None or raw == []:
        ctx.problem("shops", _NO_SHOPS)
        return None
    if isinstance(raw, dict):
        ctx.problem(
            "shops",
            "write [[shops]] (double brackets) for each shop: shops is a list of "
            "tables, so that several shops can be configured",
        )
        return None
    if not isinstance(raw, list):
        ctx.problem("shops", f"expected a list of [[shops]] tables, got {describe(raw)}")
        return None
    return raw


def run(ctx: Ctx, node: Node) -> None:
    """The rules of one table (nothing for a table the file leaves out or that is no table)."""
    check = _CHECKS.get(node.schema)
    if check is not None and node.present and node.model is not None:
        check(ctx, node)


def _warn_plain_http(ctx: Ctx, node: Node, key: str) -> None:
    url = node.get(key)
    if not node.has(key) or url is None:
        return
    parts = urlsplit(url)
    if parts.scheme == "http" and not is_loopback(parts.hostname or ""):
        ctx.warn(
            node.key(key),
            f"{url} uses plain http: the token would travel unencrypted; use https "
            "(plain http is meant for the local sandbox)",
        )


def _require(ctx: Ctx, node: Node, key: str, what: str) -> bool:
    """Whether the table has ``key``; when not, the problem ``required: <what>`` at its path."""
    if node.has(key):
        return True
    ctx.problem(node.key(key), f"required: {what}")
    return False


def _rackbeat(ctx: Ctx, node: Node) -> None:
    _require(ctx, node, "token", 'the Rackbeat API token, written as token = '
             '{ env = "RACKBEAT_TOKEN" } or token = { file = "rackbeat-token.txt" }')
    _warn_plain_http(ctx, node, "base_url")
    rpm = node.get("requests_per_minute")
    # Rackbeat's limit is the real service's; a sandbox (another base_url) may allow more.
    if rpm is not None and rpm > 480 and node.get("base_url") == DEFAULT_RACKBEAT_URL:
        ctx.warn(
            node.key("requests_per_minute"),
            f"{rpm} is above Rackbeat's documented 480 requests "
            "per minute; expect 429 answers (rackshop slows down and retries)",
        )
    wait, timeout = node.get("lost_answer_wait_seconds"), node.get("timeout_seconds")
    if wait is not None and 0 < wait <= (timeout if timeout is not None else 30.0):
        ctx.warn(
            node.key("lost_answer_wait_seconds"),
            f"{wait:g} s is not above timeout_seconds ({timeout if timeout is not None else 30:g}"
            " s): a create Rackbeat or Shopify applies late may be sent twice; keep it a few "
            "times longer",
        )


def _not_a_folder(key: str, example: str) -> Callable[[Ctx, Node], None]:
    def check(ctx: Ctx, node: Node) -> None:
        raw = node.get(key)
        if raw is not None and (p := ctx.path(raw)).is_dir():
            ctx.problem(node.key(key), f"{p} is a folder; give a file path such as {p / example}")

    return check


def _listen(ctx: Ctx, node: Node) -> None:
    url = node.get("public_url")
    if url is not None and urlsplit(url).scheme != "https":
        ctx.warn(node.key("public_url"), "Shopify delivers webhooks only to https URLs")


# ----------------------------------------------------------------------------------------------
# A shop.


def _shop(ctx: Ctx, node: Node) -> None:
    _require(ctx, node, "name", 'a short unique name such as name = "dk" (lower-case '
             "letters, digits, - and _); it is used with --shop and in the state store")
    _warn_plain_http(ctx, node, "base_url")
    has_domain = _require(ctx, node, "domain", 'the shop\'s permanent domain, e.g. domain = '
                          '"example.myshopify.com" (Shopify admin -> Settings -> Domains)')
    if has_domain and node.ok("domain"):
        message = _domain_problem(node.get("domain"), has_base_url=node.has("base_url"))
        if message:
            ctx.problem(node.key("domain"), message)
            node.failed.add("domain")
    if node.has("api_version") and node.ok("api_version"):
        _api_version_age(ctx, node.key("api_version"), node.get("api_version"))
    _credentials(ctx, node)


def _domain_problem(host: str, *, has_base_url: bool) -> str | None:
    if "://" in host or "/" in host:
        bare = urlsplit(host if "://" in host else "https://" + host).hostname or host
        return (
            f"{short(host)} must be a bare host name without https:// or a path: "
            f'write domain = "{bare}"'
        )
    if has_base_url:
        return None if HOSTNAME_RE.fullmatch(host) else f"{short(host)} is not a host name"
    if MYSHOPIFY_RE.fullmatch(host):
        return None
    if host.endswith(".myshopify.com"):
        return f"{short(host)} is not a valid .myshopify.com domain"
    return (
        f"{short(host)} must be the shop's .myshopify.com domain (e.g. "
        '"example.myshopify.com"; Shopify admin -> Settings -> Domains), not the '
        "storefront domain; to point at a local sandbox set base_url as well"
    )


def _api_version_age(ctx: Ctx, path: str, version: str) -> None:
    year, month = int(version[:4]), int(version[5:])
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


def _credentials(ctx: Ctx, node: Node) -> None:
    prefix = node.names.env_prefix
    has_token = node.has("token")
    has_id, has_secret = node.has("client_id"), node.has("client_secret")
    if has_token and (has_id or has_secret):
        ctx.problem(
            node.key("token"),
            "give either token (an Admin API access token) or client_id + "
            "client_secret (an app of your organisation; rackshop requests and refreshes the "
            "token), not both: remove one",
        )
    elif not has_token and not has_id and not has_secret:
        ctx.problem(
            node.key("token"),
            f"required: Shopify credentials, either token = {{ env = "
            f'"{prefix}_TOKEN" }} (an Admin API access token, shpat_...) or client_id = '
            f'"..." with client_secret = {{ env = "{prefix}_CLIENT_SECRET" }}',
        )
    elif has_id and not has_secret:
        ctx.problem(
            node.key("client_secret"),
            f"required when client_id is set: client_secret = "
            f'{{ env = "{prefix}_CLIENT_SECRET" }}',
        )
    elif has_secret and not has_id:
        ctx.problem(
            node.key("client_id"),
            "required when client_secret is set: the app's client ID "
            '(not a secret), client_id = "..."',
        )


def across_tables(ctx: Ctx, shop: Node) -> None:
    """Rules between a shop's tables."""
    orders, fulfillments = shop.children["orders"], shop.children["fulfillments"]
    if (fulfillments.get("enabled") and orders.get("enabled")
            and orders.get("transfer_on") == "fulfilled"):
        ctx.problem(
            fulfillments.key("enabled"),
            'cannot be true while orders.transfer_on = "fulfilled": that shop fulfils in '
            "Shopify first and Rackbeat follows, so Rackbeat's shipments must not fulfil the "
            'order again; set transfer_on = "paid" (or "created"), or fulfillments.enabled = '
            "false",
        )
        fulfillments.failed.add("enabled")


def across_shops(ctx: Ctx, root: Node) -> None:
    """Clashes between shops, on the raw tables: a shop with other problems still counts."""
    names: dict[str, int] = {}
    domains: dict[str, int] = {}
    for i, shop in enumerate(root.items):
        name, domain = shop.raw.get("name"), shop.raw.get("domain")
        if isinstance(name, str):
            key = name.strip()
            if key in names:
                ctx.problem(
                    f"shops[{i}].name",
                    f'"{key}" is already the name of shops[{names[key]}]; '
                    "shop names must be unique (they select shops with --shop and key the "
                    "state store)",
                )
                shop.failed.add("name")
            names.setdefault(key, i)
        if isinstance(domain, str):
            key = domain.strip().lower()
            if key in domains:
                ctx.problem(
                    f"shops[{i}].domain",
                    f'"{key}" is already the domain of '
                    f"shops[{domains[key]}]; one Shopify shop must be configured once (give "
                    "it several locations with stock.location_map instead)",
                )
                shop.failed.add("domain")
            domains.setdefault(key, i)
    valid = [s for s in root.items if s.valid]
    masters = [s for s in valid
               if s.get("enabled") and s.children["products"].get("master") == "shopify"]
    if len(masters) > 1:
        first = masters[0].get("name")
        others = ", ".join(f'"{s.get("name")}"' for s in masters[1:])
        ctx.warn(
            "shops",
            f'"{first}" and {others} are all product masters (master = "shopify"); '
            f'for a product number found in several of them, the first shop ("{first}") wins',
        )
    if valid and len(valid) == len(root.items) and not any(s.get("enabled") for s in valid):
        ctx.warn("shops", "every shop has enabled = false, so every job has nothing to do")


_CHECKS: dict[str, Callable[[Ctx, Node], None]] = {
    "rackbeat": _rackbeat,
    "state": _not_a_folder("path", "state.sqlite3"),
    "log": _not_a_folder("file", "rackshop.log"),
    "listen": _listen,
    "shops": _shop,
    "shops.orders": orders,
    "shops.products": products,
    "shops.stock": stock,
    "shops.initial": initial,
}
