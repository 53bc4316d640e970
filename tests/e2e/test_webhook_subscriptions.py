"""Webhook subscriptions kept healthy (issue 23, case 7), against the twins.

rackshop recognises its own subscriptions by a marker (Shopify: the subscription's ``name``;
Rackbeat: the tokens it recorded, and its path), not by the current ``listen.public_url``: after
the address changes, ``register`` moves them; an inactive Rackbeat webhook is switched on again;
``remove`` deletes all of them; the listener's check re-registers what Shopify deleted and
reports what it cannot.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import requests

from rackshop.config import Config
from rackshop.listen import webhooks_admin
from rackshop.listen.schedule import WEBHOOKS, Schedule
from rackshop.listen.server import ListenerApp
from tests.e2e.conftest import World
from tests.e2e.test_listen import listen_config, with_url
from tests.e2e.test_listen_health import call

OLD, NEW = "http://127.0.0.1:9/old", "http://127.0.0.1:9/new"
THEIRS = "http://127.0.0.1:9/someone-else/hook"


def shopify_subs(world: World, shop: str) -> list[dict[str, Any]]:
    return list(world.sandbox.shopify_app.shop(shop).webhook_subscriptions.values())


def rackbeat_hooks(world: World) -> list[Any]:
    return list(world.sandbox.rackbeat_app.account.webhooks.values())


def _trigger_only(config: Config) -> Config:
    """The config with orders.after_transfer = "report": one order topic per shop (the change
    topics of "sync" are counted in tests/e2e/test_orders_after_transfer.py)."""
    return dataclasses.replace(config, shops=tuple(
        dataclasses.replace(s, orders=dataclasses.replace(s.orders, after_transfer="report"))
        for s in config.shops))


def test_register_moves_reactivates_and_remove_deletes_all(world: World, tmp_path: Path
                                                           ) -> None:
    config = _trigger_only(listen_config(world, tmp_path))
    old = with_url(config, OLD)
    first = webhooks_admin.register(old, config.select(()))
    # dk, se orders; Rackbeat stock (2), products (2), fulfilments (order.updated)
    assert {r.status for r in first} == {"created"} and len(first) == 7
    # someone else's subscription on the same topic: never touched
    world.sandbox.shopify_app.execute(
        "dk", 'mutation { webhookSubscriptionCreate(topic: ORDERS_PAID, webhookSubscription: '
        f'{{uri: "{THEIRS}", format: JSON}}) {{ userErrors {{ message }} }} }}')
    old.close()

    # listen.public_url changes: register moves rackshop's subscriptions, adds none
    new = with_url(config, NEW)
    moved = webhooks_admin.register(new, config.select(()))
    assert sorted((r.api, r.shop, r.status.split(" (")[0]) for r in moved) == sorted(
        [("shopify", "dk", "moved"), ("shopify", "se", "moved")]
        + [("rackbeat", "", "moved")] * 5)
    dk = shopify_subs(world, "dk")
    assert sorted(s["uri"] for s in dk) == sorted([f"{NEW}/webhooks/shopify/dk", THEIRS])
    assert all(h.url == f"{NEW}/webhooks/rackbeat" for h in rackbeat_hooks(world))
    assert len(rackbeat_hooks(world)) == 5
    listed = webhooks_admin.list_webhooks(new, config.select(()))
    assert sorted(r.status for r in listed if r.api == "shopify") == [
        "other", "rackshop", "rackshop"]
    # the tokens stayed: the listener still knows every Rackbeat webhook
    assert all(r.status == "rackshop" for r in listed if r.api == "rackbeat")

    # a Rackbeat webhook switched off, and a Shopify subscription deleted (as Shopify does after
    # a long outage): register repairs both
    hook = rackbeat_hooks(world)[0]
    hook.is_active = False
    se_sub = shopify_subs(world, "se")[0]
    world.sandbox.shopify_app.execute(
        "se", f'mutation {{ webhookSubscriptionDelete(id: "{se_sub["id"]}") '
        '{ userErrors { message } } }')
    check = webhooks_admin.check_subscriptions(new)
    assert check["checked"] and check["problems"] == []
    assert sorted((r["api"], r["status"]) for r in check["repaired"]) == [
        ("rackbeat", "reactivated"), ("shopify", "created")]
    assert hook.is_active is True
    assert [s["uri"] for s in shopify_subs(world, "se")] == [f"{NEW}/webhooks/shopify/se"]
    again = webhooks_admin.register(new, config.select(()))
    assert {r.status for r in again} == {"exists"}

    # remove: every rackshop subscription, wherever it points; someone else's stays
    stale = with_url(config, OLD)  # run with the old address configured: still all of them
    removed = webhooks_admin.remove(stale, config.select(()))
    assert len(removed) == 7 and {r.status for r in removed} == {"removed"}
    assert [s["uri"] for s in shopify_subs(world, "dk")] == [THEIRS]
    assert shopify_subs(world, "se") == [] and rackbeat_hooks(world) == []
    for rt in (new, stale):
        rt.close()


def test_listener_check_reports_what_it_cannot_repair(world: World, tmp_path: Path) -> None:
    config = listen_config(world, tmp_path)
    runtime = with_url(config, NEW)
    assert WEBHOOKS in Schedule.from_config(runtime.config.listen).due()  # at start, hourly
    resp = requests.post(f"{world.sandbox.shopify.url}/__sandbox/token",
                         json={"shop": "dk", "token": None}, timeout=5)
    assert resp.status_code == 200
    check = webhooks_admin.check_subscriptions(runtime)
    [problem] = check["problems"]
    assert "shopify dk" in problem and "refused the credentials" in problem
    assert {r["shop"] for r in check["repaired"]} >= {"se"}  # the other shop is registered

    from rackshop.listen.queue import DurableQueue
    from rackshop.store import Store

    queue = DurableQueue(Store(config.state.path), limit=10)
    try:
        app = ListenerApp(config, queue, health=lambda: {"subscriptions": check})
        code, body = call(app, "/healthz", method="GET")
        assert code == 503 and any("webhook subscription shopify dk" in p
                                   for p in body["problems"])
    finally:
        queue.close()
        runtime.close()
