"""``/healthz`` says what is wrong, and every order topic is acknowledged (issue 23, cases 4, 7).

The listener's WSGI application is called directly (no server, no thread), with an injected
clock, on the sandbox's config.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from rackshop.listen.queue import Delivery, DurableQueue
from rackshop.listen.server import REFUSED_WINDOW_SECONDS, ListenerApp
from rackshop.sandbox.world import WEBHOOK_SECRET
from rackshop.shopify.webhooks import sign
from rackshop.store import Store
from tests.e2e.conftest import World
from tests.e2e.test_listen import listen_config


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def call(app: ListenerApp, path: str, body: bytes = b"", method: str = "POST",
         **headers: str) -> tuple[int, dict[str, Any]]:
    environ: dict[str, Any] = {"PATH_INFO": path, "REQUEST_METHOD": method,
                               "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body)}
    environ.update({"HTTP_" + k.upper(): v for k, v in headers.items()})
    status: list[str] = []
    out = b"".join(app(environ, lambda s, h: status.append(s)))
    return int(status[0].split()[0]), json.loads(out)


def shopify(app: ListenerApp, topic: str, *, secret: str = WEBHOOK_SECRET, shop: str = "dk",
            order_id: int = 1001) -> int:
    body = json.dumps({"id": order_id, "name": "#1001"}).encode()
    code, _ = call(app, f"/webhooks/shopify/{shop}", body, X_SHOPIFY_TOPIC=topic,
                   X_SHOPIFY_HMAC_SHA256=sign(body, secret),
                   X_SHOPIFY_WEBHOOK_ID=f"w-{topic}-{order_id}")
    return code


@pytest.fixture
def app(world: World, tmp_path: Path) -> Any:
    config = listen_config(world, tmp_path, queue_limit=10)
    queue = DurableQueue(Store(config.state.path), limit=10)
    clock = Clock()
    health: dict[str, Any] = {}
    application = ListenerApp(config, queue, health=lambda: health, clock=clock)
    yield application, clock, health, queue
    queue.close()


def test_refused_deliveries_degrade_health_and_recover(app: Any) -> None:
    application, clock, _, _ = app
    assert call(application, "/healthz", method="GET")[0] == 200
    for n in range(15):  # a wrong webhook secret: every delivery refused
        assert shopify(application, "orders/paid", secret="wrong", order_id=n) == 401
    code, body = call(application, "/healthz", method="GET")
    assert code == 503 and body["status"] == "degraded"
    [problem] = [p for p in body["problems"] if "refused" in p]
    assert "15 deliveries refused" in problem and "bad_signature x15" in problem
    assert "webhook_secret" in problem
    assert body["refused_recently"] == {"bad_signature": 15}
    clock.now += REFUSED_WINDOW_SECONDS + 1  # a quarter of an hour without refusals
    code, body = call(application, "/healthz", method="GET")
    assert code == 200 and body["problems"] == []


def test_failed_polls_and_backlog_degrade_health(app: Any) -> None:
    application, _, health, queue = app
    health["worker"] = {"alive": True, "last_error": "polling pass sync-orders: shop dk: "
                        "shopify refused the credentials"}
    health["polls"] = {"sync-orders": {"last_outcome": "failed", "failures": 2},
                       "sync-stock": {"last_outcome": "ok", "failures": 0}}
    for n in range(6):  # 6 of listen.queue_limit = 10 waiting
        queue.put(Delivery("shopify", "orders/paid", "order", str(n), shop="dk",
                           delivery_id=f"d{n}"))
    code, body = call(application, "/healthz", method="GET")
    assert code == 503
    assert any(p.startswith("polling pass sync-orders failed") and "shop dk" in p
               for p in body["problems"])
    assert any(p.startswith("backlog: 6 deliveries waiting") for p in body["problems"])
    assert not any("sync-stock" in p for p in body["problems"])


@pytest.mark.parametrize("topic", ["orders/updated", "orders/cancelled", "orders/edited",
                                   "orders/create", "orders/fulfilled", "refunds/create"])
def test_every_order_topic_is_acknowledged(app: Any, topic: str) -> None:
    application, *_ = app
    assert shopify(application, topic) == 200


def test_other_topics_are_still_refused(app: Any) -> None:
    application, *_ = app
    assert shopify(application, "customers/create") == 400
