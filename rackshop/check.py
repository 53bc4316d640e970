"""``rackshop check``: prove the config against both APIs with as few calls as possible.

Offline it only validates the configuration (already done by loading it). Online it makes one
call to Rackbeat for the account, one for the locations, one per distinct item and customer the
config names (shipping and rounding items, guest customers), one per kind of record referenced
(product groups, customer groups, payment terms, layouts), and one query per shop for the shop
and its locations. Then it proves what would otherwise write wrong data:

* every location, item, group, payment terms, layout and guest customer the config refers to
  exists in Rackbeat or Shopify;
* each shop's ``prices_include_tax`` agrees with Shopify's own ``taxesIncluded`` (otherwise a
  Rackbeat-master pass moves every price by the VAT), and ``orders.customer.currency`` with the
  shop's currency;
* no Rackbeat location is counted for two Shopify locations of a shop, directly or through a
  parent (``stock.location_map``): its units would be offered twice.

Each problem names the key path, what Rackbeat or Shopify has, and how to fix it, and makes the
exit code 3 (CONFIG). It never writes.
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
from rackshop.sync.stock_plan import location_closure


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
    if rb_locations is not None:
        _check_references(runtime, shops, report)
    for shop in shops:
        _check_shop(runtime, shop, rb_locations, report)
    if config.listen.public_url:
        _check_subscriptions(runtime, shops, report)
    return report


def _check_subscriptions(runtime: Runtime, shops: Sequence[ShopConfig],
                         report: CheckReport) -> None:
    """With ``listen.public_url`` set: every subscription the config needs exists, is active
    and points at it (reads only; ``rackshop webhooks register`` repairs)."""
    from rackshop.listen import webhooks_admin as wa

    base = wa.base_url(runtime.config)
    rows = wa.list_webhooks(runtime, shops)
    fix = "run `rackshop webhooks register`"
    needed = [("shopify", s.name, t, wa.shopify_address(base, s))
              for s in shops if s.webhook_secret is not None for t in wa.shopify_topics(s)]
    needed += [("rackbeat", "", e, wa.rackbeat_address(base)) for e in wa.rackbeat_events(
        runtime.config)]
    for api, shop, topic, address in needed:
        mine = [r for r in rows if r.api == api and r.shop == shop and r.topic == topic
                and r.status.startswith("rackshop")]
        good = [r for r in mine if r.address == address and r.status == "rackshop"]
        target = f"webhooks {api} {shop or 'account'}"
        if good:
            report.add(target, topic, "ok", address)
        elif mine:
            report.add(target, topic, "fail", f"listen.public_url: the {topic} subscription is "
                       f"{mine[0].status.removeprefix('rackshop, ')} at {mine[0].address}, not "
                       f"{address}; {fix}", ExitCode.CONFIG)
        else:
            report.add(target, topic, "fail", f"listen.public_url: no {topic} subscription "
                       f"points at {address}: its events never reach the listener; {fix}",
                       ExitCode.CONFIG)
    for r in rows:
        if r.status.startswith("failed"):
            report.add(f"webhooks {r.api} {r.shop or 'account'}", "list", "fail", r.status,
                       ExitCode.API_UNAVAILABLE)


#: Rackbeat record kinds the config refers to: endpoint -> what to call it.
_KINDS = {"product-groups": "product group", "customer-groups": "customer group",
          "payment-terms": "payment terms", "layouts": "layout"}


def references(shops: Sequence[ShopConfig]) -> dict[tuple[str, str], list[str]]:
    """(Rackbeat endpoint, number) -> the config keys that name it (pure)."""
    refs: dict[tuple[str, str], list[str]] = {}

    def add(endpoint: str, number: Any, key: str) -> None:
        if number is not None and str(number).strip():
            refs.setdefault((endpoint, str(number)), []).append(key)

    for shop in shops:
        base = f"shops.{shop.name}"
        if shop.products.master != "off" or shop.initial.location_map:
            add("product-groups", shop.products.default_group, f"{base}.products.default_group")
        orders = shop.orders
        if orders.enabled:
            add("customer-groups", orders.customer.group, f"{base}.orders.customer.group")
            add("payment-terms", orders.customer.payment_terms,
                f"{base}.orders.customer.payment_terms")
            add("layouts", orders.customer.layout, f"{base}.orders.customer.layout")
            add("layouts", orders.layout, f"{base}.orders.layout")
            add("customers", orders.guest_customer, f"{base}.orders.guest_customer")
            add("items", orders.rounding_item, f"{base}.orders.rounding_item")
    return refs


def _check_references(runtime: Runtime, shops: Sequence[ShopConfig],
                      report: CheckReport) -> None:
    """Every group, payment terms, layout, guest customer and item the config names exists."""
    client = runtime.rackbeat()
    refs = references(shops)
    lists: dict[str, dict[str, dict[str, Any]]] = {}
    for (endpoint, number), keys in sorted(refs.items()):
        where = ", ".join(keys)
        try:
            if endpoint in _KINDS:
                if endpoint not in lists:
                    lists[endpoint] = {str(r.get("number", r.get("id"))): r
                                       for r in client.list_all(endpoint)}
                record = lists[endpoint].get(number)
            else:
                record = client.find_one(endpoint, number)
        except RackshopError as exc:
            report.add("rackbeat", f"{endpoint} {number}", "fail", f"{where}: {exc.message}",
                       ExitCode.API_UNAVAILABLE)
            continue
        kind = _KINDS.get(endpoint, "customer" if endpoint == "customers" else "item")
        if record is None:
            known = ""
            if endpoint in lists:
                known = "; Rackbeat has: " + (", ".join(
                    f"{n} {r.get('name', '')}".strip() for n, r in sorted(
                        lists[endpoint].items(), key=lambda kv: _num(kv[0]))) or "none")
            report.add("rackbeat", f"{kind} {number}", "fail",
                       f"{where}: Rackbeat has no {kind} {number}{known}; set the key to an "
                       f"existing {kind} number (or create it in Rackbeat)", ExitCode.CONFIG)
            continue
        status, detail = "ok", f"{record.get('name', '')} ({where})"
        if endpoint == "product-groups" and record.get("has_inventory") is False:
            status = "warn"
            detail += ": the group keeps no inventory, so no stock is registered or pushed " \
                "for products created in it"
        if endpoint == "customers" and record.get("is_barred"):
            status, detail = "fail", f"{where}: guest customer {number} is barred in Rackbeat; " \
                "orders for it would be refused: unbar it or name another customer"
            report.add("rackbeat", f"{kind} {number}", status, detail, ExitCode.CONFIG)
            continue
        report.add("rackbeat", f"{kind} {number}", status, detail)


def _num(text: str) -> tuple[int, str]:
    return (int(text), "") if text.isdigit() else (1 << 62, text)


def location_overlaps(shop: ShopConfig, locations: Sequence[dict[str, Any]]) -> list[str]:
    """Problems where one Rackbeat location is counted for two Shopify locations of ``shop``
    (directly or through a parent): its units would be offered twice (pure)."""
    if not shop.stock.enabled:
        return []
    names = {int(loc["number"]): str(loc.get("name") or "") for loc in locations}
    counted: dict[int, list[tuple[str, tuple[int, ...] | None]]] = {}
    for target in shop.stock.targets:
        for number in location_closure(locations, target.rackbeat_locations):
            counted.setdefault(number, []).append((target.shopify_location,
                                                   target.rackbeat_locations))
    problems = []
    key = f"shops.{shop.name}.stock.location_map"
    for number, users in sorted(counted.items()):
        if len(users) < 2:
            continue
        how = "; ".join(
            f'"{where}" = {list(chosen) if chosen is not None else "all"}'
            + ("" if chosen is None or number in chosen else " (through its parent)")
            for where, chosen in users)
        problems.append(
            f"{key}: Rackbeat location {number} {names.get(number, '')} is counted for "
            f"{len(users)} Shopify locations ({how}): its units would be offered twice; map "
            "each Rackbeat location (with its child locations) to one Shopify location only")
    return problems


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
    for problem in shop_setting_problems(shop, info):
        report.add(target, "settings", "fail", problem, ExitCode.CONFIG)
    if shop.enabled and shop.products.master != "off" and info.get("currencyCode"):
        from rackshop.sync.products_read import currency_check  # issue 19: currencies
        try:
            status, text = currency_check(runtime, shop, str(info["currencyCode"]))
            report.add(target, "prices", status, text)
        except RackshopError as exc:
            report.add(target, "prices", "warn", f"could not read Rackbeat's currencies: "
                       f"{exc.message}")
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
        overlaps = location_overlaps(shop, list(rb_locations.values()))
        for problem in overlaps:
            report.add(target, "location tree", "fail", problem, ExitCode.CONFIG)
        if shop.stock.enabled and not overlaps:
            report.add(target, "location tree", "ok", "every Rackbeat location counted once")
        for number, where in _rackbeat_location_refs(shop):
            if number in rb_locations:
                report.add(target, f"rackbeat location {number}", "ok",
                           f"{where}: {rb_locations[number].get('name', '')}")
            else:
                report.add(target, f"rackbeat location {number}", "fail",
                           f"{where}: Rackbeat has no location {number}; known: "
                           f"{', '.join(str(n) for n in sorted(rb_locations)) or 'none'}",
                           ExitCode.CONFIG)


def shop_setting_problems(shop: ShopConfig, info: dict[str, Any]) -> list[str]:
    """The shop's settings against Shopify's own (``shop { taxesIncluded currencyCode }``)
    (pure)."""
    problems = []
    included = info.get("taxesIncluded")
    if isinstance(included, bool) and included != shop.prices_include_tax:
        problems.append(
            f"shops.{shop.name}.prices_include_tax = {str(shop.prices_include_tax).lower()}, "
            f"but Shopify says the shop's prices {'include' if included else 'exclude'} tax "
            f"(taxesIncluded = {str(included).lower()}): every price would be moved by the VAT; "
            f"set prices_include_tax = {str(included).lower()}")
    currency = info.get("currencyCode")
    wanted = shop.orders.customer.currency
    if shop.orders.enabled and wanted and currency and shop.orders.currency == "shop" \
            and str(wanted).upper() != str(currency).upper():
        problems.append(
            f"shops.{shop.name}.orders.customer.currency = \"{wanted}\", but the shop sells in "
            f"{currency} and orders.currency = \"shop\" transfers orders in {currency}: new "
            f"customers would get orders in another currency than their own; set "
            f"customer.currency = \"{currency}\" or leave it out")
    return problems


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
