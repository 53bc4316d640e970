"""``rackshop listen`` end to end: the twins deliver real signed webhooks to a real listener.

1. An order placed through the Shopify twin is in the Rackbeat twin, correct, shortly after;
   a stock change in the Rackbeat twin reaches every shop.
2. Bad signature, unknown shop, bad token, oversized body: refused, nothing processed. The same
   delivery three times (and again later under a new id): one Rackbeat order.
3. The listener is killed (SIGKILL) after acknowledging and before processing; on restart every
   acknowledged order is transferred, once.
4. A short burst (200 deliveries a second for 2 seconds, loopback only): every delivery answered
   200, every queued item processed exactly once. (``bench/listen_burst.py`` is the full size.)

The tests wait on the twins' state with a generous bound; they never assert how long anything
took.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests

from rackshop.config import Config, load_config, write_config
from rackshop.errors import LockHeldError
from rackshop.listen import webhooks_admin
from rackshop.listen.queue import Delivery, DurableQueue
from rackshop.listen.schedule import Schedule
from rackshop.listen.server import serve
from rackshop.listen.worker import Worker
from rackshop.runtime import Runtime
from rackshop.sandbox.base import FaultRule
from rackshop.sandbox.world import WEBHOOK_SECRET
from rackshop.shopify.webhooks import sign
from rackshop.store import Store
from rackshop.sync.stock_plan import location_closure
from tests.e2e.conftest import World
from tests.e2e.test_sync_stock import shopify_levels
from tests.helpers.shopify_orders import Line, OrderSpec, place, variant_ids

ROOT = Path(__file__).resolve().parents[2]
HOOK_TOKEN = "listen-test-rackbeat-token-0123456789"
A, B = "BOX/12-Rød", "ÆBLE-1-M"
WAIT = 30.0  # generous bound on waiting for the twins' state (real seconds)
T = TypeVar("T")


# -- helpers -----------------------------------------------------------------------------------


def listen_config(world: World, tmp_path: Path, *, http: dict[str, Any] | None = None,
                  **listen: Any) -> Config:
    """The sandbox config plus a Rackbeat webhook token and a [listen] table."""
    data = world.sandbox.config_dict(tmp_path / "listen-secrets", world.config.state.path)
    if http:
        data["http"] = http
    token = tmp_path / "listen-secrets" / "rackbeat-webhook-token"
    token.write_text(HOOK_TOKEN + "\n", encoding="utf-8")
    token.chmod(0o600)
    data["rackbeat"]["webhook_token"] = {"file": str(token)}
    data["listen"] = {"host": "127.0.0.1", **listen}
    path = tmp_path / "listen.toml"
    write_config(data, path)
    return load_config(path)


def with_url(config: Config, url: str) -> Runtime:
    """A runtime whose listen.public_url is ``url`` (for `rackshop webhooks register`)."""
    return Runtime(dataclasses.replace(
        config, listen=dataclasses.replace(config.listen, public_url=url)))


@contextmanager
def listener(config: Config, **kwargs: Any) -> Iterator[str]:
    """`rackshop listen` on 127.0.0.1, a free port, in a thread; yields its base URL."""
    runtime = Runtime(config)
    stop = threading.Event()
    ready = threading.Event()
    where: dict[str, Any] = {}

    def on_ready(host: str, port: int) -> None:
        where["url"] = f"http://{host}:{port}"
        ready.set()

    options = {"polls": False, "debounce_seconds": 0.2, **kwargs}
    thread = threading.Thread(target=lambda: where.setdefault("summary", serve(
        runtime, "127.0.0.1", 0, stop_event=stop, ready=on_ready, **options)), daemon=True)
    thread.start()
    assert ready.wait(15), "the listener did not start"
    try:
        yield str(where["url"])
    finally:
        stop.set()
        thread.join(30)
        runtime.close()
        assert not thread.is_alive(), "the listener did not stop"


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = WAIT) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.1)


def rb_orders(world: World, shop: str, name: str) -> list[dict[str, Any]]:
    return [o for o in world.sandbox.rackbeat_app.snapshot()["orders"]
            if o.get("other_reference", "").startswith(f"rackshop:{shop}:")
            and o["other_reference"].endswith(f" {name}")]


def queue_rows(config: Config) -> list[dict[str, Any]]:
    q = DurableQueue(Store(config.state.path), limit=10)
    try:
        return q.rows()
    finally:
        q.close()


def order_body(order: dict[str, Any]) -> bytes:
    """What Shopify's order webhook carries that the listener reads (REST ids, name)."""
    legacy = int(str(order["id"]).rsplit("/", 1)[-1])
    return json.dumps({"id": legacy, "admin_graphql_api_id": order["id"],
                       "name": order["name"], "financial_status": "paid"}).encode()


def post_order(url: str, body: bytes, webhook_id: str, *, shop: str = "dk",
               secret: str = WEBHOOK_SECRET, topic: str = "orders/paid",
               session: Any = requests) -> requests.Response:
    answer: requests.Response = session.post(
        f"{url}/webhooks/shopify/{shop}", data=body, timeout=5, headers={
            "X-Shopify-Topic": topic, "X-Shopify-Hmac-Sha256": sign(body, secret),
            "X-Shopify-Webhook-Id": webhook_id, "Content-Type": "application/json"})
    return answer


# -- 1. orders and stock, delivered by the twins ------------------------------------------------


def test_order_and_stock_travel_in_real_time(world: World, tmp_path: Path) -> None:
    config = listen_config(world, tmp_path)
    twin = world.sandbox.shopify_app
    with listener(config) as url:
        registrar = with_url(config, url)
        rows = webhooks_admin.register(registrar, config.select(()))
        assert sorted((r.api, r.shop, r.topic, r.status) for r in rows) == [
            ("rackbeat", "", "item.stock_updated", "created"),
            ("rackbeat", "", "order.booked", "created"),
            ("rackbeat", "", "order.updated", "created"),  # dk takes fulfilments
            ("rackbeat", "", "product.created", "created"),
            ("rackbeat", "", "product.updated", "created"),
            ("shopify", "dk", "orders/cancelled", "created"),  # changes after transfer
            ("shopify", "dk", "orders/edited", "created"),
            ("shopify", "dk", "orders/paid", "created"),
            ("shopify", "dk", "refunds/create", "created"),
            ("shopify", "se", "orders/cancelled", "created"),
            ("shopify", "se", "orders/edited", "created"),
            ("shopify", "se", "orders/fulfilled", "created"),
            ("shopify", "se", "refunds/create", "created")]
        again = webhooks_admin.register(registrar, config.select(()))
        assert {r.status for r in again} == {"exists"}

        dk = place(twin, "dk", OrderSpec([Line(A, 2, "782.50")], shipping="49.00"))
        se = place(twin, "se", OrderSpec([Line(B, 1, "796.00")],
                                         extra={"fulfillmentStatus": "FULFILLED"}))
        for shop, order, flags in (("dk", dk, ("is_booked",)),
                                   ("se", se, ("is_booked", "is_shipped", "is_invoiced"))):
            found = wait_for(f"{shop} {order['name']} in Rackbeat",
                             lambda s=shop, o=order, f=flags: [  # type: ignore[misc]
                                 r for r in rb_orders(world, s, o["name"])
                                 if all(r.get(x) for x in f)])
            assert len(found) == 1
            total = Decimal(twin.shop(shop).orders[order["id"]]["currentTotalPriceSet"]
                            ["shopMoney"]["amount"])
            assert Decimal(str(found[0]["total_total"])).quantize(Decimal("0.01")) == total

        # A stock change in Rackbeat reaches both shops (dk Lager <- location 1; se Lager <- all
        # locations, buffer 1). The SKU is in neither order, so nothing is on its way.
        rb = world.sandbox.rackbeat_app
        sku = next(s for (s, loc) in shopify_levels(world.sandbox, "dk")
                   if loc == "Lager" and (s, "Lager") in shopify_levels(world.sandbox, "se")
                   and s not in (A, B))
        rb.set_stock(sku, 1, 37)
        locations = registrar.rackbeat().locations()

        def expected(closure: set[int], buffer: int) -> int:
            per = _available(world, sku)
            return max(0, int(sum(q for n, q in per.items() if n in closure)) - buffer)

        want_dk = expected(location_closure(locations, [1]), 0)
        want_se = expected(location_closure(locations, None), 1)
        wait_for("the new stock in both shops", lambda: (
            shopify_levels(world.sandbox, "dk").get((sku, "Lager")) == want_dk
            and shopify_levels(world.sandbox, "se").get((sku, "Lager")) == want_se))

        # A product changed in Rackbeat reaches dk, whose products come from Rackbeat.
        registrar.rackbeat().update("products", sku, {"barcode": "5709999000017"})
        wait_for("the new barcode in dk", lambda: barcodes(world, "dk").get(sku) ==
                 "5709999000017")
        assert barcodes(world, "se").get(sku) != "5709999000017"  # se is its own master
        registrar.close()

        # dk now transfers on creation: register swaps its topic; remove takes rackshop's away
        shops = tuple(dataclasses.replace(s, orders=dataclasses.replace(
            s.orders, transfer_on="created")) if s.name == "dk" else s for s in config.shops)
        changed = with_url(dataclasses.replace(config, shops=shops), url)
        swapped = webhooks_admin.register(changed, changed.config.select(["dk"]),
                                          rackbeat=False)
        assert sorted((r.topic, r.status) for r in swapped if r.status != "exists") == [
            ("orders/create", "created"), ("orders/paid", "removed (not needed)")]
        removed = webhooks_admin.remove(changed, changed.config.select(()))
        assert len(removed) == 13 and {r.status for r in removed} == {"removed"}
        listed = webhooks_admin.list_webhooks(changed, changed.config.select(()))
        assert all(r.status != "rackshop" for r in listed)
        changed.close()

    rows_done = queue_rows(config)
    assert rows_done and all(r["state"] == "done" for r in rows_done)


def barcodes(world: World, shop: str) -> dict[str, str | None]:
    data = world.sandbox.shopify_app.execute(
        shop, "{ productVariants(first: 250) { nodes { sku barcode } } }")["data"]
    return {v["sku"]: v["barcode"] for v in data["productVariants"]["nodes"] if v["sku"]}


def _available(world: World, sku: str) -> dict[int, float]:
    product = next(p for p in world.sandbox.rackbeat_app.snapshot()["products"]
                   if p["number"] == sku)
    return {loc["number"]: loc["available_quantity"] for loc in product["locations"]}


# -- 2. refusals and duplicates -------------------------------------------------------------------


def test_refused_deliveries_and_duplicates(world: World, tmp_path: Path) -> None:
    config = listen_config(world, tmp_path, max_body_kb=8)
    twin = world.sandbox.shopify_app
    order = place(twin, "dk", OrderSpec([Line(A, 1, "782.50")]))  # before any subscription
    body = order_body(order)
    with listener(config) as url:
        assert post_order(url, body, "w-bad", secret="not-the-app-secret").status_code == 401
        assert post_order(url, body, "w-unknown", shop="nowhere").status_code == 401
        big = json.dumps({"id": 1, "pad": "x" * 9000}).encode()
        assert post_order(url, big, "w-big").status_code == 413
        assert post_order(url, body, "w-topic", topic="customers/create").status_code == 400
        stock_event = {"Rackbeat-Webhook-Event": "item.stock_updated"}
        refused = requests.post(f"{url}/webhooks/rackbeat", timeout=5, json={"item": A},
                                headers={**stock_event, "Rackbeat-Webhook-Token": "guess"})
        assert refused.status_code == 401
        health = requests.get(f"{url}/healthz", timeout=5).json()
        assert health["queue"]["pending"] == 0 and health["queue"]["done"] == 0
        assert queue_rows(config) == []
        with pytest.raises(LockHeldError):  # one listener per state store
            serve(Runtime(config), "127.0.0.1", 0, polls=False)

        answers = [post_order(url, body, "w-same").json()["result"] for _ in range(3)]
        assert answers == ["queued", "duplicate", "duplicate"]
        wait_for("the order in Rackbeat", lambda: rb_orders(world, "dk", order["name"]))
        # a later delivery under a new id (e.g. orders/paid after a manual re-send): the
        # journal knows the order is done
        assert post_order(url, body, "w-later").json()["result"] == "queued"
        wait_for("both queue rows processed", lambda: [
            r for r in queue_rows(config) if r["state"] == "done"][1:])
    assert len(rb_orders(world, "dk", order["name"])) == 1
    rows = queue_rows(config)
    assert [(r["key"], r["deliveries"], r["attempts"], r["state"]) for r in rows] == [
        (body_id(body), 1, 1, "done"), (body_id(body), 1, 1, "done")]


def body_id(body: bytes) -> str:
    return str(json.loads(body)["id"])


# -- 3. killed after acknowledging, before processing ---------------------------------------------

SUBPROCESS = """
import json, sys
from pathlib import Path
from rackshop.config import load_config
from rackshop.listen.server import serve
from rackshop.runtime import Runtime
from rackshop.sandbox.base import FaultRule
runtime = Runtime(load_config(Path(sys.argv[1])))
summary = serve(runtime, "127.0.0.1", 0, process=sys.argv[2] == "work", polls=False,
                debounce_seconds=0.2, ready=lambda host, port: print(port, flush=True))
print(json.dumps({"deliveries": summary.deliveries, "queue": summary.queue}), flush=True)
"""


def start_listener_process(config: Config, mode: str) -> tuple[subprocess.Popen[str], str]:
    """`rackshop listen` in a process of its own (``mode``: ``work`` or ``receive``)."""
    proc = subprocess.Popen([sys.executable, "-c", SUBPROCESS, str(config.source), mode],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.strip():
        proc.kill()
        proc.wait(10)
        proc.stdout.close()
        pytest.fail("the listener process did not start")
    return proc, f"http://127.0.0.1:{int(line)}"


def test_killed_before_processing_loses_nothing(world: World, tmp_path: Path) -> None:
    config = listen_config(world, tmp_path)
    assert config.source is not None
    twin = world.sandbox.shopify_app
    proc, url = start_listener_process(config, "receive")
    try:
        registrar = with_url(config, url)
        webhooks_admin.register(registrar, config.select(["dk"]), rackbeat=False)
        registrar.close()
        ids = variant_ids(twin, "dk")
        orders = [place(twin, "dk", OrderSpec([Line(A, 1 + n, "782.50")]), ids=ids)
                  for n in range(2)]

        def acknowledged() -> bool:
            done = [d for d in twin.shop("dk").deliveries
                    if d["topic"] == "orders/paid" and d["status"] == "delivered"]
            return len(done) == 2

        wait_for("both deliveries acknowledged", acknowledged)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    rows = queue_rows(config)
    assert [r["state"] for r in rows] == ["queued", "queued"]
    assert all(not rb_orders(world, "dk", o["name"]) for o in orders)
    # the second one as if the worker had taken it when the process died
    with Store(config.state.path) as store, store.transaction() as c:
        c.execute("UPDATE webhook_queue SET state = 'working', attempts = 1 WHERE id = ?",
                  (rows[1]["id"],))

    with listener(config):
        wait_for("both orders transferred", lambda: all(
            rb_orders(world, "dk", o["name"]) for o in orders) and all(
            r["state"] == "done" for r in queue_rows(config)))
    for o in orders:
        assert len(rb_orders(world, "dk", o["name"])) == 1
    refs = collections.Counter(o["other_reference"]
                               for o in world.sandbox.rackbeat_app.snapshot()["orders"])
    assert set(refs.values()) == {1}


def test_sigterm_finishes_the_work_and_exits_cleanly(world: World, tmp_path: Path) -> None:
    config = listen_config(world, tmp_path)
    order = place(world.sandbox.shopify_app, "dk", OrderSpec([Line(A, 1, "782.50")]))
    proc, url = start_listener_process(config, "work")
    try:
        assert post_order(url, order_body(order), "w-term").json()["result"] == "queued"
        wait_for("the order in Rackbeat", lambda: rb_orders(world, "dk", order["name"]))
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        assert proc.stdout is not None
        summary = json.loads(proc.stdout.read().strip().splitlines()[-1])
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
    assert summary["deliveries"] == {"queued": 1}
    assert summary["queue"]["working"] == 0 and summary["queue"]["queued"] == 0
    assert summary["queue"]["done"] == 1


def test_polling_safety_net_catches_a_lost_delivery(world: World, tmp_path: Path) -> None:
    config = listen_config(world, tmp_path, orders_poll_minutes=5, stock_poll_minutes=15)
    runtime = Runtime(config)
    now = [time.time()]
    queue = DurableQueue(Store(config.state.path), limit=100, clock=lambda: now[0])
    schedule = Schedule.from_config(config.listen, clock=lambda: now[0], run_at_start=False)
    worker = Worker(runtime, queue, schedule=schedule, clock=lambda: now[0])
    order = place(world.sandbox.shopify_app, "dk", OrderSpec([Line(A, 1, "782.50")]))
    try:
        assert worker.step() is False  # its delivery was lost, and no pass is due yet
        now[0] += 5 * 60
        assert worker.step() is True  # the orders pass
        assert len(rb_orders(world, "dk", order["name"])) == 1
        assert worker.step() is False  # stock is not due before 15 minutes
        now[0] += 10 * 60
        assert schedule.due() == ["sync-orders", "sync-stock"]  # the longest overdue first
        assert worker.step() is True and worker.step() is True
        assert worker.step() is False
        status = schedule.status()
        assert (status["sync-orders"]["runs"], status["sync-stock"]["runs"]) == (2, 1)
        assert status["sync-orders"]["last_outcome"] == "ok"
        assert status["sync-stock"]["last_outcome"] == "ok"
    finally:
        queue.close()
        runtime.close()


def test_a_batch_that_cannot_run_is_tried_again_later(world: World, tmp_path: Path) -> None:
    config = listen_config(world, tmp_path, http={"attempts": 1})
    runtime = Runtime(config)
    now = [time.time()]
    queue = DurableQueue(Store(config.state.path), limit=100, clock=lambda: now[0])
    worker = Worker(runtime, queue, clock=lambda: now[0], retry_base=5.0, max_attempts=2)
    order = place(world.sandbox.shopify_app, "dk", OrderSpec([Line(A, 1, "782.50")]))
    legacy = str(order["id"]).rsplit("/", 1)[-1]
    try:
        queue.put(Delivery("shopify", "orders/paid", "order", legacy, shop="dk",
                           delivery_id="w-down"))
        world.sandbox.rackbeat.faults.configure([FaultRule(kinds=("5xx",), rate=1.0)])
        assert worker.step() is True  # Rackbeat answers 500: the row goes back, delayed
        (row,) = queue.rows()
        assert (row["state"], row["attempts"], row["not_before"]) == ("queued", 1, now[0] + 5)
        assert worker.step() is False  # not due yet
        world.sandbox.rackbeat.faults.configure([])
        now[0] += 5
        assert worker.step() is True
        assert [r["state"] for r in queue.rows()] == ["done"]
        assert len(rb_orders(world, "dk", order["name"])) == 1
        assert worker.status()["rows_retried"] == 1

        # a row that keeps failing is given up after max_attempts (the passes catch it)
        queue.put(Delivery("rackbeat", "order.booked", "rb_order", "1001"))
        world.sandbox.rackbeat.faults.configure([FaultRule(kinds=("5xx",), rate=1.0)])
        now[0] += 10
        assert worker.step() is True
        now[0] += 10
        assert worker.step() is True
        failed = queue.rows("state = 'failed'")
        assert len(failed) == 1 and failed[0]["reason"].startswith("given up after 2 attempts")
    finally:
        world.sandbox.rackbeat.faults.configure([])
        queue.close()
        runtime.close()


# -- 4. a short burst ------------------------------------------------------------------------------


def test_short_burst_every_delivery_acknowledged_and_processed_once(world: World,
                                                                    tmp_path: Path) -> None:
    config = listen_config(world, tmp_path)
    twin = world.sandbox.shopify_app
    ids = variant_ids(twin, "dk")
    orders = [place(twin, "dk", OrderSpec([Line(A, 1, "782.50")], email=f"b{n}@example.com"),
                    ids=ids) for n in range(4)]
    skus = [s for (s, loc) in shopify_levels(world.sandbox, "dk") if loc == "Lager"][:6]
    rate, seconds = 200, 2
    total = rate * seconds
    plan: list[tuple[str, Any]] = []
    for i in range(total):
        if i % 10 == 9:  # Shopify sends delivery i - 2 again (same id, same body)
            plan.append(("shopify", (orders[(i - 2) // 2 % 4], f"w-{i - 2}")))
        elif i % 2:
            plan.append(("shopify", (orders[i // 2 % 4], f"w-{i}")))
        else:
            plan.append(("rackbeat", skus[i // 2 % len(skus)]))
    local = threading.local()

    def send(i: int, start: float, url: str) -> str:
        time.sleep(max(0.0, start + i / rate - time.monotonic()))
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
            session.trust_env = False
        kind, what = plan[i]
        try:
            if kind == "shopify":
                order, hook = what
                answer = post_order(url, order_body(order), hook, session=session)
            else:
                answer = session.post(f"{url}/webhooks/rackbeat", json={
                    "item": what, "item_type": "product", "type": "stock"}, timeout=5, headers={
                    "Rackbeat-Webhook-Token": HOOK_TOKEN,
                    "Rackbeat-Webhook-Event": "item.stock_updated"})
        except requests.RequestException as exc:
            return f"error {type(exc).__name__}"
        if answer.status_code != 200:
            return f"HTTP {answer.status_code}"
        return str(answer.json()["result"])

    with listener(config) as url, ThreadPoolExecutor(16) as pool:
        start = time.monotonic()
        results = list(pool.map(lambda i: send(i, start, url), range(total)))
        outcome = collections.Counter(results)
        assert set(outcome) <= {"queued", "merged", "duplicate"}, outcome
        assert outcome["duplicate"] == total // 10
        wait_for("the queue drained", lambda: (rows := queue_rows(config)) and all(
            r["state"] == "done" for r in rows))

    rows = queue_rows(config)
    # exactly once: every accepted delivery is counted in exactly one row, each row was
    # taken once, and each order is in Rackbeat once
    assert sum(r["deliveries"] for r in rows) == outcome["queued"] + outcome["merged"]
    assert {r["attempts"] for r in rows} == {1}
    for order in orders:
        assert len(rb_orders(world, "dk", order["name"])) == 1
    assert {r["key"] for r in rows if r["kind"] == "stock"} == set(skus)
