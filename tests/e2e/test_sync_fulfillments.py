"""sync-fulfillments end to end: Rackbeat shipments become Shopify fulfilments, exactly once."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from rackshop.config import load_config
from rackshop.errors import ConfigError, ExitCode
from rackshop.runtime import Runtime
from rackshop.sandbox.world import Sandbox
from rackshop.sync.fulfillments import FulfillmentsReport, sync_fulfillments
from rackshop.sync.orders import sync_orders
from tests.e2e.conftest import World
from tests.helpers.shopify_orders import Line, OrderSpec, place

STATE = """
query($id: ID!) { order(id: $id) { displayFulfillmentStatus
  fulfillments(first: 50) { id trackingInfo(first: 10) { number company url }
    fulfillmentLineItems(first: 50) { nodes { quantity lineItem { sku } } } }
  fulfillmentOrders(first: 10) { nodes { id lineItems(first: 50) { nodes {
    id sku remainingQuantity } } } } } }
"""
A, B = "RS-1010", "RS-1011"


def _configure(path: Path, **fulfillments: Any) -> None:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    for shop in data["shops"]:
        shop["orders"].update({"transfer_on": "paid", "process_to": "booked"})
        shop["fulfillments"] = {"enabled": True, **fulfillments}
    data["http"] = {"attempts": 6, "backoff_seconds": 0.01, "max_backoff_seconds": 0.05}
    path.write_text(tomli_w.dumps(data), encoding="utf-8")


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with Sandbox(seed=3, shops=1, products=12, orders=0, time_scale=50.0) as sandbox:
        path = sandbox.write_config(tmp_path / "rackshop.toml")
        _configure(path)
        w = World(sandbox, path)
        try:
            yield w
        finally:
            w.runtime.close()


def _transfer(world: World, *specs: OrderSpec) -> list[tuple[str, int]]:
    """Place and transfer orders; (Shopify gid, Rackbeat number) of each."""
    placed = [place(world.sandbox.shopify_app, "dk", spec) for spec in specs]
    result = sync_orders(world.runtime, world.config.shops)
    assert result.shops[0].counts.get("transferred") == len(specs), result.shops[0].failures
    store = world.runtime.store()
    out = []
    for order in placed:
        row = store.conn.execute("SELECT rackbeat_number FROM order_journal WHERE "
                                 "shopify_order_id = ?", (order["id"],)).fetchone()
        out.append((order["id"], int(row[0])))
    return out


def _ship(world: World, number: int, lines: dict[str, int] | None = None,
          **tracking: str) -> int:
    """Create and mark shipped a shipment in Rackbeat (all that is left, or ``lines``)."""
    rb = world.runtime.rackbeat()
    body: dict[str, Any] = {}
    if lines is not None:
        order = rb.get_one("orders", number)
        by_sku = {str(ln["item"]["number"] if isinstance(ln.get("item"), dict)
                      else ln.get("item_id")): ln["id"] for ln in order["lines"]}
        body["lines"] = [{"line_id": by_sku[sku], "quantity": q} for sku, q in lines.items()]
    created = rb.request("POST", f"orders/{number}/create-shipment", body=body)
    sid = int(created["order_shipment"]["id"])
    rb.request("POST", f"orders/shipments/{sid}/mark-shipped", body={"pick": True, **tracking})
    return sid


def _renumber(world: World, number: str) -> None:
    """Renumber an item in Rackbeat (``number`` -> ``number``-R1), as a user may after the
    order was transferred."""
    twin = world.sandbox.rackbeat_app

    def rename() -> None:
        item = twin.account.find_item(number)
        assert item is not None
        twin.account.update_item(item, {"number": f"{number}-R1"})

    twin._python(rename)


def _state(world: World, gid: str) -> dict[str, Any]:
    return world.sandbox.shopify_app.execute("dk", STATE, {"id": gid})["data"]["order"]


def _creates(world: World, mark: int) -> int:
    return world.sandbox.shopify.log.counters(mark)["by_label"].get("mutation fulfillmentCreate",
                                                                      0)


def test_a_full_shipment_with_tracking_is_one_fulfilment_and_a_second_pass_writes_nothing(
        world: World) -> None:
    [(gid, number)] = _transfer(world, OrderSpec([Line(A, 2, "550.00"), Line(B, 1, "300.00")],
                                                 shipping="49.00"))
    _ship(world, number, tracking_number="00370712345", carrier="PostNord",
          tracking_url="https://tracking.example/00370712345")
    result = sync_fulfillments(world.runtime, world.config.shops)
    assert result.exit_code == ExitCode.OK, result.shops[0].failures
    assert result.shops[0].counts["fulfilled"] == 1
    state = _state(world, gid)
    assert state["displayFulfillmentStatus"] == "FULFILLED"
    [fulfilment] = state["fulfillments"]
    assert fulfilment["trackingInfo"] == [{"number": "00370712345", "company": "PostNord",
                                           "url": "https://tracking.example/00370712345"}]
    marks = world.marks()
    again = sync_fulfillments(world.runtime, world.config.shops)
    assert again.exit_code == ExitCode.OK
    assert world.writes_since(marks) == (0, 0)


def test_partial_shipments_fulfil_exactly_their_lines_until_the_order_is_fulfilled(
        world: World) -> None:
    [(gid, number)] = _transfer(world, OrderSpec([Line(A, 2, "550.00"), Line(B, 1, "300.00")]))
    _ship(world, number, {A: 1}, tracking_number="P1")
    sync_fulfillments(world.runtime, world.config.shops)
    state = _state(world, gid)
    assert state["displayFulfillmentStatus"] == "PARTIALLY_FULFILLED"
    left = {n["sku"]: n["remainingQuantity"]
            for fo in state["fulfillmentOrders"]["nodes"] for n in fo["lineItems"]["nodes"]}
    assert left == {A: 1, B: 1}
    _ship(world, number, tracking_number="P2, P3")  # the rest, two parcels
    result = sync_fulfillments(world.runtime, world.config.shops)
    assert result.shops[0].counts["fulfilled"] == 1
    state = _state(world, gid)
    assert state["displayFulfillmentStatus"] == "FULFILLED"
    assert len(state["fulfillments"]) == 2
    assert sorted(t["number"] for f in state["fulfillments"] for t in f["trackingInfo"]) == [
        "P1", "P2", "P3"]


def test_no_tracking_is_a_fulfilment_without_tracking(world: World) -> None:
    [(gid, number)] = _transfer(world, OrderSpec([Line(A, 1, "550.00")]))
    _ship(world, number)
    sync_fulfillments(world.runtime, world.config.shops)
    [fulfilment] = _state(world, gid)["fulfillments"]
    assert fulfilment["trackingInfo"] == []


def test_an_order_fulfilled_by_hand_is_recognised_and_not_fulfilled_again(
        world: World) -> None:
    [(gid, number)] = _transfer(world, OrderSpec([Line(A, 1, "550.00")]))
    fo = _state(world, gid)["fulfillmentOrders"]["nodes"][0]["id"]
    made = world.sandbox.shopify_app.execute(
        "dk", 'mutation($f: FulfillmentInput!) { fulfillmentCreate(fulfillment: $f) '
        '{ userErrors { message } } }', {"f": {"lineItemsByFulfillmentOrder": [
            {"fulfillmentOrderId": fo}]}})
    assert not made["data"]["fulfillmentCreate"]["userErrors"]
    _ship(world, number, tracking_number="X1")
    mark = world.sandbox.shopify.log.mark()
    result = sync_fulfillments(world.runtime, world.config.shops)
    assert result.exit_code == ExitCode.OK
    assert result.shops[0].counts["already_fulfilled"] == 1
    assert _creates(world, mark) == 0
    assert len(_state(world, gid)["fulfillments"]) == 1


def test_a_shipment_holding_more_than_shopify_has_left_fails_with_its_reason(
        world: World) -> None:
    [(gid, number)] = _transfer(world, OrderSpec([Line(A, 2, "550.00")]))
    fo = _state(world, gid)["fulfillmentOrders"]["nodes"][0]
    line = fo["lineItems"]["nodes"][0]["id"]
    world.sandbox.shopify_app.execute(  # one of the two fulfilled by hand
        "dk", 'mutation($f: FulfillmentInput!) { fulfillmentCreate(fulfillment: $f) '
        '{ userErrors { message } } }', {"f": {"lineItemsByFulfillmentOrder": [
            {"fulfillmentOrderId": fo["id"],
             "fulfillmentOrderLineItems": [{"id": line, "quantity": 1}]}]}})
    _ship(world, number)  # Rackbeat ships both
    result = sync_fulfillments(world.runtime, world.config.shops)
    assert result.exit_code == ExitCode.PARTIAL
    [(_record, reason)] = result.shops[0].failures
    assert "fewer units left to fulfil" in reason and f"{A.casefold()}: 1 of 2" in reason
    assert len(_state(world, gid)["fulfillments"]) == 1


def test_killed_between_the_fulfilment_and_the_journal_then_rerun(world: World) -> None:
    """The fulfilment is made, the process dies before it records it: the rerun finds it by
    reading the order's fulfilments and makes no second one."""
    [(gid, number)] = _transfer(world, OrderSpec([Line(A, 1, "550.00")]))
    _ship(world, number, tracking_number="K1")
    client = world.runtime.shopify(world.config.shops[0])
    send = client.mutate

    def mutate_then_die(name: str, *args: Any, **kwargs: Any) -> Any:
        send(name, *args, **kwargs)
        raise KeyboardInterrupt  # as SIGKILL would, right after Shopify applied it

    client.mutate = mutate_then_die  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        sync_fulfillments(world.runtime, world.config.shops)
    runtime = world.fresh_runtime()
    mark = world.sandbox.shopify.log.mark()
    result = sync_fulfillments(runtime, runtime.config.shops)
    assert result.exit_code == ExitCode.OK, result.shops[0].failures
    assert result.shops[0].counts["settled"] == 1
    assert _creates(world, mark) == 0
    assert len(_state(world, gid)["fulfillments"]) == 1


def test_a_fulfilment_shopify_applies_after_the_timeout_is_not_sent_again(
        world: World) -> None:
    """Shopify makes the fulfilment of 1 of 3 units 2 s after the request arrived; rackshop
    gave up waiting after 1 s and did not find it. The pass right after must not send it again
    (before the fix it did, and the late one fulfilled a second unit nobody shipped); once it
    lands it is found and recorded."""
    [(gid, number)] = _transfer(world, OrderSpec([Line(A, 3, "550.00")]))
    _ship(world, number, {A: 1}, tracking_number="S1")
    data = tomllib.loads(world.config_path.read_text(encoding="utf-8"))
    data["rackbeat"].update({"timeout_seconds": 1, "lost_answer_wait_seconds": 30})
    world.config_path.write_text(tomli_w.dumps(data), encoding="utf-8")
    world.sandbox.shopify.faults.configure_json({"slow_seconds": 2.0, "rules": [
        {"match": "mutation fulfillmentCreate", "kinds": ["slow"], "times": 1}]})

    def one_pass() -> Any:
        runtime = Runtime(load_config(world.config_path))
        try:
            return sync_fulfillments(runtime, runtime.config.shops)
        finally:
            runtime.close()

    assert one_pass().shops[0].counts.get("unsettled") == 1
    mark = world.sandbox.shopify.log.mark()
    report = FulfillmentsReport()
    runtime = Runtime(load_config(world.config_path))
    try:  # at once: the late fulfilment has not landed yet
        second = sync_fulfillments(runtime, runtime.config.shops, report=report)
    finally:
        runtime.close()
    # (the slow request is logged when it ends, maybe during this pass: not this pass's)
    sent = [e.label for e in world.sandbox.shopify.log.entries(mark)
            if e.access == "write" and e.fault != "slow"]
    assert sent == [], sent
    assert second.shops[0].counts.get("unsettled") == 1
    [waiting] = report.outcomes["dk"]
    assert "lost_answer_wait_seconds" in waiting.reason, waiting
    assert world.sandbox.shopify.wait_idle()  # the late fulfilment lands
    third = one_pass()
    assert third.exit_code == ExitCode.OK, third.shops[0].failures
    assert third.shops[0].counts.get("settled") == 1
    state = _state(world, gid)
    assert len(state["fulfillments"]) == 1
    assert [ln["remainingQuantity"] for fo in state["fulfillmentOrders"]["nodes"]
            for ln in fo["lineItems"]["nodes"]] == [2]


def test_ten_percent_faults_with_lost_answers_no_duplicate_none_missing(world: World) -> None:
    orders = _transfer(world, *[OrderSpec([Line(A, 1, "550.00"), Line(B, 2, "300.00")])
                                for _ in range(12)])
    for i, (_, number) in enumerate(orders):
        if i % 3 == 0:
            _ship(world, number, {A: 1}, tracking_number=f"T{i}a")
        _ship(world, number, tracking_number=f"T{i}")
    # Slow answers here end within the client's timeout: a create whose connection dropped
    # never lands late, so the next pass may send it again at once.
    data = tomllib.loads(world.config_path.read_text(encoding="utf-8"))
    data["rackbeat"]["lost_answer_wait_seconds"] = 0
    world.config_path.write_text(tomli_w.dumps(data), encoding="utf-8")
    world.sandbox.shopify.faults.configure_json({"seed": 11, "rules": [
        {"match": "mutation fulfillmentCreate", "kinds": ["lost"], "rate": 0.3},
        {"rate": 0.1}]})
    world.sandbox.rackbeat.faults.configure_json({"seed": 12, "rules": [{"rate": 0.1}]})
    outcome = None
    for _ in range(12):
        runtime = Runtime(load_config(world.config_path))
        try:
            outcome = sync_fulfillments(runtime, runtime.config.shops)
        except Exception:  # an API down for a whole pass: the next one goes on
            outcome = None
        finally:
            runtime.close()
        if outcome is not None and outcome.exit_code == ExitCode.OK and \
                not outcome.shops[0].counts.get("unsettled"):
            break
    injected = world.sandbox.shopify.faults.as_json()["injected"]
    world.sandbox.set_faults(0)
    final = sync_fulfillments(world.runtime, world.config.shops)
    assert final.exit_code == ExitCode.OK, final.shops[0].failures
    assert injected.get("lost", 0) >= 1, injected
    for i, (gid, _) in enumerate(orders):
        state = _state(world, gid)
        assert state["displayFulfillmentStatus"] == "FULFILLED", i
        assert len(state["fulfillments"]) == (2 if i % 3 == 0 else 1), i


def test_fulfilments_refused_with_transfer_on_fulfilled(tmp_path: Path) -> None:
    with Sandbox(seed=3, shops=1, products=4, orders=0) as sandbox:
        path = sandbox.write_config(tmp_path / "rackshop.toml")
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        data["shops"][0]["orders"]["transfer_on"] = "fulfilled"
        data["shops"][0]["fulfillments"] = {"enabled": True}
        path.write_text(tomli_w.dumps(data), encoding="utf-8")
        with pytest.raises(ConfigError, match="transfer_on") as info:
            load_config(path)
        assert info.value.problems[0].path == "shops[0].fulfillments.enabled"


def test_an_order_of_260_lines_is_fulfilled_whole(world: World) -> None:
    """Fulfilment order lines past the first page (250) are read too."""
    skus = sorted(p["number"] for p in world.sandbox.rackbeat_app.snapshot()["products"]
                  if p["number"].startswith("RS-") and not p.get("is_barred"))[:10]
    lines = [Line(skus[i % len(skus)], 1, "10.00") for i in range(260)]
    order = place(world.sandbox.shopify_app, "dk", OrderSpec(lines), direct=True)
    result = sync_orders(world.runtime, world.config.shops)
    assert result.shops[0].counts.get("transferred") == 1, result.shops[0].failures
    number = world.runtime.store().conn.execute(
        "SELECT rackbeat_number FROM order_journal WHERE shopify_order_id = ?",
        (order["id"],)).fetchone()[0]
    _ship(world, int(number), tracking_number="BIG1")
    done = sync_fulfillments(world.runtime, world.config.shops)
    assert done.exit_code == ExitCode.OK, done.shops[0].failures
    assert _state(world, order["id"])["displayFulfillmentStatus"] == "FULFILLED"


def test_real_time_a_rackbeat_order_event_fulfils_and_the_timetable_is_the_safety_net(
        world: World) -> None:
    from rackshop.listen.queue import Delivery, DurableQueue
    from rackshop.listen.schedule import FULFILLMENTS, Schedule
    from rackshop.listen.webhooks_admin import rackbeat_events
    from rackshop.listen.worker import Worker
    from rackshop.store import Store

    assert "order.updated" in rackbeat_events(world.config)
    schedule = Schedule.from_config(world.config.listen, fulfillments=True)
    assert FULFILLMENTS in schedule.status()
    [(gid, number)] = _transfer(world, OrderSpec([Line(A, 1, "550.00")]))
    _ship(world, number, tracking_number="RT1")
    queue = DurableQueue(Store(world.config.state.path), limit=10)
    worker = Worker(world.runtime, queue, debounce=0.0)
    try:
        queue.put(Delivery("rackbeat", "order.updated", "rb_order", str(number)))
        assert worker.step() is True
        assert [r["state"] for r in queue.rows()] == ["done"]
    finally:
        queue.close()
    [fulfilment] = _state(world, gid)["fulfillments"]
    assert fulfilment["trackingInfo"][0]["number"] == "RT1"
    assert worker.status()["fulfillment_passes"] == 1


@pytest.mark.parametrize(("where", "fulfilled"), [("Lager", True), ("Butik", False)])
def test_a_location_map_decides_which_shopify_location_fulfils(
        tmp_path: Path, where: str, fulfilled: bool) -> None:
    """Rackbeat location -> Shopify location: a fulfilment order assigned elsewhere is not
    fulfilled; the shipment fails with the reason."""
    with Sandbox(seed=3, shops=1, products=12, orders=0, time_scale=50.0) as sandbox:
        path = sandbox.write_config(tmp_path / "rackshop.toml")
        rb_locations = [loc["number"] for loc in sandbox.rackbeat_app.snapshot()["locations"]]
        _configure(path, location_map={str(n): where for n in rb_locations})
        world = World(sandbox, path)
        try:
            [(gid, number)] = _transfer(world, OrderSpec([Line(A, 1, "550.00")]))
            _ship(world, number)
            result = sync_fulfillments(world.runtime, world.config.shops)
            state = _state(world, gid)
            if fulfilled:
                assert result.exit_code == ExitCode.OK, result.shops[0].failures
                assert state["displayFulfillmentStatus"] == "FULFILLED"
            else:
                [(_record, reason)] = result.shops[0].failures
                assert "at the mapped location" in reason
                assert state["fulfillments"] == []
        finally:
            world.runtime.close()


def test_an_item_renamed_in_rackbeat_after_transfer_is_never_taken_as_fulfilled(
        world: World) -> None:
    """The warehouse ships an order whose item was renumbered in Rackbeat since the transfer
    (A -> A-R1), so the shipment names A-R1, which the Shopify order does not know. Before the
    fix the shipment was journalled done with nothing fulfilled and the pass exited 0 (found by
    `sandbox simulate --seed 27`). It now fails with the reason, on every pass, until a product
    link maps the new number to the order's SKU (or the merchant fulfils it by hand)."""
    [(gid, number)] = _transfer(world, OrderSpec([Line(A, 2, "550.00")]))
    _renumber(world, A)
    _ship(world, number, tracking_number="00370712345")
    for _ in range(2):
        result = sync_fulfillments(world.runtime, world.config.shops)
        assert result.exit_code != ExitCode.OK
        why = " ".join(reason for _, reason in result.shops[0].failures)
        assert f"{A}-R1" in why and "sync-products" in why, why
        assert _state(world, gid)["displayFulfillmentStatus"] == "UNFULFILLED"


def test_a_shipment_with_an_item_the_order_lacks_fulfils_the_rest_and_names_the_item(
        world: World, caplog: pytest.LogCaptureFixture) -> None:
    """An item on the Rackbeat order that the Shopify order does not have (renumbered in
    Rackbeat without a link, or added in Rackbeat) was dropped in silence when the shipment's
    other items were fulfilled. They are still fulfilled; the dropped item is now named in the
    outcome, the journal, the counts and a warning, once."""
    [(gid, number)] = _transfer(world, OrderSpec([Line(A, 2, "550.00"), Line(B, 1, "300.00")]))
    _renumber(world, B)
    sid = _ship(world, number, tracking_number="00370712345")
    report = FulfillmentsReport()
    with caplog.at_level("WARNING"):
        result = sync_fulfillments(world.runtime, world.config.shops, report=report)
    assert result.exit_code == ExitCode.OK, result.shops[0].failures
    counts = result.shops[0].counts
    assert counts["fulfilled"] == 1 and counts["items_not_on_order"] == 1
    [outcome] = report.outcomes["dk"]
    assert outcome.status == "fulfilled" and f"without {B}-R1" in outcome.reason
    assert any(f"without {B}-R1" in r.getMessage() for r in caplog.records)
    state = _state(world, gid)
    open_left = {ln["sku"]: ln["remainingQuantity"]
                 for fo in state["fulfillmentOrders"]["nodes"] for ln in fo["lineItems"]["nodes"]}
    assert open_left.get(A, 0) == 0 and open_left[B] == 1  # A made, B left for the merchant
    row = world.runtime.store().conn.execute(
        "SELECT state, reason FROM fulfillment_journal WHERE shipment_id = ?", (sid,)).fetchone()
    assert row["state"] == "done" and f"{B}-R1" in row["reason"]
    again = sync_fulfillments(world.runtime, world.config.shops)
    assert "items_not_on_order" not in again.shops[0].counts  # said once
