"""``rackshop webhooks register|list|remove``: the subscriptions that feed ``rackshop listen``.

Addresses are built from ``listen.public_url`` (the listener's public https address, behind the
TLS proxy):

* Shopify, per shop: ``{public_url}/webhooks/shopify/{shop name}``, one subscription for the
  topic of the shop's ``orders.transfer_on`` (``orders/create``, ``orders/paid`` or
  ``orders/fulfilled``) when the shop transfers orders. Made with ``webhookSubscriptionCreate``
  (``uri``, JSON), so the shop's deliveries are signed with the secret of the app whose token
  rackshop uses: that secret is the shop's ``webhook_secret``.
* Rackbeat, once for the account: ``{public_url}/webhooks/rackbeat``, for
  ``item.stock_updated`` and ``order.booked`` when any shop takes stock, and ``product.created``
  / ``product.updated`` (``lot.*`` with ``include_boms``) when any shop's products come from
  Rackbeat. Made with ``POST /webhooks``.

Rackbeat gives each webhook its own token and shows it once, in the answer that creates it.
``register`` stores a SHA-256 digest of it in the state store (``webhook_tokens``; never the
token), which is how the listener recognises that webhook's deliveries. A rackshop webhook found
in Rackbeat whose token is unknown (created by hand, or its answer was lost) is deleted and made
again to learn a fresh one, unless ``rackbeat.webhook_token`` is configured (then that token is
trusted for it). ``register`` is idempotent: what exists is kept, what is missing is made, and
rackshop's own subscriptions that the config no longer needs are removed. Subscriptions that
are not rackshop's are never touched.

**Which subscriptions are rackshop's** does not depend on ``listen.public_url`` (it changes):

* Shopify: those named :data:`MARKER` (the subscription's ``name``, set by ``register``), and
  those whose address ends in ``/webhooks/shopify/<shop name>`` (made before the marker);
* Rackbeat: those whose token rackshop recorded (their ids), and those whose address ends in
  ``/webhooks/rackbeat``.

So after ``public_url`` changes, ``register`` moves rackshop's subscriptions to the new address
(Shopify ``webhookSubscriptionUpdate``, Rackbeat ``PUT /webhooks/{id}``: the token stays), sets
an inactive Rackbeat webhook active again, drops duplicates, and ``remove`` deletes every one of
them. :func:`check_subscriptions` is what the listener runs at start and hourly.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from rackshop.config import Config, ShopConfig
from rackshop.errors import (
    ConfigError,
    ConfigProblem,
    NotFoundError,
    OutcomeUnknownError,
    RackshopError,
    ShopifyUserErrors,
    describe,
)
from rackshop.listen.queue import forget_token, known_webhook_ids, record_token
from rackshop.listen.routes import RACKBEAT_PATH, SHOPIFY_PATH, TRIGGER_TOPICS
from rackshop.log import event
from rackshop.runtime import Runtime
from rackshop.sync.after_transfer import CHANGE_TOPICS

log = logging.getLogger("rackshop.listen")

#: The ``name`` rackshop gives its Shopify subscriptions: how it recognises them.
MARKER = "rackshop"
#: Statuses of :func:`register` rows that mean "a write repaired something".
REPAIRED = ("created", "moved", "reactivated", "recreated", "removed")

COLUMNS = ("api", "shop", "topic", "address", "id", "status")
"""Column names of the rows every function here returns (for the CLI's table)."""


@dataclass(frozen=True)
class WebhookRow:
    """One subscription and what was done to it (or what it is)."""

    api: str  # shopify | rackbeat
    shop: str  # the shop's name; "" for Rackbeat (account-wide)
    topic: str  # orders/paid, item.stock_updated...
    address: str
    id: str
    status: str

    def as_list(self) -> list[str]:
        """The row in :data:`COLUMNS` order."""
        return [self.api, self.shop, self.topic, self.address, self.id, self.status]


# -- what the config wants ---------------------------------------------------------------------


def base_url(config: Config) -> str:
    """``listen.public_url`` without a trailing ``/``.

    Raises:
        ConfigError: It is not set.
    """
    url = config.listen.public_url
    if not url:
        raise ConfigError([ConfigProblem(
            "listen.public_url", "required to register webhooks: the https address at which "
            "Shopify and Rackbeat reach `rackshop listen` (through your TLS proxy), e.g. "
            "\"https://rackshop.example.com\"")], source=str(config.source or "") or None)
    return url.rstrip("/")


def shopify_address(base: str, shop: ShopConfig) -> str:
    """Where one shop's Shopify deliveries go."""
    return f"{base}{SHOPIFY_PATH}/{shop.name}"


def rackbeat_address(base: str) -> str:
    """Where Rackbeat's deliveries go."""
    return f"{base}{RACKBEAT_PATH}"


def shopify_topics(shop: ShopConfig) -> list[str]:
    """The topics (``orders/paid`` form) a shop subscribes to."""
    if not (shop.enabled and shop.orders.enabled):
        return []
    topics = [TRIGGER_TOPICS[shop.orders.transfer_on]]
    if shop.orders.after_transfer == "sync":
        topics += list(CHANGE_TOPICS)  # changes after the transfer, in real time
    return topics


def rackbeat_events(config: Config) -> list[str]:
    """The Rackbeat events the account subscribes to, from every enabled shop's settings."""
    shops = [s for s in config.shops if s.enabled]
    events: list[str] = []
    if any(s.stock.enabled for s in shops):
        events += ["item.stock_updated", "order.booked"]
    if any(s.fulfillments.enabled for s in shops):
        events += ["order.updated"]  # a shipment made or marked shipped changes its order
    masters = [s for s in shops if s.products.master == "rackbeat"]
    if masters:
        events += ["product.created", "product.updated"]
        if any(s.products.include_boms for s in masters):
            events += ["lot.created", "lot.updated"]
    return events


def _enum(topic: str) -> str:
    return topic.replace("/", "_").upper()


#: Topic resources whose name holds an underscore (``inventory_levels/update``).
_RESOURCES = ("inventory_levels", "inventory_items", "bulk_operations", "draft_orders",
              "order_transactions", "fulfillment_events", "fulfillment_orders",
              "app_subscriptions", "selling_plan_groups", "customer_groups")


def _topic(enum: str) -> str:
    """``ORDERS_PAID`` -> ``orders/paid`` (the form of ``X-Shopify-Topic``)."""
    low = enum.lower()
    for resource in _RESOURCES:
        if low.startswith(resource + "_"):
            return f"{resource}/{low[len(resource) + 1:]}"
    return low.replace("_", "/", 1)


# -- entry points --------------------------------------------------------------------------------


def register(runtime: Runtime, shops: Sequence[ShopConfig], *, rackbeat: bool = True
             ) -> list[WebhookRow]:
    """Create the subscriptions the config needs (see the module doc); keep what exists.

    Args:
        runtime: Clients, store and config (``listen.public_url``).
        shops: Shops whose Shopify subscriptions to make (``--shop``); shops without
            ``webhook_secret`` are skipped with a reason (their deliveries would be refused).
        rackbeat: Also make the account's Rackbeat webhooks (the CLI passes False with
            ``--shop``, since Rackbeat's are shared by every shop).

    Returns:
        One row per subscription with its status: ``created``, ``exists``, ``exists
        (marked)``, ``moved (from ...)``, ``reactivated``, ``recreated (token was unknown)``,
        ``removed (not needed)``, ``removed (duplicate)``, ``skipped: ...`` or ``failed: ...``.

    Raises:
        ConfigError: ``listen.public_url`` is not set.
    """
    base = base_url(runtime.config)
    rows = _on_every_api(runtime, shops, base, _register_shop,
                         _register_rackbeat if rackbeat else None)
    for row in rows:
        if row.status.startswith(REPAIRED) or row.status == "exists (marked)":
            event(log, f"webhook {row.api} {row.shop} {row.topic}: {row.status}",
                  api=row.api, shop=row.shop, topic=row.topic, status=row.status)
    return rows


def list_webhooks(runtime: Runtime, shops: Sequence[ShopConfig], *, rackbeat: bool = True
                  ) -> list[WebhookRow]:
    """Every subscription of the shops (and the Rackbeat account), rackshop's marked as such.

    Status: ``rackshop`` (pointing at this listener), ``rackshop, token unknown`` (a Rackbeat
    webhook whose deliveries the listener would refuse: run ``register``), ``other`` (someone
    else's), ``failed: ...`` when the API could not be read.
    """
    base = runtime.config.listen.public_url
    base = base.rstrip("/") if base else None
    return _on_every_api(runtime, shops, base, _list_shop,
                         _list_rackbeat if rackbeat else None)


def remove(runtime: Runtime, shops: Sequence[ShopConfig], *, rackbeat: bool = True
           ) -> list[WebhookRow]:
    """Delete every one of rackshop's subscriptions (see the module doc: whatever address they
    point at, an old ``public_url`` included) and nothing else.

    Args:
        runtime: Clients, store and config.
        shops: Shops whose Shopify subscriptions to remove.
        rackbeat: Also remove the account's Rackbeat webhooks (and their token digests).
    """
    base = runtime.config.listen.public_url
    return _on_every_api(runtime, shops, base, _remove_shop,
                         _remove_rackbeat if rackbeat else None)


# -- Shopify -----------------------------------------------------------------------------------


def _on_every_api(runtime: Runtime, shops: Sequence[ShopConfig], base: Any,
                  on_shop: Callable[[Runtime, ShopConfig, Any], Iterable[WebhookRow]],
                  on_rackbeat: Callable[[Runtime, Any], Iterable[WebhookRow]] | None
                  ) -> list[WebhookRow]:
    """Run one entry point's Shopify part shop by shop, then its Rackbeat part (when given): the
    rows of all, an API's error as its ``failed`` row."""
    rows: list[WebhookRow] = []
    for shop in shops:
        rows += _guard("shopify", shop.name, partial(on_shop, runtime, shop, base))
    if on_rackbeat is not None:
        rows += _guard("rackbeat", "", partial(on_rackbeat, runtime, base))
    return rows


def _guard(api: str, shop: str, act: Callable[[], Iterable[WebhookRow]]) -> list[WebhookRow]:
    """Run one API's part; an API error becomes a ``failed`` row (the other parts still run)."""
    try:
        return list(act())
    except ConfigError:
        raise
    except RackshopError as exc:
        log.warning("webhooks: %s %s: %s", api, shop or "account", exc)
        return [WebhookRow(api, shop, "", "", "", f"failed: {describe(exc)}")]


def _subscriptions(runtime: Runtime, shop: ShopConfig) -> Iterator[dict[str, Any]]:
    yield from runtime.shopify(shop).paginate("WebhookSubscriptions", {},
                                              ("webhookSubscriptions",), page_size=100)


def _path_ends(address: str, suffix: str) -> bool:
    """Whether ``address``'s path (query left out) ends with ``suffix``, whatever the host."""
    return address.split("?", 1)[0].rstrip("/").endswith(suffix)


def _is_our_subscription(sub: dict[str, Any], shop: ShopConfig) -> bool:
    return sub.get("name") == MARKER or _path_ends(str(sub.get("uri") or ""),
                                                   f"{SHOPIFY_PATH}/{shop.name}")


def _is_our_hook(hook: dict[str, Any], known: Iterable[str]) -> bool:
    return str(hook.get("id")) in set(known) or _path_ends(str(hook.get("url") or ""),
                                                           RACKBEAT_PATH)


def _register_shop(runtime: Runtime, shop: ShopConfig, base: str) -> Iterator[WebhookRow]:
    address = shopify_address(base, shop)
    wanted = shopify_topics(shop)
    secret = shop.webhook_secret
    if wanted and (secret is None or not secret.resolved):
        yield WebhookRow("shopify", shop.name, ", ".join(wanted), address, "",
                         f"skipped: set shops.{shop.name}.webhook_secret (the app's client "
                         "secret) first, or the listener refuses every delivery")
        return
    client = runtime.shopify(shop)
    ours: dict[str, list[dict[str, Any]]] = {}
    for sub in _subscriptions(runtime, shop):
        if _is_our_subscription(sub, shop):
            ours.setdefault(_topic(str(sub["topic"])), []).append(sub)
    for topic, subs in ours.items():
        # one per topic: the one at the right address first; the rest are duplicates
        subs.sort(key=lambda x: (x.get("uri") != address, x.get("name") != MARKER))
        for extra in subs[1:] if topic in wanted else subs:
            _delete_subscription(runtime, shop, str(extra["id"]))
            yield WebhookRow("shopify", shop.name, topic, str(extra.get("uri") or ""),
                             str(extra["id"]), "removed (not needed)" if topic not in wanted
                             else "removed (duplicate)")
    for topic in wanted:
        found: dict[str, Any] | None = next(iter(ours.get(topic) or []), None)
        if found is not None and found.get("uri") == address and found.get("name") == MARKER:
            yield WebhookRow("shopify", shop.name, topic, address, str(found["id"]), "exists")
            continue
        if found is not None:
            client.mutate("WebhookSubscriptionUpdate",
                          {"id": found["id"], "uri": address, "name": MARKER},
                          root="webhookSubscriptionUpdate")
            old = str(found.get("uri") or "")
            yield WebhookRow("shopify", shop.name, topic, address, str(found["id"]),
                             "exists (marked)" if old == address else f"moved (from {old})")
            continue
        try:
            payload = client.mutate("WebhookSubscriptionCreate",
                                    {"topic": _enum(topic), "uri": address, "name": MARKER},
                                    root="webhookSubscriptionCreate")
        except ShopifyUserErrors as exc:
            if any("already been taken" in e.message for e in exc.errors):
                yield WebhookRow("shopify", shop.name, topic, address, "", "exists")
                continue
            yield WebhookRow("shopify", shop.name, topic, address, "",
                             f"failed: {exc.message}")
            continue
        sub = payload.get("webhookSubscription") or {}
        yield WebhookRow("shopify", shop.name, topic, address, str(sub.get("id") or ""),
                         "created")


def _delete_subscription(runtime: Runtime, shop: ShopConfig, sub_id: str) -> None:
    try:
        runtime.shopify(shop).mutate("WebhookSubscriptionDelete", {"id": sub_id},
                                     root="webhookSubscriptionDelete")
    except ShopifyUserErrors as exc:
        if not any("does not exist" in e.message for e in exc.errors):
            raise


def _list_shop(runtime: Runtime, shop: ShopConfig, base: str | None) -> Iterator[WebhookRow]:
    want = shopify_address(base, shop) if base is not None else None
    for sub in _subscriptions(runtime, shop):
        address = str(sub.get("uri") or "")
        status = "other"
        if _is_our_subscription(sub, shop):
            status = "rackshop"
            if want is not None and address != want:
                status += ", old address (run `rackshop webhooks register`)"
        yield WebhookRow("shopify", shop.name, _topic(str(sub.get("topic") or "")), address,
                         str(sub.get("id") or ""), status)


def _remove_shop(runtime: Runtime, shop: ShopConfig, base: str | None) -> Iterator[WebhookRow]:
    for sub in list(_subscriptions(runtime, shop)):
        if not _is_our_subscription(sub, shop):
            continue
        _delete_subscription(runtime, shop, str(sub["id"]))
        yield WebhookRow("shopify", shop.name, _topic(str(sub.get("topic") or "")),
                         str(sub.get("uri") or ""), str(sub["id"]), "removed")


# -- Rackbeat ------------------------------------------------------------------------------------


def _hooks(runtime: Runtime) -> list[dict[str, Any]]:
    return runtime.rackbeat().list_all("webhooks")


def _register_rackbeat(runtime: Runtime, base: str) -> Iterator[WebhookRow]:
    address = rackbeat_address(base)
    wanted = rackbeat_events(runtime.config)
    store = runtime.store()
    known = known_webhook_ids(store)
    configured = runtime.config.rackbeat.webhook_token is not None
    ours: dict[str, list[dict[str, Any]]] = {}
    for each in _hooks(runtime):
        if _is_our_hook(each, known):
            ours.setdefault(str(each.get("event")), []).append(each)
    for name, hooks in ours.items():
        # one per event: a known token first, then the right address, then active
        hooks.sort(key=lambda h: (str(h.get("id")) not in known, h.get("url") != address,
                                  h.get("is_active") is False))
        for extra in hooks[1:] if name in wanted else hooks:
            _delete_hook(runtime, str(extra.get("id")))
            yield WebhookRow("rackbeat", "", name, str(extra.get("url") or ""),
                             str(extra.get("id")), "removed (not needed)"
                             if name not in wanted else "removed (duplicate)")
    client = runtime.rackbeat()
    for name in wanted:
        hook: dict[str, Any] | None = next(iter(ours.get(name) or []), None)
        if hook is not None and (str(hook.get("id")) in known or configured):
            changes: dict[str, Any] = {}
            notes = []
            if hook.get("url") != address:
                changes["url"] = address
                notes.append(f"moved (from {hook.get('url')})")
            if hook.get("is_active") is False:
                changes["is_active"] = True
                notes.append("reactivated")
            if changes:  # the token stays the same, so the listener still knows it
                client.request("PUT", f"webhooks/{hook.get('id')}", body=changes,
                               idempotent=True)
            yield WebhookRow("rackbeat", "", name, address, str(hook.get("id")),
                             ", ".join(notes) or "exists")
            continue
        status = "created"
        if hook is not None:
            # Its token was shown once, to someone else: make it again to learn a new one.
            _delete_hook(runtime, str(hook.get("id")))
            status = "recreated (its token was unknown)"
        created = _create_hook(runtime, name, address)
        yield WebhookRow("rackbeat", "", name, address, str(created.get("id") or ""), status)


def _create_hook(runtime: Runtime, name: str, address: str) -> dict[str, Any]:
    """``POST /webhooks``; records the token's digest. Retries once if the token was not shown."""
    client = runtime.rackbeat()
    store = runtime.store()
    for _ in range(2):
        try:
            # Rackbeat updates the webhook with the same event and URL instead of making a
            # second one, so repeating this request after a lost answer is harmless.
            answer = client.request("POST", "webhooks",
                                    body={"event": name, "url": address, "is_active": True},
                                    idempotent=True)
        except OutcomeUnknownError:
            answer = {}
        hook = answer.get("webhook") if isinstance(answer, dict) else None
        hook = hook if isinstance(hook, dict) else {}
        token = hook.get("token")
        if token and hook.get("id") is not None:
            record_token(store, str(hook["id"]), name, address, str(token))
            return hook
        # An answer without the token (the webhook already existed): delete it and try again.
        found = next((h for h in _hooks(runtime)
                      if h.get("url") == address and h.get("event") == name), None)
        if found is not None:
            _delete_hook(runtime, str(found.get("id")))
    raise RackshopError(f"Rackbeat did not show the token of the new {name} webhook",
                        hint="run `rackshop webhooks register` again")


def _delete_hook(runtime: Runtime, hook_id: str) -> None:
    with contextlib.suppress(NotFoundError):  # already gone is what we wanted
        runtime.rackbeat().request("DELETE", f"webhooks/{hook_id}")
    forget_token(runtime.store(), hook_id)


def _list_rackbeat(runtime: Runtime, base: str | None) -> Iterator[WebhookRow]:
    store = runtime.store()
    known = known_webhook_ids(store)
    configured = runtime.config.rackbeat.webhook_token is not None
    for hook in _hooks(runtime):
        address = str(hook.get("url") or "")
        status = "other"
        if _is_our_hook(hook, known):
            status = "rackshop" if str(hook.get("id")) in known or configured else \
                "rackshop, token unknown (run `rackshop webhooks register`)"
            if base is not None and address != rackbeat_address(base):
                status += ", old address (run `rackshop webhooks register`)"
        if hook.get("is_active") is False:
            status += ", inactive"
        yield WebhookRow("rackbeat", "", str(hook.get("event") or ""), address,
                         str(hook.get("id") or ""), status)


def _remove_rackbeat(runtime: Runtime, base: str | None) -> Iterator[WebhookRow]:
    known = known_webhook_ids(runtime.store())
    for hook in _hooks(runtime):
        if not _is_our_hook(hook, known):
            continue
        _delete_hook(runtime, str(hook.get("id")))
        yield WebhookRow("rackbeat", "", str(hook.get("event") or ""),
                         str(hook.get("url") or ""), str(hook.get("id")), "removed")


# -- the listener's hourly check -------------------------------------------------------------


def check_subscriptions(runtime: Runtime) -> dict[str, Any]:
    """Every subscription the config needs exists, is active and points at ``public_url``.

    What ``rackshop listen`` runs at start and every hour: :func:`register` for every enabled
    shop and the Rackbeat account (reads only, when all is well), so a subscription Shopify
    deleted after a long outage, a Rackbeat webhook switched off, or one left at an old address
    is re-registered; what cannot be is reported (``/healthz`` shows it).

    Returns:
        ``checked`` (False when ``listen.public_url`` is not set), ``rows`` (api, shop, topic,
        status), ``repaired`` (rows a write fixed) and ``problems`` (for ``/healthz``).
    """
    if not runtime.config.listen.public_url:
        return {"checked": False, "rows": [], "repaired": [], "problems": [],
                "note": "listen.public_url is not set: subscriptions are not checked"}
    rows = register(runtime, [s for s in runtime.config.shops if s.enabled])
    out = [{"api": r.api, "shop": r.shop, "topic": r.topic, "status": r.status} for r in rows]
    repaired = [r for r in out if r["status"].startswith(REPAIRED)]
    for r in repaired:
        log.warning("listener: webhook subscription %s %s %s: %s (re-registered)",
                    r["api"], r["shop"] or "account", r["topic"], r["status"])
    problems = [f"webhook subscription {r['api']} {r['shop'] or 'account'} {r['topic']}: "
                f"{r['status']} (run `rackshop webhooks register`)".replace("  ", " ")
                for r in out if r["status"].startswith("failed")]
    return {"checked": True, "rows": out, "repaired": repaired, "problems": problems}
