"""``rackshop sandbox simulate --config FILE``: a user's own shops and settings, served by the
twins.

The user's file is read as TOML (never resolved: its secrets are not read). The twins get one
Shopify shop per enabled ``[[shops]]`` entry, named as in the file, with every Shopify location the
file names (stock targets and ``[shops.initial] location_map``), and the Rackbeat locations the
file names (added next to the sandbox's own 1, 2 and 21). The catalogue, stock, customers and
first orders are the sandbox's seeded world. The config the simulation runs with is the user's
own, with only what must point at the twins replaced: ``rackbeat`` token, URL and pacing,
each shop's domain, URL, token and webhook secret, the state path, and the orders' customer
defaults, guest customer and shipping item where the twin would not know the user's numbers.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from rackshop.errors import ConfigError, ConfigProblem


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.expanduser().open("rb") as fh:
            return tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError([ConfigProblem("", f"cannot read the file: {exc}")],
                          source=str(path)) from exc


def _shops(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in data.get("shops") or [] if s.get("enabled", True)]


def user_shop_names(path: Path) -> list[str]:
    """The names of the enabled shops of a user's config (at least one, or ConfigError)."""
    names = [str(s.get("name")) for s in _shops(_read(path)) if s.get("name")]
    if not names:
        raise ConfigError([ConfigProblem("shops", "no enabled [[shops]] entry to rehearse; "
                                          "add one")], source=str(path))
    return names


def _shopify_locations(shop: dict[str, Any]) -> list[str]:
    stock = shop.get("stock") or {}
    names = list((stock.get("location_map") or {}).keys())
    if stock.get("shopify_location"):
        names.append(str(stock["shopify_location"]))
    names += list(((shop.get("initial") or {}).get("location_map") or {}).keys())
    return list(dict.fromkeys(n for n in names if not n.startswith("gid://")))


def _rackbeat_locations(shop: dict[str, Any]) -> set[int]:
    stock = shop.get("stock") or {}
    out: set[int] = set()
    for value in (stock.get("location_map") or {}).values():
        out.update(int(n) for n in value)
    if isinstance(stock.get("rackbeat_locations"), list):
        out.update(int(n) for n in stock["rackbeat_locations"])
    out.update(int(n) for n in ((shop.get("initial") or {}).get("location_map") or {}).values())
    if (shop.get("orders") or {}).get("location"):
        out.add(int(shop["orders"]["location"]))
    return out


def rename_shops(sandbox: Any, names: list[str], path: Path) -> None:
    """Give the sandbox's seeded shops the user's names and locations (before it is started)."""
    from rackshop.sandbox.seed import shop_token

    twin = sandbox.shopify_app
    data = _shops(_read(path))
    seeded = list(sandbox.shop_names)
    with twin.lock:
        for old, new, shop in zip(seeded, names, data, strict=False):
            state = twin.shops.pop(old)
            state.name, state.domain, state.token = new, f"{new}.myshopify.com", shop_token(new)
            state.taxes_included = bool(shop.get("prices_include_tax", True))
            wanted = _shopify_locations(shop)
            existing = list(state.locations.values())
            for loc, name in zip(existing, wanted, strict=False):
                loc["name"] = name
            for name in wanted[len(existing):]:
                twin._add_location(state, name)
            twin.shops[new] = state
    sandbox.shop_names = list(names)
    known = {1, 2, 21}
    for shop in data:
        for number in sorted(_rackbeat_locations(shop) - known):
            sandbox.rackbeat_app.add_location(number, f"Lager {number}")
            known.add(number)


def merge_user_config(path: Path, sandbox_config: dict[str, Any]) -> dict[str, Any]:
    """The user's config pointed at the twins (see the module docstring for what changes)."""
    user = _read(path)
    out = dict(user)
    rb = dict(user.get("rackbeat") or {})
    for key in ("token", "base_url", "requests_per_minute", "timeout_seconds"):
        rb[key] = sandbox_config["rackbeat"][key]
    rb.pop("webhook_token", None)
    out["rackbeat"] = rb
    out["state"] = dict(sandbox_config["state"])
    out.pop("log", None)
    out.pop("listen", None)
    twin_shops = {s["name"]: s for s in sandbox_config["shops"]}
    shops = []
    for shop in _shops(user):
        twin = twin_shops[str(shop["name"])]
        merged = {k: v for k, v in shop.items() if k not in ("client_id", "client_secret")}
        for key in ("domain", "base_url", "token", "webhook_secret"):
            merged[key] = twin[key]
        merged.pop("api_version", None)
        orders = dict(shop.get("orders") or {})
        if orders:
            defaults = twin.get("orders") or {}
            orders["customer"] = defaults.get("customer", {})
            for key in ("guest_customer", "shipping_item"):
                if key in defaults:
                    orders[key] = defaults[key]
            orders.pop("layout", None)
            merged["orders"] = orders
        shops.append(merged)
    out["shops"] = shops
    return out
