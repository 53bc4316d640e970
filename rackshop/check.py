"""``rackshop check``: prove the config against both APIs with as few calls as possible.

Offline it only validates the configuration (already done by loading it). Online it makes one
call to Rackbeat for the account, one for the locations, one per distinct item the config names
(shipping items), and one query per shop for the shop and its locations; then it checks that every
location and item the config refers to exists. It never writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rackshop.config import Config, ShopConfig
from rackshop.errors import (
    ApiUnavailableError,
    AuthError,
    ExitCode,
    NotFoundError,
    RackshopError,
)
from rackshop.runtime import Runtime


@dataclass(frozen=True)
class CheckRow:
    """One line of the check table."""

    target: str
    what: str
    status: str  # ok | warn | fail
    detail: str


@dataclass
class CheckReport:
    """All rows, and the exit code they add up to."""

    rows: list[CheckRow] = field(default_factory=list)
    exit_code: ExitCode = ExitCode.OK

    def add(self, target: str, what: str, status: str, detail: str,
            code: ExitCode | None = None) -> None:
        self.rows.append(CheckRow(target, what, status, detail))
        if code is not None and _SEVERITY[code] > _SEVERITY[self.exit_code]:
            self.exit_code = code


_SEVERITY = {
    ExitCode.OK: 0,
    ExitCode.CONFIG: 1,
    ExitCode.API_UNAVAILABLE: 2,
    ExitCode.AUTH: 3,
}


def run_check(runtime: Runtime, shops: Sequence[ShopConfig], *, offline: bool) -> CheckReport:
    """Validate the config (done by the caller) and, unless ``offline``, reach both APIs.

    Args:
        runtime: Built from the validated config.
        shops: The shops to check (``--shop`` or all enabled).
        offline: Skip the API calls.

    Returns:
        The rows to show and the exit code they imply (auth > unavailable > config mismatch).
    """
    config = runtime.config
    report = CheckReport()
    source = str(config.source) if config.source else "(in memory)"
    report.add("config", "file", "ok", f"{source}: valid, {len(config.shops)} shop(s)")
    for warning in config.warnings:
        report.add("config", "warning", "warn", warning)
    report.add("state", "store", "ok", str(runtime.state_path))
    if offline:
        for shop in shops:
            report.add(f"shop {shop.name}", "settings", "ok", _shop_summary(shop))
        return report

    rb_locations = _check_rackbeat(runtime, config, shops, report)
    for shop in shops:
        _check_shop(runtime, shop, rb_locations, report)
    return report


def _check_rackbeat(runtime: Runtime, config: Config, shops: Sequence[ShopConfig],
                    report: CheckReport) -> dict[int, dict[str, Any]] | None:
    client = runtime.rackbeat()
    try:
        me = client.self_info()
        account = me.get("user_account") or {}
        name = account.get("company_name") or account.get("name") or "(unnamed account)"
        report.add("rackbeat", "credentials", "ok", f"account {name!r} at {client.base_url}")
        locations = {int(loc["number"]): loc for loc in client.locations()}
    except AuthError as exc:
        report.add("rackbeat", "credentials", "fail", exc.message, ExitCode.AUTH)
        return None
    except (ApiUnavailableError, RackshopError) as exc:
        report.add("rackbeat", "reachable", "fail", exc.message, ExitCode.API_UNAVAILABLE)
        return None
    names = ", ".join(f"{n} {loc.get('name', '')}".strip() for n, loc in sorted(locations.items()))
    report.add("rackbeat", "locations", "ok", f"{len(locations)}: {names}")

    items: dict[str, list[str]] = {}
    for shop in shops:
        if shop.orders.enabled and shop.orders.shipping_item:
            items.setdefault(shop.orders.shipping_item, []).append(shop.name)
    for number, users in sorted(items.items()):
        try:
            item = client.get_one("items", number)
            report.add("rackbeat", f"item {number}", "ok",
                       f"{item.get('name', '')} (shipping item of {', '.join(users)})")
        except NotFoundError:
            report.add("rackbeat", f"item {number}", "fail",
                       f"shipping item {number!r} (shops.orders.shipping_item of "
                       f"{', '.join(users)}) does not exist in Rackbeat; create it as a "
                       "non-stock product or fix the key", ExitCode.CONFIG)
        except RackshopError as exc:
            report.add("rackbeat", f"item {number}", "fail", exc.message,
                       ExitCode.API_UNAVAILABLE)
    return locations


def _check_shop(runtime: Runtime, shop: ShopConfig,
                rb_locations: dict[int, dict[str, Any]] | None, report: CheckReport) -> None:
    target = f"shop {shop.name}"
    try:
        data = runtime.shopify(shop).query("ShopInfo", {"first": 250})
    except AuthError as exc:
        report.add(target, "credentials", "fail", exc.message, ExitCode.AUTH)
        return
    except RackshopError as exc:
        report.add(target, "reachable", "fail", exc.message, ExitCode.API_UNAVAILABLE)
        return
    info = data.get("shop") or {}
    report.add(target, "credentials", "ok",
               f"{info.get('name')} ({info.get('myshopifyDomain')}), currency "
               f"{info.get('currencyCode')}, API {shop.api_version}")
    locations = (data.get("locations") or {}).get("nodes") or []
    by_key: dict[str, dict[str, Any]] = {}
    for loc in locations:
        by_key[str(loc["id"])] = loc
        by_key[str(loc["name"])] = loc
    report.add(target, "locations", "ok",
               ", ".join(f"{loc['name']}{'' if loc.get('isActive', True) else ' (inactive)'}"
                         for loc in locations) or "none")

    for key, where in _shopify_location_refs(shop):
        if key in by_key:
            loc = by_key[key]
            status = "ok" if loc.get("isActive", True) else "warn"
            report.add(target, f"location {key}", status, f"{where}: {loc['id']}")
        else:
            report.add(target, f"location {key}", "fail",
                       f"{where}: no Shopify location named {key!r}; known: "
                       f"{', '.join(sorted(str(loc['name']) for loc in locations)) or 'none'}",
                       ExitCode.CONFIG)

    if rb_locations is not None:
        for number, where in _rackbeat_location_refs(shop):
            if number in rb_locations:
                report.add(target, f"rackbeat location {number}", "ok",
                           f"{where}: {rb_locations[number].get('name', '')}")
            else:
                report.add(target, f"rackbeat location {number}", "fail",
                           f"{where}: Rackbeat has no location {number}; known: "
                           f"{', '.join(str(n) for n in sorted(rb_locations)) or 'none'}",
                           ExitCode.CONFIG)


def _shopify_location_refs(shop: ShopConfig) -> list[tuple[str, str]]:
    refs: list[tuple[str, str]] = []
    if shop.stock.enabled:
        if shop.stock.shopify_location:
            refs.append((shop.stock.shopify_location, f"shops.{shop.name}.stock.shopify_location"))
        for key in shop.stock.location_map or {}:
            refs.append((key, f"shops.{shop.name}.stock.location_map"))
    for key in shop.initial.location_map or {}:
        refs.append((key, f"shops.{shop.name}.initial.location_map"))
    return refs


def _rackbeat_location_refs(shop: ShopConfig) -> list[tuple[int, str]]:
    refs: list[tuple[int, str]] = []
    if shop.stock.enabled:
        if isinstance(shop.stock.rackbeat_locations, tuple | list):
            refs += [(int(n), f"shops.{shop.name}.stock.rackbeat_locations")
                     for n in shop.stock.rackbeat_locations]
        for numbers in (shop.stock.location_map or {}).values():
            refs += [(int(n), f"shops.{shop.name}.stock.location_map") for n in numbers]
    if shop.orders.enabled and shop.orders.location:
        refs.append((int(shop.orders.location), f"shops.{shop.name}.orders.location"))
    for number in (shop.initial.location_map or {}).values():
        refs.append((int(number), f"shops.{shop.name}.initial.location_map"))
    return list(dict.fromkeys(refs))


def _shop_summary(shop: ShopConfig) -> str:
    parts = [f"{shop.domain}", f"API {shop.api_version}"]
    parts.append(f"orders {shop.orders.transfer_on}->{shop.orders.process_to}"
                 if shop.orders.enabled else "orders off")
    parts.append(f"products master={shop.products.master}")
    parts.append(f"stock buffer {shop.stock.buffer}" if shop.stock.enabled else "stock off")
    return ", ".join(parts)
