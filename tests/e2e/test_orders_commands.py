"""`rackshop orders list | resolve | retry`, `status`'s count, and half-done orders re-checked.

Issue 24, case 8: an order that fails for good, entered by hand in Rackbeat, can be marked
resolved; it then stops failing sync-orders and stops counting as on its way for sync-stock.
Case 9: an order created in Rackbeat whose booking failed, then cancelled and refunded in
Shopify, is not booked by the next pass: its draft is removed, the pass names it (exit 1) and
`orders list` shows it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json

import pytest
from typer.testing import CliRunner

from rackshop import cli
from rackshop.errors import ApiUnavailableError, ExitCode
from rackshop.runtime import Runtime
from rackshop.sync.orders import sync_orders
from tests.e2e.conftest import World
from tests.e2e.test_sync_orders import rb_orders
from tests.helpers.shopify_orders import Line, OrderSpec, place

A = "BOX/12-Rød"
runner = CliRunner()


def rackshop(world: World, *args: str) -> tuple[int, str]:
    result = runner.invoke(cli.app, [*args, "--config", str(world.config_path)])
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def listed(world: World) -> dict:
    code, out = rackshop(world, "orders", "list", "--format", "json")
    assert code == ExitCode.OK, out
    return json.loads(out)


def test_case8_an_order_handled_by_hand_is_resolved(world: World) -> None:
    from rackshop.sync.stock import UNBOOKED_STATES

    twin = world.sandbox.shopify_app
    created = place(twin, "dk", OrderSpec([Line(A, 1, "782.50"), Line("", 1, "50.00")]))
    name = created["name"]
    first = sync_orders(world.runtime, world.runtime.config.select(["dk"]))
    assert first.exit_code == ExitCode.PARTIAL
    assert "without SKU" in first.shops[0].failures[0][1]
    again = sync_orders(world.fresh_runtime(), world.runtime.config.select(["dk"]))
    assert again.exit_code == ExitCode.PARTIAL  # fails until a person says it is handled

    data = listed(world)
    assert data["attention"] == 1
    [row] = data["orders"]
    assert (row["shop"], row["order"], row["kind"]) == ("dk", name, "refused")
    assert "without SKU" in row["reason"]
    code, out = rackshop(world, "status")
    assert code == ExitCode.OK and "orders needing attention: 1" in out

    code, out = rackshop(world, "orders", "resolve", "dk", name)
    assert code == ExitCode.OK, out
    assert f"dk {name}: resolved (was failed" in out
    journal = world.fresh_runtime().store().journal_get("dk", created["id"])
    assert journal is not None and journal["state"] == "resolved"
    assert journal["state"] not in UNBOOKED_STATES  # sync-stock no longer holds it back
    assert not world.runtime.store().failures("sync-orders")

    marks = world.marks()
    after = sync_orders(world.runtime, world.runtime.config.select(["dk"]))
    assert after.exit_code == ExitCode.OK, after.shops[0].failures
    assert after.shops[0].counts.get("resolved") == 1
    assert world.writes_since(marks) == (0, 0)
    assert listed(world) == {"attention": 0, "orders": []}
    code, out = rackshop(world, "status")
    assert "orders needing attention: 0" in out
    # resolving again is harmless; a transferred order needs no resolving
    assert rackshop(world, "orders", "resolve", "dk", name)[0] == ExitCode.OK


def test_resolve_and_retry_name_what_is_wrong(world: World) -> None:
    code, out = rackshop(world, "orders", "resolve", "dk", "#4242")
    assert code == ExitCode.USAGE and "#4242" in out and "orders list" in out
    code, out = rackshop(world, "orders", "resolve", "nope", "#1001")
    assert code == ExitCode.USAGE and "nope" in out
    created = place(world.sandbox.shopify_app, "dk", OrderSpec([Line(A, 1, "782.50")]))
    assert sync_orders(world.runtime, world.runtime.config.select(["dk"])).exit_code == 0
    code, out = rackshop(world, "orders", "retry", "dk", created["name"])
    assert code == ExitCode.USAGE and "not failed" in out
    code, out = rackshop(world, "orders", "resolve", "dk", created["name"])
    assert code == ExitCode.USAGE and "needs no resolving" in out


def test_retry_sends_a_refused_order_again_at_once(world: World) -> None:
    twin = world.sandbox.shopify_app
    created = place(twin, "dk", OrderSpec([Line("LATE-1", 1, "100.00")]))
    assert sync_orders(world.runtime, world.runtime.config.select(["dk"])).exit_code == 1
    # still unknown: the retry is sent (one create) and refused again
    mark = world.sandbox.rackbeat.log.mark()
    code, out = rackshop(world, "orders", "retry", "dk", created["name"])
    assert code == ExitCode.PARTIAL, out
    assert world.sandbox.rackbeat.log.counters(mark)["writes"] == 1
    assert "LATE-1" in out
    # the next scheduled pass does not send it again
    mark = world.sandbox.rackbeat.log.mark()
    assert sync_orders(world.fresh_runtime(), world.runtime.config.select(["dk"])).exit_code == 1
    assert world.sandbox.rackbeat.log.counters(mark)["writes"] == 0


def test_retry_reads_the_journalled_order_by_id_not_through_the_lagging_search(
        world: World) -> None:
    """Shopify's search answers a moment late; an order the journal knows is read by its id."""
    twin = world.sandbox.shopify_app
    created = place(twin, "dk", OrderSpec([Line("LATE-1", 1, "100.00")]))
    assert sync_orders(world.runtime, world.runtime.config.select(["dk"])).exit_code == 1
    mark = world.sandbox.shopify.log.mark()
    code, out = rackshop(world, "orders", "retry", "dk", created["name"])
    assert code == ExitCode.PARTIAL, out
    labels = [e.label for e in world.sandbox.shopify.log.entries(mark)]
    assert "query nodes" in labels, labels
    assert not any(label.startswith("query orders") for label in labels), labels


def _no_waiting(world: World) -> Runtime:
    """The world's runtime with retries that give up at once (the test injects 503s)."""
    cfg = dataclasses.replace(world.config, http=dataclasses.replace(
        world.config.http, attempts=2, backoff_seconds=0.0, max_backoff_seconds=0.0))
    world.runtime.close()
    world.runtime = Runtime(cfg)
    return world.runtime


@pytest.mark.parametrize("how", ["cancelled", "refunded"])
def test_case9_a_half_done_order_cancelled_in_shopify_is_not_booked(world: World,
                                                                    how: str) -> None:
    from rackshop.sandbox.shopify import orders as twin_orders

    twin = world.sandbox.shopify_app
    created = place(twin, "dk", OrderSpec([Line(A, 2, "782.50")]))
    name = created["name"]
    runtime = _no_waiting(world)
    world.sandbox.rackbeat.faults.configure_json(
        {"rules": [{"match": "POST /orders/*/book", "kinds": ["5xx"], "rate": 1.0}]})
    try:
        failed = sync_orders(runtime, runtime.config.select(["dk"]))
        assert failed.exit_code == ExitCode.PARTIAL
        assert "could not book" in failed.shops[0].failures[0][1]
    except ApiUnavailableError:  # or the run gave up on Rackbeat: the order is half-done
        pass
    world.sandbox.rackbeat.faults.configure_json({"rules": []})
    [draft] = [o for ref, o in rb_orders(world).items() if ref.endswith(f" {name}")]
    assert not draft["is_booked"]
    assert runtime.store().journal_get("dk", created["id"])["state"] == "created"

    if how == "cancelled":
        twin_orders.cancel(twin.shop("dk"), created["id"], refund=True)
    else:
        twin_orders.refund(twin.shop("dk"), created["id"], lines={A: 2})
    marks = world.marks()
    result = sync_orders(world.fresh_runtime(), world.runtime.config.select(["dk"]))

    assert result.exit_code == ExitCode.PARTIAL  # named: the pass that stops it exits 1
    [(record, reason)] = result.shops[0].failures
    assert record == name and f"{how} in Shopify" in reason and "removed the draft" in reason
    assert result.shops[0].counts.get("stopped") == 1
    assert not [ref for ref in rb_orders(world) if ref.endswith(f" {name}")]  # draft removed
    sent = [e.label for e in world.sandbox.rackbeat.log.entries(marks[1])]
    assert not [label for label in sent if label.endswith("/book")], sent
    journal = world.runtime.store().journal_get("dk", created["id"])
    assert journal["state"] == "stopped" and "book" not in journal["steps_done"]
    [row] = listed(world)["orders"]
    assert (row["order"], row["kind"], row["attention"]) == (name, "stopped", False)
    # later passes leave it alone and write nothing
    marks = world.marks()
    later = sync_orders(world.fresh_runtime(), world.runtime.config.select(["dk"]))
    assert later.exit_code == ExitCode.OK
    assert world.writes_since(marks) == (0, 0)


def test_case9_a_booked_order_cancelled_in_shopify_is_left_for_a_person(world: World) -> None:
    from rackshop.sandbox.shopify import orders as twin_orders

    twin = world.sandbox.shopify_app
    created = place(twin, "dk", OrderSpec([Line(A, 1, "782.50")]))
    name = created["name"]
    cfg = world.config
    shops = tuple(dataclasses.replace(s, orders=dataclasses.replace(s.orders, process_to="shipped"))
                  if s.name == "dk" else s for s in cfg.shops)
    world.runtime.close()
    world.runtime = Runtime(dataclasses.replace(cfg, shops=shops, http=dataclasses.replace(
        world.config.http, attempts=2, backoff_seconds=0.0, max_backoff_seconds=0.0)))
    world.sandbox.rackbeat.faults.configure_json(
        {"rules": [{"match": "POST /orders/*/create-shipment", "kinds": ["5xx"], "rate": 1.0}]})
    with contextlib.suppress(ApiUnavailableError):  # or the run gave up on Rackbeat
        assert sync_orders(world.runtime, world.runtime.config.select(["dk"])).exit_code == 1
    world.sandbox.rackbeat.faults.configure_json({"rules": []})
    twin_orders.cancel(twin.shop("dk"), created["id"], refund=True)

    mark = world.sandbox.rackbeat.log.mark()
    result = sync_orders(world.runtime, world.runtime.config.select(["dk"]))

    assert result.exit_code == ExitCode.PARTIAL
    [(record, reason)] = result.shops[0].failures
    assert record == name and "did not ship it" in reason and "orders resolve dk" in reason
    assert world.sandbox.rackbeat.log.counters(mark)["writes"] == 0  # left as it is
    [rb] = [o for ref, o in rb_orders(world).items() if ref.endswith(f" {name}")]
    assert rb["is_booked"] and not rb["is_shipped"]
    [row] = listed(world)["orders"]
    assert (row["kind"], row["attention"], row["rackbeat_order"]) == ("stopped", True,
                                                                       rb["number"])
    assert sync_orders(world.runtime, world.runtime.config.select(["dk"])).exit_code == 0
    assert rackshop(world, "orders", "resolve", "dk", name)[0] == ExitCode.OK
    assert listed(world) == {"attention": 0, "orders": []}
