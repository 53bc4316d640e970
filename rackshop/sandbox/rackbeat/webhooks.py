"""Webhook delivery of the Rackbeat twin: a background thread, bounded retries, local URLs only.

Deliveries are POSTs with the headers the real service sends (``Rackbeat-Webhook-Token``,
``Rackbeat-Webhook-Event``, ``Rackbeat-Account-Id``, ``User-Agent: Rackbeat Webhook``) and the
body real deliveries carry (``{"key_name": "number", "key": "1021"}``; stock events
``{"item": "SKU", "item_type": "product", "type": "stock"}``). A non-2xx answer or a connection
error is retried after each of ``retry_delays`` (twin seconds, so a scaled clock shortens them);
after the last one the delivery is given up.

The dispatcher has its own lock and never takes the app's, so a slow receiver cannot stall the
API. Lock order: app lock, then dispatcher lock (the worker takes only the latter).
"""

from __future__ import annotations

import heapq
import json
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import requests

from rackshop.sandbox.base import Clock

from .validation import JSON

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
USER_AGENT = "Rackbeat Webhook"


def is_local_url(url: str) -> bool:
    """Only ``http(s)://127.0.0.1|localhost|[::1]`` URLs: the sandbox never calls out."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and host in LOCAL_HOSTS


@dataclass
class Delivery:
    """One event sent (or being sent) to one webhook."""

    id: int
    webhook_id: int
    event: str
    url: str
    body: JSON
    created_at: str
    attempts: int = 0
    status: int | None = None
    delivered: bool = False
    gave_up: bool = False
    last_error: str | None = None


class WebhookDispatcher:
    """Delivers webhook events from a background thread.

    Args:
        clock: The twin's clock; retry delays are twin seconds.
        account_id: Sent as ``Rackbeat-Account-Id``.
        retry_delays: Wait before each retry (twin seconds); its length bounds the retries.
        timeout: (connect, read) timeout of one attempt, real seconds (the real service uses
            3 s and 15 s).
    """

    def __init__(
        self,
        clock: Clock,
        *,
        account_id: int,
        retry_delays: Sequence[float] = (10.0, 60.0, 300.0, 1800.0),
        timeout: tuple[float, float] = (3.0, 15.0),
    ) -> None:
        self.clock = clock
        self.account_id = account_id
        self.retry_delays = tuple(retry_delays)
        self.timeout = timeout
        self._cond = threading.Condition()
        self._queue: list[tuple[float, int]] = []  # (due twin time, delivery id)
        self._deliveries: dict[int, Delivery] = {}
        self._tokens: dict[int, str] = {}
        self._failures: dict[int, int] = {}
        self._in_flight = 0
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._next_id = 0

    def enqueue(
        self, webhook_id: int, token: str, event: str, url: str, body: JSON, created_at: datetime
    ) -> int:
        """Queue one delivery; returns its id."""
        with self._cond:
            self._next_id += 1
            delivery = Delivery(
                self._next_id,
                webhook_id,
                event,
                url,
                body,
                created_at.isoformat(timespec="seconds"),
            )
            self._deliveries[delivery.id] = delivery
            self._tokens[delivery.id] = token
            heapq.heappush(self._queue, (self.clock.now(), delivery.id))
            self._start()
            self._cond.notify_all()
            return delivery.id

    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stopped = False
            self._thread = threading.Thread(target=self._run, name="rackbeat-webhooks", daemon=True)
            self._thread.start()

    def failures(self, webhook_id: int) -> int:
        """Failed attempts since the webhook's last successful delivery."""
        with self._cond:
            return self._failures.get(webhook_id, 0)

    def deliveries(self, webhook_id: int | None = None) -> list[JSON]:
        """Every delivery (of one webhook), oldest first, as JSON."""
        with self._cond:
            return [
                asdict(d)
                for d in self._deliveries.values()
                if webhook_id is None or d.webhook_id == webhook_id
            ]

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until nothing is queued or in flight (real seconds); ``False`` on timeout.

        Deliveries waiting for a retry count as queued, so with real retry delays this waits
        for them.
        """
        with self._cond:
            return self._cond.wait_for(lambda: not self._queue and not self._in_flight, timeout)

    def clear(self) -> None:
        """Forget every delivery (queued ones are dropped)."""
        with self._cond:
            self._queue.clear()
            self._deliveries.clear()
            self._tokens.clear()
            self._failures.clear()
            self._cond.notify_all()

    def close(self) -> None:
        """Stop the worker thread."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        session = requests.Session()
        session.trust_env = False  # never route the sandbox's local calls through a proxy
        try:
            while True:
                with self._cond:
                    delivery_id = self._next_due()
                    if delivery_id is None:
                        return
                    delivery = self._deliveries.get(delivery_id)
                    if delivery is None:
                        continue
                    token = self._tokens[delivery_id]
                    self._in_flight += 1
                try:
                    status, error = self._attempt(session, delivery, token)
                finally:
                    with self._cond:
                        self._in_flight -= 1
                        self._record(delivery, status, error)
                        self._cond.notify_all()
        finally:
            session.close()

    def _next_due(self) -> int | None:
        """Wait (lock held) for the next due delivery; ``None`` when stopped."""
        while not self._stopped:
            if self._queue:
                due, delivery_id = self._queue[0]
                wait = (due - self.clock.now()) / self.clock.scale
                if wait <= 0:
                    heapq.heappop(self._queue)
                    return delivery_id
                self._cond.wait(min(wait, 0.5))
            else:
                self._cond.wait(0.5)
        return None

    def _attempt(
        self, session: requests.Session, delivery: Delivery, token: str
    ) -> tuple[int | None, str | None]:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "Rackbeat-Webhook-Token": token,
            "Rackbeat-Webhook-Event": delivery.event,
            "Rackbeat-Account-Id": str(self.account_id),
        }
        try:
            resp = session.post(
                delivery.url,
                data=json.dumps(delivery.body).encode("utf-8"),
                headers=headers,
                timeout=self.timeout,
                allow_redirects=False,
            )
            resp.close()
        except requests.RequestException as exc:
            return None, f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # a worker that dies silently would hide every later event
            return None, f"{type(exc).__name__}: {exc}"
        return resp.status_code, None

    def _record(self, delivery: Delivery, status: int | None, error: str | None) -> None:
        if delivery.id not in self._deliveries:
            return  # cleared while in flight
        delivery.attempts += 1
        delivery.status = status
        delivery.last_error = error
        if status is not None and 200 <= status < 300:
            delivery.delivered = True
            self._failures[delivery.webhook_id] = 0
            return
        self._failures[delivery.webhook_id] = self._failures.get(delivery.webhook_id, 0) + 1
        if delivery.last_error is None:
            delivery.last_error = f"HTTP {status}"
        if delivery.attempts > len(self.retry_delays):
            delivery.gave_up = True
            return
        due = self.clock.now() + self.retry_delays[delivery.attempts - 1]
        heapq.heappush(self._queue, (due, delivery.id))

    def snapshot(self) -> list[dict[str, Any]]:
        """Every delivery, as JSON."""
        return self.deliveries()
