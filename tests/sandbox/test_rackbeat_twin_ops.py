"""The Rackbeat twin's operational side over HTTP: limiter, webhooks, admin API, faults."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from rackshop.sandbox.base import Clock, TwinServer
from rackshop.sandbox.rackbeat import RackbeatTwin

TOKEN = "sandbox-rackbeat-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class FakeMonotonic:
    """A monotonic time source the test moves by hand."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def call(
    session: requests.Session,
    server: TwinServer,
    method: str,
    path: str,
    token: str = TOKEN,
    **kwargs: Any,
) -> requests.Response:
    return session.request(
        method,
        f"{server.url}{path}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
        **kwargs,
    )


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s


# -- rate limiter -----------------------------------------------------------------------------


def test_burst_over_the_limit_gets_429_until_the_window_slides(session: requests.Session) -> None:
    mono = FakeMonotonic()
    twin = RackbeatTwin(
        Clock(scale=60, monotonic=mono), requests_per_minute=5, tokens=(TOKEN, "other")
    )
    with TwinServer(twin) as server:
        statuses = [call(session, server, "GET", "/api/products").status_code for _ in range(5)]
        assert statuses == [206] * 5
        mono.t += 0.5  # 30 twin seconds: still inside the window
        throttled = call(session, server, "GET", "/api/products")
        assert throttled.status_code == 429
        assert throttled.json() == {"message": "Too Many Attempts."}
        assert throttled.headers["Retry-After"] == "1"  # 30 twin s at scale 60, rounded up
        assert call(session, server, "GET", "/api/self").status_code == 429
        assert call(session, server, "GET", "/api/products", token="other").status_code == 206
        mono.t += 0.51  # the first five have left the window
        # Refused requests did not count: a full allowance is available again.
        statuses = [call(session, server, "GET", "/api/products").status_code for _ in range(6)]
        assert statuses == [206] * 5 + [429]
        counters = server.log.counters()
        assert counters["throttled"] == 3
        assert counters["by_status"]["429"] == 3
    twin.close()


def test_limiter_on_a_scaled_real_clock(session: requests.Session) -> None:
    twin = RackbeatTwin(Clock(scale=60), requests_per_minute=3)  # a 1-second window
    with TwinServer(twin) as server:
        statuses = [call(session, server, "GET", "/api/self").status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        retry = int(call(session, server, "GET", "/api/self").headers["Retry-After"])
        assert retry == 1
        time.sleep(retry + 0.05)
        assert call(session, server, "GET", "/api/self").status_code == 200
    twin.close()


def test_unauthenticated_requests_do_not_use_the_allowance(session: requests.Session) -> None:
    twin = RackbeatTwin(Clock(scale=60, monotonic=FakeMonotonic()), requests_per_minute=2)
    with TwinServer(twin) as server:
        for _ in range(3):
            assert call(session, server, "GET", "/api/self", token="bad").status_code == 401
        assert [call(session, server, "GET", "/api/self").status_code for _ in range(3)] == [
            200,
            200,
            429,
        ]
    twin.close()


# -- webhooks ---------------------------------------------------------------------------------


class Receiver:
    """A local webhook receiver that records calls and answers scripted statuses."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.statuses = list(statuses or [])
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.calls.append(
                        {"path": self.path, "headers": dict(self.headers), "body": json.loads(body)}
                    )
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}
        )
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def events(self) -> list[tuple[str, Any]]:
        with self.lock:
            return [(c["headers"]["Rackbeat-Webhook-Event"], c["body"]) for c in self.calls]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def shop_twin(**kwargs: Any) -> RackbeatTwin:
    twin = RackbeatTwin(Clock(scale=60), account_id=777, **kwargs)
    twin.add_location(1, "Main", is_default=True)
    twin.add_product_group(1, "Goods")
    twin.add_product("A-1", "Apple", 10.0, 1, stock={1: 5})
    twin.add_customer("Jane", "jane@example.com")
    return twin


def subscribe(
    session: requests.Session, server: TwinServer, event: str, url: str
) -> requests.Response:
    return call(session, server, "POST", "/api/webhooks", json={"event": event, "url": url})


def test_webhook_crud_and_token_only_on_create(
    session: requests.Session, receiver: Receiver
) -> None:
    twin = shop_twin()
    with TwinServer(twin) as server:
        created = subscribe(session, server, "product.created", receiver.url)
        assert created.status_code == 201
        hook = created.json()["webhook"]
        assert len(hook["token"]) == 32
        assert (hook["event"], hook["is_active"], hook["failures_since_last_success"]) == (
            "product.created",
            True,
            0,
        )
        again = subscribe(session, server, "product.created", receiver.url)
        assert again.status_code == 200
        assert again.json()["webhook"]["id"] == hook["id"]
        assert "token" not in again.json()["webhook"]
        listed = call(session, server, "GET", "/api/webhooks").json()["webhooks"]
        assert [h["id"] for h in listed] == [hook["id"]]
        assert "token" not in listed[0]
        outside = subscribe(session, server, "product.created", "https://example.com/hook")
        assert outside.status_code == 422
        assert "url" in outside.json()["errors"]
        assert subscribe(session, server, "no.such_event", receiver.url).status_code == 422
        upd = call(session, server, "PUT", f"/api/webhooks/{hook['id']}", json={"is_active": False})
        assert upd.json()["webhook"]["is_active"] is False
        assert call(session, server, "DELETE", f"/api/webhooks/{hook['id']}").status_code == 200
        assert call(session, server, "GET", f"/api/webhooks/{hook['id']}").status_code == 404
    twin.close()


def test_webhooks_are_delivered_with_the_real_headers_and_bodies(
    session: requests.Session, receiver: Receiver
) -> None:
    twin = shop_twin()
    with TwinServer(twin) as server:
        tokens = {}
        for event in ("product.created", "order.created", "order.booked", "item.stock_updated"):
            tokens[event] = subscribe(session, server, event, receiver.url).json()["webhook"][
                "token"
            ]
        call(
            session,
            server,
            "POST",
            "/api/products",
            json={"number": "NEW 1", "name": "New", "group": 1, "sales_price": 5},
        )
        order = call(
            session,
            server,
            "POST",
            "/api/orders/drafts",
            json={"customer_id": 1001, "lines": [{"item_id": "A-1", "quantity": 2}]},
        ).json()["order"]
        call(session, server, "POST", f"/api/orders/{order['number']}/book")
        assert twin.wait_for_webhooks(5)
    assert sorted(receiver.events(), key=lambda e: e[0]) == [
        ("item.stock_updated", {"item": "A-1", "item_type": "product", "type": "stock"}),
        ("order.booked", {"key_name": "number", "key": "1001"}),
        ("order.created", {"key_name": "number", "key": "1001"}),
        ("product.created", {"key_name": "number", "key": "NEW 1"}),
    ]
    for c in receiver.calls:
        headers = c["headers"]
        assert headers["User-Agent"] == "Rackbeat Webhook"
        assert headers["Rackbeat-Account-Id"] == "777"
        assert headers["Rackbeat-Webhook-Token"] == tokens[headers["Rackbeat-Webhook-Event"]]
        assert c["path"] == "/hook"
    twin.close()


def test_suppress_webhooks_in_query_or_body(session: requests.Session, receiver: Receiver) -> None:
    twin = shop_twin()
    with TwinServer(twin) as server:
        subscribe(session, server, "product.created", receiver.url)
        call(
            session,
            server,
            "POST",
            "/api/products",
            params={"suppress_webhooks": "true"},
            json={"number": "Q", "name": "Q", "group": 1, "sales_price": 1},
        )
        call(
            session,
            server,
            "POST",
            "/api/products",
            json={
                "number": "B",
                "name": "B",
                "group": 1,
                "sales_price": 1,
                "suppress_webhooks": True,
            },
        )
        call(
            session,
            server,
            "POST",
            "/api/products",
            json={"number": "C", "name": "C", "group": 1, "sales_price": 1},
        )
        assert twin.wait_for_webhooks(5)
    assert receiver.events() == [("product.created", {"key_name": "number", "key": "C"})]
    twin.close()


def test_failed_deliveries_are_retried_a_bounded_number_of_times(session: requests.Session) -> None:
    flaky = Receiver(statuses=[500, 503])
    dead = Receiver(statuses=[500] * 10)
    twin = shop_twin(webhook_retry_delays=(0.5, 0.5))  # twin seconds: 8 ms at scale 60
    with TwinServer(twin) as server:
        subscribe(session, server, "item.stock_updated", flaky.url)
        hook = subscribe(session, server, "item.stock_updated", dead.url).json()["webhook"]
        twin.set_stock("A-1", 1, 9)
        assert twin.wait_for_webhooks(5)
        deliveries = {d["url"]: d for d in twin.deliveries()}
        assert (deliveries[flaky.url]["attempts"], deliveries[flaky.url]["delivered"]) == (3, True)
        assert (deliveries[dead.url]["attempts"], deliveries[dead.url]["gave_up"]) == (3, True)
        assert len(flaky.calls) == 3
        assert len(dead.calls) == 3
        got = call(session, server, "GET", f"/api/webhooks/{hook['id']}").json()["webhook"]
        assert got["failures_since_last_success"] == 3
        logs = call(session, server, "GET", f"/api/webhooks/{hook['id']}/logs").json()[
            "webhook_logs"
        ]
        assert [entry["status"] for entry in logs] == [500]
    flaky.close()
    dead.close()
    twin.close()


def test_inactive_webhooks_receive_nothing(session: requests.Session, receiver: Receiver) -> None:
    twin = shop_twin()
    with TwinServer(twin) as server:
        call(
            session,
            server,
            "POST",
            "/api/webhooks",
            json={"event": "product.updated", "url": receiver.url, "is_active": False},
        )
        call(session, server, "PUT", "/api/products/A-1", json={"name": "Green apple"})
        assert twin.wait_for_webhooks(5)
    assert receiver.calls == []
    twin.close()


# -- admin API and faults ---------------------------------------------------------------------


def test_admin_state_requests_and_reset(session: requests.Session) -> None:
    twin = shop_twin()
    with TwinServer(twin) as server:
        call(session, server, "GET", "/api/products/A-1")
        call(session, server, "GET", "/api/products/A-1")
        call(
            session,
            server,
            "POST",
            "/api/orders/drafts",
            json={"customer_id": 1001, "lines": [{"item_id": "A-1", "quantity": 1}]},
        )
        call(session, server, "POST", "/api/orders/1001/book")
        state = session.get(f"{server.url}/__sandbox/state", timeout=5).json()
        product = state["products"][0]
        assert product["locations"] == [
            {
                "number": 1,
                "stock_quantity": 5.0,
                "in_order_quantity": 1.0,
                "available_quantity": 4.0,
            }
        ]
        assert state["orders"][0]["is_booked"] is True
        assert len(state["inventory_adjustments"]) == 1
        assert state["customers"][0]["contact_email"] == "jane@example.com"
        log = session.get(f"{server.url}/__sandbox/requests", timeout=5).json()
        assert log["counters"]["by_label"] == {
            "GET /products/{number}": 2,
            "POST /orders/drafts": 1,
            "POST /orders/{number}/book": 1,
        }
        assert (log["counters"]["reads"], log["counters"]["writes"]) == (2, 2)
        assert session.post(f"{server.url}/__sandbox/reset", timeout=5).json() == {"reset": True}
        state = session.get(f"{server.url}/__sandbox/state", timeout=5).json()
        assert (state["products"], state["orders"], state["customers"]) == ([], [], [])
        assert state["lookups"]["payment_terms"]  # lookups come back seeded
        assert (
            session.get(f"{server.url}/__sandbox/requests", timeout=5).json()["counters"][
                "requests"
            ]
            == 0
        )
    twin.close()


def test_admin_set_stock_and_seed(session: requests.Session) -> None:
    twin = shop_twin()
    with TwinServer(twin) as server:
        resp = session.post(
            f"{server.url}/__sandbox/set-stock",
            json={"number": "A-1", "location": 1, "quantity": 2},
            timeout=5,
        )
        assert resp.json()["item"]["stock_quantity"] == 2.0
        session.post(f"{server.url}/__sandbox/reset", timeout=5)
        seeded = session.post(f"{server.url}/__sandbox/seed", json={"seed": 1}, timeout=5)
        assert seeded.status_code == 200
        assert seeded.json()["products"] > 0
        total = call(session, server, "GET", "/api/products", params={"limit": 1}).json()["total"]
        assert total == seeded.json()["products"] + 1  # plus the shipping item
    twin.close()


def test_injected_faults_match_templated_labels(session: requests.Session) -> None:
    twin = shop_twin()
    with TwinServer(twin) as server:
        session.post(
            f"{server.url}/__sandbox/faults",
            json={
                "rules": [
                    {"kinds": ["5xx"], "times": 1, "match": "GET /products/{number}"},
                    {"kinds": ["429"], "times": 1, "match": "GET /items"},
                ]
            },
            timeout=5,
        )
        first = call(session, server, "GET", "/api/products/A-1")
        assert first.status_code == 500
        assert "message" in first.json()
        assert call(session, server, "GET", "/api/products/A-1").status_code == 200
        throttled = call(session, server, "GET", "/api/items")
        assert throttled.status_code == 429
        assert throttled.headers["Retry-After"] == "1"
        assert call(session, server, "GET", "/api/items").status_code == 206
        faults = session.get(f"{server.url}/__sandbox/faults", timeout=5).json()
        assert faults["injected"] == {"5xx": 1, "429": 1}
    twin.close()


def test_lost_answer_still_applies_the_write(session: requests.Session) -> None:
    twin = shop_twin()
    with TwinServer(twin) as server:
        session.post(
            f"{server.url}/__sandbox/faults",
            json={"kinds": ["lost"], "times": 1, "match": "POST /orders/drafts", "seed": 3},
            timeout=5,
        )
        try:
            resp = call(
                session,
                server,
                "POST",
                "/api/orders/drafts",
                json={"customer_id": 1001, "other_reference": "ref-1", "lines": []},
            )
            assert resp.status_code == 502
        except requests.ConnectionError:
            pass  # the other way an answer gets lost
        found = call(session, server, "GET", "/api/orders", params={"search": "ref-1"}).json()
        assert found["total"] == 1
    twin.close()
