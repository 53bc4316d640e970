"""The listener's durable queue, its schedule, and the WSGI app's refusals (no HTTP, no twins)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from rackshop.config import Config, validate_dict
from rackshop.listen.queue import (
    Delivery,
    DurableQueue,
    record_token,
    token_digest,
    token_matches,
)
from rackshop.listen.schedule import ORDERS, STOCK, Schedule
from rackshop.listen.server import ListenerApp
from rackshop.shopify.webhooks import sign
from rackshop.store import Store
from tests.helpers.configs import ENV, minimal


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def order(key: str = "101", webhook_id: str | None = "w-1", shop: str = "dk") -> Delivery:
    return Delivery("shopify", "orders/paid", "order", key, shop=shop, label=f"#{key}",
                    delivery_id=webhook_id)


def stock(number: str) -> Delivery:
    return Delivery("rackbeat", "item.stock_updated", "stock", number, label=number)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def queue(tmp_path: Path, clock: FakeClock) -> Any:
    q = DurableQueue(Store(tmp_path / "state.sqlite3"), limit=3, clock=clock)
    yield q
    q.close()


# -- the queue -------------------------------------------------------------------------------


def test_the_queue_tables_come_with_the_store_migrations(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite3") as store:
        tables = {r[0] for r in store.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"webhook_queue", "webhook_seen", "webhook_tokens"} <= tables
        assert store.schema_version >= 2  # the queue tables came with migration 2


def test_put_dedupes_by_delivery_id_and_coalesces_by_key(queue: DurableQueue) -> None:
    assert queue.put(order("101", "w-1")) == "queued"
    assert queue.put(order("101", "w-1")) == "duplicate"  # Shopify's retry of the same delivery
    assert queue.put(order("101", "w-2")) == "merged"  # another delivery, same order, waiting
    assert queue.put(order("102", "w-3")) == "queued"
    assert queue.put(order("101", "w-9", shop="se")) == "queued"  # another shop's order 101
    rows = queue.rows()
    assert [(r["shop"], r["key"], r["deliveries"]) for r in rows] == [
        ("dk", "101", 2), ("dk", "102", 1), ("se", "101", 1)]
    assert queue.pending() == 3


def test_full_queue_refuses_without_writing_then_accepts_again(queue: DurableQueue) -> None:
    for n in range(3):
        assert queue.put(stock(f"SKU-{n}")) == "queued"
    assert queue.put(order("200", "w-full")) == "full"
    assert queue.put(stock("SKU-1")) == "merged"  # adds no row: still accepted
    assert len(queue.rows()) == 3
    assert queue.stats()["full"] is True
    rows = queue.claim(["stock"], limit=10)
    queue.complete([r.id for r in rows])
    # the refused delivery was not remembered as seen: Shopify's retry is queued now
    assert queue.put(order("200", "w-full")) == "queued"


def test_claim_work_and_a_new_delivery_while_working(queue: DurableQueue) -> None:
    queue.put(order("101", "w-1"))
    queue.put(stock("A"))
    rows = queue.claim(["order"], limit=10)
    assert [(r.key, r.attempts, r.deliveries) for r in rows] == [("101", 1, 1)]
    assert queue.claim(["order"], limit=10) == []  # working rows are not handed out twice
    # the order changes again while it is being processed: a row of its own, looked at later
    assert queue.put(order("101", "w-2")) == "queued"
    queue.complete([rows[0].id])
    assert queue.counts() == {"queued": 2, "working": 0, "done": 1, "failed": 0}


def test_release_delays_and_merges_into_a_waiting_row(queue: DurableQueue,
                                                      clock: FakeClock) -> None:
    queue.put(stock("A"))
    (row,) = queue.claim(["stock"])
    queue.release([row.id], delay=30.0, reason="Rackbeat down")
    assert queue.claim(["stock"]) == []  # not yet due
    assert queue.waiting(["stock"]) == (0, None, clock.now + 30.0)
    clock.now += 31
    (again,) = queue.claim(["stock"])
    assert again.id == row.id and again.attempts == 2
    # while it is worked on, a new event for A arrives; then the work is put back: one row
    queue.put(stock("A"))
    queue.release([again.id], delay=0.0)
    waiting = queue.rows("state = 'queued'")
    assert len(waiting) == 1 and waiting[0]["deliveries"] == 2
    assert queue.rows(f"id = {again.id}")[0]["state"] == "done"


def test_recover_after_a_crash_and_survive_a_reopen(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "state.sqlite3"
    q = DurableQueue(Store(path), limit=10, clock=clock)
    q.put(order("101"))
    q.put(order("102", "w-2"))
    q.claim(["order"], limit=1)  # the process dies while working on order 101
    q.store.conn.close()  # no clean shutdown
    again = DurableQueue(Store(path), limit=10, clock=clock)
    assert again.recover() == 1
    assert [r.key for r in again.claim(["order"], limit=10)] == ["101", "102"]
    assert again.put(order("101")) == "duplicate"  # the seen ids survived too
    again.close()


def test_waiting_reports_debounce_information(queue: DurableQueue, clock: FakeClock) -> None:
    assert queue.waiting(["stock"]) == (0, None, None)
    queue.put(stock("A"))
    first = clock.now
    clock.now += 1.5
    queue.put(stock("B"))
    count, oldest, later = queue.waiting(["stock", "product"])
    assert (count, oldest, later) == (2, first, None)


def test_prune_forgets_old_rows_and_ids(queue: DurableQueue, clock: FakeClock) -> None:
    queue.put(order("101", "w-1"))
    (row,) = queue.claim(["order"])
    queue.complete([row.id])
    clock.now += 7200
    assert queue.prune(keep_done=3600, keep_seen=3 * 86400) == 1
    assert queue.rows() == []
    assert queue.put(order("101", "w-1")) == "duplicate"  # still within the 3 days
    clock.now += 4 * 86400
    queue.prune(keep_done=3600, keep_seen=3 * 86400)
    assert queue.put(order("101", "w-1")) == "queued"


def test_tokens_are_stored_as_digests_only(queue: DurableQueue) -> None:
    token = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
    record_token(queue.store, "7", "item.stock_updated", "https://x/webhooks/rackbeat", token)
    dump = "\n".join(str(tuple(r)) for r in queue.store.conn.execute(
        "SELECT * FROM webhook_tokens"))
    assert token not in dump and token_digest(token) in dump
    assert token_matches(queue.token_digests(), token)
    assert not token_matches(queue.token_digests(), token[:-1] + "1")
    assert not token_matches([], token)


# -- the schedule ----------------------------------------------------------------------------


def test_schedule_runs_at_start_then_on_its_interval(clock: FakeClock) -> None:
    s = Schedule({ORDERS: 300.0, STOCK: 900.0}, clock=clock)
    assert s.due() == [ORDERS, STOCK]
    s.started(ORDERS)
    assert s.due() == [STOCK]
    clock.now += 20
    s.finished(ORDERS, "ok")  # next one 300 s after it started, not after it finished
    assert s.seconds_until_next() == 0.0  # stock is still due
    s.started(STOCK)
    s.finished(STOCK, "ok")
    assert s.seconds_until_next() == pytest.approx(280.0)
    clock.now += 280
    assert s.due() == [ORDERS]


def test_schedule_retries_a_failed_pass_soon(clock: FakeClock) -> None:
    s = Schedule({STOCK: 900.0}, clock=clock, run_at_start=False, retry_seconds=60.0)
    assert s.due() == []
    clock.now += 900
    s.started(STOCK)
    s.finished(STOCK, "locked")
    assert s.seconds_until_next() == 60.0
    status = s.status()[STOCK]
    assert status["failures"] == 1 and status["last_outcome"] == "locked"


# -- the WSGI app: what is refused, what is queued ------------------------------------------

SECRET = "shpss_app-secret-for-tests"
HOOK_TOKEN = "rackbeat-hook-token-0123456789ab"


def config(tmp_path: Path, **listen: Any) -> Config:
    data = minimal(tmp_path)
    data["shops"][0]["webhook_secret"] = {"env": "DK_HOOK"}
    data["shops"][0]["orders"]["transfer_on"] = "paid"
    data["rackbeat"]["webhook_token"] = {"env": "RB_HOOK"}
    data["listen"] = {"max_body_kb": 1, **listen}
    return validate_dict(data, env={**ENV, "DK_HOOK": SECRET, "RB_HOOK": HOOK_TOKEN},
                         base_dir=tmp_path)


def call(app: ListenerApp, path: str, body: bytes = b"", method: str = "POST",
         **headers: str) -> tuple[int, dict[str, Any]]:
    environ: dict[str, Any] = {"REQUEST_METHOD": method, "PATH_INFO": path,
                               "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body)}
    for name, value in headers.items():
        environ["HTTP_" + name.upper()] = value
    seen: list[str] = []
    out = b"".join(app(environ, lambda status, hdrs: seen.append(status)))
    return int(seen[0].split()[0]), json.loads(out)


def shopify(app: ListenerApp, body: bytes, *, topic: str = "orders/paid", shop: str = "dk",
            secret: str = SECRET, webhook_id: str = "wh-1") -> tuple[int, dict[str, Any]]:
    return call(app, f"/webhooks/shopify/{shop}", body, x_shopify_topic=topic,
                x_shopify_hmac_sha256=sign(body, secret), x_shopify_webhook_id=webhook_id,
                x_shopify_shop_domain="dk-test.myshopify.com")


@pytest.fixture
def app(tmp_path: Path, clock: FakeClock) -> Any:
    cfg = config(tmp_path)
    q = DurableQueue(Store(cfg.state.path), limit=100, clock=clock)
    yield ListenerApp(cfg, q)
    q.close()


ORDER_BODY = json.dumps({"id": 4501, "admin_graphql_api_id": "gid://shopify/Order/4501",
                         "name": "#1001"}).encode()


def test_signed_order_is_queued_once(app: ListenerApp) -> None:
    assert shopify(app, ORDER_BODY) == (200, {"result": "queued"})
    assert shopify(app, ORDER_BODY) == (200, {"result": "duplicate"})
    assert shopify(app, ORDER_BODY, webhook_id="wh-2") == (200, {"result": "merged"})
    (row,) = app.queue.rows()
    assert (row["shop"], row["key"], row["label"], row["deliveries"]) == ("dk", "4501", "#1001",
                                                                          2)


@pytest.mark.parametrize(("case", "expected"), [
    ("bad signature", (401, "bad_signature")),
    ("unknown shop", (401, "unknown_shop")),
    ("unknown topic", (400, "unknown_topic")),
    ("no order id", (400, "bad_body")),
    ("oversized", (413, "too_large")),
    ("wrong method", (405, None)),
])
def test_refused_shopify_deliveries_queue_nothing(app: ListenerApp, case: str,
                                                  expected: tuple[int, str | None]) -> None:
    if case == "bad signature":
        got = shopify(app, ORDER_BODY, secret="not-the-secret")
    elif case == "unknown shop":
        got = shopify(app, ORDER_BODY, shop="xx")
    elif case == "unknown topic":
        got = shopify(app, ORDER_BODY, topic="products/update")
    elif case == "no order id":
        got = shopify(app, b'{"name": "#1001"}')
    elif case == "oversized":
        got = shopify(app, b'{"id": 1, "pad": "' + b"x" * 2048 + b'"}')
    else:
        got = call(app, "/webhooks/shopify/dk", method="GET")
    assert got[0] == expected[0]
    if expected[1]:
        assert got[1] == {"error": expected[1]}
    assert app.queue.rows() == []


def test_non_trigger_order_topic_is_acknowledged_and_ignored(app: ListenerApp) -> None:
    assert shopify(app, ORDER_BODY, topic="orders/create") == (200, {"result": "ignored"})
    assert app.queue.rows() == []


def test_rackbeat_token_from_config_or_register(app: ListenerApp) -> None:
    body = json.dumps({"item": "SKU-1", "item_type": "product", "type": "stock"}).encode()
    event = {"rackbeat_webhook_event": "item.stock_updated"}
    assert call(app, "/webhooks/rackbeat", body, rackbeat_webhook_token="nope", **event) == \
        (401, {"error": "bad_token"})
    assert call(app, "/webhooks/rackbeat", body, **event) == (401, {"error": "bad_token"})
    assert call(app, "/webhooks/rackbeat", body, rackbeat_webhook_token=HOOK_TOKEN, **event) == \
        (200, {"result": "queued"})
    learned = "f" * 32
    record_token(app.queue.store, "9", "product.updated", "u", learned)
    assert call(app, "/webhooks/rackbeat", b'{"key_name": "number", "key": "SKU-2"}',
                rackbeat_webhook_token=learned, rackbeat_webhook_event="product.updated") == \
        (200, {"result": "queued"})
    assert call(app, "/webhooks/rackbeat", b"{}", rackbeat_webhook_token=learned,
                rackbeat_webhook_event="plugin.uninstalled") == (400, {"error": "unknown_topic"})
    assert [(r["kind"], r["key"]) for r in app.queue.rows()] == [("stock", "SKU-1"),
                                                                 ("product", "SKU-2")]


def test_healthz_reports_queue_and_degrades_when_full(tmp_path: Path, clock: FakeClock) -> None:
    cfg = config(tmp_path)
    q = DurableQueue(Store(cfg.state.path), limit=1, clock=clock)
    app = ListenerApp(cfg, q, health=lambda: {"worker": {"alive": True}})
    status, body = call(app, "/healthz", method="GET")
    assert status == 200 and body["status"] == "ok" and body["queue"]["pending"] == 0
    assert shopify(app, ORDER_BODY)[0] == 200
    assert shopify(app, ORDER_BODY.replace(b"4501", b"4502"), webhook_id="wh-2") == \
        (503, {"error": "queue full; send again later"})
    status, body = call(app, "/healthz", method="GET")
    assert status == 503 and body["problems"] == ["queue full"]
    assert body["deliveries"] == {"queued": 1, "refused_full": 1}
    q.close()
