"""``rackshop listen``: the webhook receiver (a WSGI app served by waitress) and its lifecycle.

Routes:

==============================  =================================================================
``POST /webhooks/shopify/NAME``  a Shopify delivery for the shop called NAME (the address
                                ``rackshop webhooks register`` subscribes); ``/webhooks/shopify``
                                without a name finds the shop by ``X-Shopify-Shop-Domain``
``POST /webhooks/rackbeat``      a Rackbeat delivery (account-wide)
``GET /healthz``                 queue, worker and polling state as JSON; 200 when healthy,
                                503 when degraded or shutting down
==============================  =================================================================

What a delivery goes through, in this order, before anything is written:

1. the size: a body over ``listen.max_body_kb`` is refused with 413 without being read (waitress
   enforces the same limit on chunked bodies);
2. who sent it: Shopify deliveries must carry ``X-Shopify-Hmac-Sha256`` = base64 HMAC-SHA256 of
   the raw body under the shop's ``webhook_secret``, compared in constant time; Rackbeat
   deliveries must carry a ``Rackbeat-Webhook-Token`` equal to ``rackbeat.webhook_token`` or to a
   token Rackbeat gave a webhook that ``rackshop webhooks register`` created (stored as a
   digest). An unknown or disabled shop, a shop without a secret, a bad signature or token: 401;
3. what it is: the Shopify order topics (``orders/create``, ``orders/paid``,
   ``orders/fulfilled``) and the Rackbeat events of :data:`RACKBEAT_EVENTS`. Every other order
   topic (``orders/updated``, ``orders/cancelled``, ``orders/edited``... see
   :data:`ACKNOWLEDGED_PREFIXES`), and a trigger topic that is not the shop's own
   (``orders.transfer_on``), is acknowledged and ignored (refusing it would only make Shopify
   retry it for hours and then delete the subscription); anything else is refused with 400;
4. the queue: one committed transaction (:mod:`.queue`), then 200. A redelivery (same
   ``X-Shopify-Webhook-Id``) is answered 200 and not queued again. A full queue answers 503 with
   ``Retry-After``: the sender keeps the delivery and tries later.

Nothing else happens on the request thread, so answers take milliseconds (Shopify allows 5 s).
The work is done by :class:`~rackshop.listen.worker.Worker` on its own thread.
"""

from __future__ import annotations

import collections
import contextlib
import hmac
import json
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import waitress
from waitress import wasyncore

from rackshop.config import Config, ShopConfig
from rackshop.listen.queue import Delivery, DurableQueue, QueueBusyError, token_matches
from rackshop.listen.routes import (
    ACKNOWLEDGED_PREFIXES,
    HEALTH_PATH,
    RACKBEAT_EVENTS,
    RACKBEAT_PATH,
    SHOPIFY_PATH,
    TRIGGER_TOPICS,
)
from rackshop.listen.schedule import Schedule
from rackshop.listen.worker import Worker
from rackshop.log import event
from rackshop.runtime import Runtime
from rackshop.shopify.webhooks import verify
from rackshop.store import JobLock, Store
from rackshop.sync.after_transfer import CHANGE_TOPICS

log = logging.getLogger("rackshop.listen")

#: Rackbeat events acknowledged but not acted on (nothing of theirs reaches the shops).
RACKBEAT_IGNORED = frozenset({"product.deleted", "lot.deleted", "order.created", "order.deleted"})
#: Seconds a sender is asked to wait when the queue is full or busy.
RETRY_AFTER_FULL = 60
RETRY_AFTER_BUSY = 5
#: How old the oldest waiting delivery may be before /healthz says "degraded".
STALE_QUEUE_SECONDS = 600.0
#: Refusals that say a sender's credentials do not match the config (not a malformed body):
#: every delivery of that sender is being refused, and Shopify deletes a subscription whose
#: deliveries keep failing.
AUTH_REFUSALS = frozenset({"unknown_shop", "shop_mismatch", "no_secret", "bad_signature",
                           "bad_token"})
#: /healthz says "degraded" after this many such refusals within the window.
REFUSED_THRESHOLD = 3
REFUSED_WINDOW_SECONDS = 900.0
#: ... and when the deliveries waiting reach this share of ``listen.queue_limit``.
BACKLOG_SHARE = 0.5


# -- the WSGI application --------------------------------------------------------------------------


StartResponse = Callable[[str, list[tuple[str, str]]], Any]

_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
            405: "Method Not Allowed", 411: "Length Required", 413: "Content Too Large",
            500: "Internal Server Error", 503: "Service Unavailable"}


@dataclass
class _Answer:
    status: int
    body: dict[str, Any]
    headers: list[tuple[str, str]] = field(default_factory=list)


class ListenerApp:
    """The WSGI application: verify, queue, acknowledge (see the module doc).

    Args:
        config: The configuration (shops, secrets, ``[listen]``).
        queue: Where deliveries are recorded.
        wake: Called after a delivery was queued (wakes the worker).
        health: Extra sections for ``/healthz`` (worker and polling state).
        clock: Seconds, for uptime.
    """

    def __init__(self, config: Config, queue: DurableQueue, *,
                 wake: Callable[[], None] = lambda: None,
                 health: Callable[[], Mapping[str, Any]] = dict,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.queue = queue
        self.wake = wake
        self.health = health
        self.clock = clock
        self.started = clock()
        self.shops = {s.name: s for s in config.shops if s.enabled}
        self.domains = {s.domain.lower(): s for s in config.shops if s.enabled}
        self.max_body = config.listen.max_body_kb * 1024
        self.rackbeat_token = config.rackbeat.webhook_token
        self.draining = False
        self._lock = threading.Lock()
        self.counters: dict[str, int] = {}
        self._refused: collections.deque[tuple[float, str]] = collections.deque(maxlen=10_000)

    # -- WSGI ----------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: StartResponse
                 ) -> Iterable[bytes]:
        try:
            answer = self._route(environ)
        except Exception:  # never let a delivery crash the server; the sender retries a 500
            log.exception("listener: unexpected error answering %s %s",
                          environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"))
            answer = _Answer(500, {"error": "internal error"})
        body = json.dumps(answer.body, sort_keys=True).encode("utf-8")
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                   ("Cache-Control", "no-store"), *answer.headers]
        start_response(f"{answer.status} {_REASONS.get(answer.status, '')}".strip(), headers)
        return [body]

    def _route(self, environ: Mapping[str, Any]) -> _Answer:
        path = str(environ.get("PATH_INFO") or "/").rstrip("/") or "/"
        method = str(environ.get("REQUEST_METHOD") or "GET").upper()
        if path == HEALTH_PATH:
            if method not in ("GET", "HEAD"):
                return _Answer(405, {"error": "use GET"}, [("Allow", "GET, HEAD")])
            return self._healthz()
        if path in (RACKBEAT_PATH, SHOPIFY_PATH) or path.startswith(SHOPIFY_PATH + "/"):
            if method != "POST":
                return _Answer(405, {"error": "use POST"}, [("Allow", "POST")])
            if self.draining:
                return self._count("refused_draining", _Answer(
                    503, {"error": "shutting down; send again later"},
                    [("Retry-After", str(RETRY_AFTER_BUSY))]))
            if path == RACKBEAT_PATH:
                return self._rackbeat(environ)
            segment = path[len(SHOPIFY_PATH) + 1:] if path != SHOPIFY_PATH else None
            if segment is not None and "/" in segment:
                return _Answer(404, {"error": "not found"})
            return self._shopify(environ, segment)
        return _Answer(404, {"error": "not found"})

    # -- Shopify -------------------------------------------------------------------------------

    def _shopify(self, environ: Mapping[str, Any], segment: str | None) -> _Answer:
        body = self._body(environ)
        if isinstance(body, _Answer):
            return body
        domain = str(environ.get("HTTP_X_SHOPIFY_SHOP_DOMAIN") or "").strip().lower()
        shop = self.shops.get(segment) if segment is not None else self.domains.get(domain)
        if shop is None:
            return self._refuse(401, "unknown_shop", f"Shopify delivery for an unknown or "
                                f"disabled shop ({(segment or domain or 'no shop named')[:80]})")
        other = self.domains.get(domain)
        if other is not None and other.name != shop.name:
            return self._refuse(401, "shop_mismatch", f"Shopify delivery addressed to shop "
                                f"{shop.name} says it comes from {domain} (shop {other.name})")
        secret = shop.webhook_secret
        if secret is None or not secret.resolved:
            return self._refuse(401, "no_secret", f"Shopify delivery for shop {shop.name} "
                                "refused: the shop has no webhook_secret (set "
                                f"shops.{shop.name}.webhook_secret to the app's client secret)")
        signature = str(environ.get("HTTP_X_SHOPIFY_HMAC_SHA256") or "")
        if not signature.isascii() or not verify(body, signature, secret.reveal()):
            return self._refuse(401, "bad_signature",
                                f"Shopify delivery for shop {shop.name}: bad signature")
        topic = str(environ.get("HTTP_X_SHOPIFY_TOPIC") or "").strip().lower()
        if topic in CHANGE_TOPICS and shop.orders.enabled \
                and shop.orders.after_transfer == "sync":
            return self._change(environ, shop, topic, body)
        if topic not in TRIGGER_TOPICS.values() and topic.startswith(ACKNOWLEDGED_PREFIXES):
            # orders/updated, orders/cancelled, orders/edited...: a merchant may point any order
            # topic here; refusing one makes Shopify retry it for hours and then delete the
            # subscription. The polls carry what they would tell.
            return self._count("ignored", _Answer(200, {"result": "ignored"}))
        if topic not in TRIGGER_TOPICS.values():
            return self._refuse(400, "unknown_topic", f"Shopify delivery for shop {shop.name}: "
                                f"topic {topic or '(none)'!r} is not one rackshop handles")
        trigger = TRIGGER_TOPICS[shop.orders.transfer_on]
        if not shop.orders.enabled or topic != trigger:
            return self._count("ignored", _Answer(200, {"result": "ignored"}))
        payload = _json(body)
        order_id = _order_id(payload)
        if order_id is None:
            return self._refuse(400, "bad_body", f"Shopify {topic} delivery for shop "
                                f"{shop.name} names no order id")
        name = str(payload.get("name") or "") if isinstance(payload, dict) else ""
        webhook_id = str(environ.get("HTTP_X_SHOPIFY_WEBHOOK_ID") or "").strip() or None
        return self._enqueue(Delivery("shopify", topic, "order", order_id, shop=shop.name,
                                      label=name, delivery_id=webhook_id))

    def _change(self, environ: Mapping[str, Any], shop: ShopConfig, topic: str,
                body: bytes) -> _Answer:
        """Queue the order a cancellation, edit or refund names (read again by the worker)."""
        payload = _json(body)
        order_id = _changed_order_id(payload)
        if order_id is None:
            return self._refuse(400, "bad_body", f"Shopify {topic} delivery for shop "
                                f"{shop.name} names no order id")
        webhook_id = str(environ.get("HTTP_X_SHOPIFY_WEBHOOK_ID") or "").strip() or None
        name = str(payload.get("name") or "") if topic == "orders/cancelled" else ""
        return self._enqueue(Delivery("shopify", topic, "order", order_id, shop=shop.name,
                                      label=name or f"order {order_id}",
                                      delivery_id=webhook_id))

    # -- Rackbeat ------------------------------------------------------------------------------

    def _rackbeat(self, environ: Mapping[str, Any]) -> _Answer:
        length = _content_length(environ)
        if isinstance(length, int) and length > self.max_body:
            return self._refuse(413, "too_large", f"Rackbeat delivery of {length} bytes "
                                f"(limit listen.max_body_kb = {self.max_body // 1024})")
        token = str(environ.get("HTTP_RACKBEAT_WEBHOOK_TOKEN") or "")
        if not token or not self._token_ok(token):
            return self._refuse(401, "bad_token", "Rackbeat delivery with a missing or unknown "
                                "Rackbeat-Webhook-Token")
        body = self._body(environ)
        if isinstance(body, _Answer):
            return body
        name = str(environ.get("HTTP_RACKBEAT_WEBHOOK_EVENT") or "").strip().lower()
        if name in RACKBEAT_IGNORED:
            return self._count("ignored", _Answer(200, {"result": "ignored"}))
        kind = RACKBEAT_EVENTS.get(name)
        if kind is None:
            return self._refuse(400, "unknown_topic", f"Rackbeat event {name or '(none)'!r} is "
                                "not one rackshop handles")
        payload = _json(body)
        key = _rackbeat_key(payload, stock=kind == "stock")
        if key is None:
            return self._refuse(400, "bad_body", f"Rackbeat {name} delivery names no record")
        return self._enqueue(Delivery("rackbeat", name, kind, key, label=key))

    def _token_ok(self, token: str) -> bool:
        ok = False
        if self.rackbeat_token is not None and self.rackbeat_token.resolved:
            ok = hmac.compare_digest(self.rackbeat_token.reveal().encode("utf-8"),
                                     token.encode("utf-8", "replace"))
        return token_matches(self.queue.token_digests(), token) or ok

    # -- shared --------------------------------------------------------------------------------

    def _body(self, environ: Mapping[str, Any]) -> bytes | _Answer:
        length = _content_length(environ)
        if length is None:
            return self._refuse(411, "no_length", "delivery without Content-Length")
        if length > self.max_body:
            return self._refuse(413, "too_large", f"delivery of {length} bytes refused (limit "
                                f"listen.max_body_kb = {self.max_body // 1024})")
        stream = environ.get("wsgi.input")
        data = stream.read(length) if stream is not None and length else b""
        if len(data) != length:
            return self._refuse(400, "short_body", "delivery body shorter than its length")
        return bytes(data)

    def _enqueue(self, delivery: Delivery) -> _Answer:
        try:
            outcome = self.queue.put(delivery)
        except QueueBusyError as exc:
            log.warning("listener: could not queue a %s delivery: %s (the sender retries)",
                        delivery.source, exc)
            return self._count("refused_busy", _Answer(
                503, {"error": "busy; send again later"},
                [("Retry-After", str(RETRY_AFTER_BUSY))]))
        if outcome == "full":
            log.warning("listener: the queue holds listen.queue_limit = %d items; a %s delivery "
                        "was refused (the sender retries)", self.queue.limit, delivery.source)
            return self._count("refused_full", _Answer(
                503, {"error": "queue full; send again later"},
                [("Retry-After", str(RETRY_AFTER_FULL))]))
        self.wake()
        return self._count(outcome, _Answer(200, {"result": outcome}))

    def _refuse(self, status: int, code: str, message: str) -> _Answer:
        log.warning("listener: refused (%d): %s", status, message)
        if code in AUTH_REFUSALS:
            with self._lock:
                self._refused.append((self.clock(), code))
        return self._count(f"refused_{code}", _Answer(status, {"error": code}))

    def recent_refusals(self) -> dict[str, int]:
        """Refusals for credentials (``AUTH_REFUSALS``) in the last ``REFUSED_WINDOW_SECONDS``,
        by code."""
        since = self.clock() - REFUSED_WINDOW_SECONDS
        out: dict[str, int] = {}
        with self._lock:
            while self._refused and self._refused[0][0] < since:
                self._refused.popleft()
            for _, code in self._refused:
                out[code] = out.get(code, 0) + 1
        return out

    def _count(self, name: str, answer: _Answer) -> _Answer:
        with self._lock:
            self.counters[name] = self.counters.get(name, 0) + 1
        return answer

    def _healthz(self) -> _Answer:
        queue = self.queue.stats()
        extra = dict(self.health())
        worker = extra.get("worker") or {}
        problems = []
        if self.draining:
            problems.append("shutting down")
        if queue["full"]:
            problems.append("queue full")
        if queue["oldest_queued_seconds"] and queue["oldest_queued_seconds"] > \
                STALE_QUEUE_SECONDS:
            problems.append("deliveries waiting for more than "
                            f"{int(STALE_QUEUE_SECONDS)} s")
        if worker and not worker.get("alive"):
            problems.append("worker not running")
        problems += self._health_problems(queue, extra)
        with self._lock:
            counters = dict(self.counters)
        body = {
            "status": "ok" if not problems else ("draining" if self.draining else "degraded"),
            "problems": problems,
            "uptime_seconds": round(self.clock() - self.started, 1),
            "queue": queue,
            "deliveries": counters,
            "refused_recently": self.recent_refusals(),
            **extra,
        }
        return _Answer(200 if not problems else 503, body)

    def _health_problems(self, queue: Mapping[str, Any], extra: Mapping[str, Any]
                         ) -> list[str]:
        """Refused deliveries, a growing backlog, failing polls, missing subscriptions."""
        problems = []
        refused = self.recent_refusals()
        if sum(refused.values()) >= REFUSED_THRESHOLD:
            detail = ", ".join(f"{code} x{n}" for code, n in sorted(refused.items()))
            problems.append(
                f"{sum(refused.values())} deliveries refused in the last "
                f"{int(REFUSED_WINDOW_SECONDS // 60)} min ({detail}): check each shop's "
                "webhook_secret (the app's client secret), that the sending shop is in the "
                "config, and rackbeat.webhook_token; Shopify deletes a subscription whose "
                "deliveries keep failing")
        limit = int(queue.get("limit") or 0)
        pending = int(queue.get("pending") or 0)
        if limit and not queue.get("full") and pending >= limit * BACKLOG_SHARE:
            problems.append(f"backlog: {pending} deliveries waiting (listen.queue_limit = "
                            f"{limit}); the worker is not keeping up or keeps failing")
        worker = extra.get("worker") or {}
        for name, poll in sorted((extra.get("polls") or {}).items()):
            if poll.get("last_outcome") == "failed":
                why = f": {worker['last_error']}" if worker.get("last_error") else ""
                problems.append(f"polling pass {name} failed ({poll.get('failures', 1)} "
                                f"failures so far){why}")
        subscriptions = extra.get("subscriptions") or {}
        problems += [str(p) for p in subscriptions.get("problems") or []]
        return problems


def _content_length(environ: Mapping[str, Any]) -> int | None:
    text = str(environ.get("CONTENT_LENGTH") or "").strip()
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        return None
    return value if value >= 0 else None


def _json(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None


def _changed_order_id(payload: Any) -> str | None:
    """The order id of a change delivery: ``refunds/create`` names it ``order_id``,
    ``orders/edited`` inside ``order_edit``, ``orders/cancelled`` as ``id``."""
    if not isinstance(payload, dict):
        return None
    edit = payload.get("order_edit")
    inner: dict[str, Any] = edit if isinstance(edit, dict) else payload
    value = inner.get("order_id")
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return str(value)
    if isinstance(value, str) and value.isdigit():
        return value
    return _order_id(payload)


def _order_id(payload: Any) -> str | None:
    """The numeric Shopify order id of an order delivery (``id``, else from the gid)."""
    if not isinstance(payload, dict):
        return None
    value = payload.get("id")
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return str(value)
    if isinstance(value, str) and value.isdigit():
        return value
    gid = payload.get("admin_graphql_api_id")
    if isinstance(gid, str) and gid.startswith("gid://shopify/Order/"):
        tail = gid.rsplit("/", 1)[-1]
        if tail.isdigit():
            return tail
    return None


def _rackbeat_key(payload: Any, *, stock: bool) -> str | None:
    """The record a Rackbeat delivery names: ``item`` (stock events) or ``key``."""
    if not isinstance(payload, dict):
        return None
    names = ("item", "key") if stock else ("key", "item")
    for name in names:
        value = payload.get(name)
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, int | str) and str(value).strip():
            return str(value).strip()[:255]
    return None


# -- running it --------------------------------------------------------------------------------


@dataclass
class ListenSummary:
    """How a ``rackshop listen`` session went (returned by :func:`serve`).

    Attributes:
        host: The address served.
        port: The port served (the real one when 0 was asked for).
        recovered: Rows a previous process left half-done, put back in the queue at start.
        deliveries: Answers by outcome (``queued``, ``merged``, ``duplicate``, ``ignored``,
            ``refused_*``).
        worker: The worker's counters at the end.
        queue: Queue rows per state at the end.
        error: Why the listener stopped on its own, if it did.
    """

    host: str
    port: int
    recovered: int = 0
    deliveries: dict[str, int] = field(default_factory=dict)
    worker: dict[str, Any] = field(default_factory=dict)
    queue: dict[str, int] = field(default_factory=dict)
    error: str | None = None


def serve(runtime: Runtime, host: str | None = None, port: int | None = None, *,
          stop_event: threading.Event | None = None,
          ready: Callable[[str, int], None] | None = None,
          process: bool = True, polls: bool = True, poll_at_start: bool = True,
          debounce_seconds: float = 2.0, threads: int = 8,
          clock: Callable[[], float] = time.time, shutdown_grace: float = 25.0,
          handle_signals: bool = True) -> ListenSummary:
    """Run the webhook receiver and the worker until ``stop_event`` is set or SIGTERM/SIGINT.

    Args:
        runtime: Clients, store and config (``[listen]``, shops' ``webhook_secret``,
            ``rackbeat.webhook_token``). Used by the worker's thread only.
        host: Address to listen on (default ``listen.host``).
        port: Port (default ``listen.port``; 0 picks a free one, see ``ready``).
        stop_event: Set it to stop (tests, embedding); SIGTERM and SIGINT set it too.
        ready: Called with (host, port) once the socket listens.
        process: Run the worker. ``False`` only receives and queues (deliveries wait on disk
            until a listener with a worker runs), e.g. while Rackbeat is down for maintenance.
        polls: Run the polling safety net (``listen.orders_poll_minutes``,
            ``listen.stock_poll_minutes``).
        poll_at_start: Run both passes at start (catches what was missed while down).
        debounce_seconds: How long the oldest Rackbeat event waits for others to batch with.
        threads: Request threads (each answers in milliseconds; 8 absorb bursts).
        clock: Wall-clock seconds for the queue and the schedule.
        shutdown_grace: Seconds to let the worker finish the work in hand on shutdown; what is
            still running then is re-queued at the next start.
        handle_signals: Install SIGTERM/SIGINT handlers (only possible on the main thread).

    Returns:
        The session's summary.

    Raises:
        LockHeldError: Another ``rackshop listen`` runs on the same state store.
    """
    listen = runtime.config.listen
    host = host or listen.host
    port = listen.port if port is None else port
    # One listener per state store: a second one would put the first one's work in hand back
    # in the queue as if it had been left by a crash, and both would process every row.
    lock = JobLock(runtime.state_path, "listen", "*").acquire()
    try:
        return _serve(runtime, host, port, stop_event=stop_event,
                      ready=ready, process=process, polls=polls, poll_at_start=poll_at_start,
                      debounce_seconds=debounce_seconds, threads=threads, clock=clock,
                      shutdown_grace=shutdown_grace, handle_signals=handle_signals)
    finally:
        lock.release()


def _serve(runtime: Runtime, host: str, port: int, *,
           stop_event: threading.Event | None, ready: Callable[[str, int], None] | None,
           process: bool, polls: bool, poll_at_start: bool, debounce_seconds: float,
           threads: int, clock: Callable[[], float], shutdown_grace: float,
           handle_signals: bool) -> ListenSummary:
    listen = runtime.config.listen
    _warn_about_secrets(runtime.config)
    queue = DurableQueue(Store(runtime.state_path), limit=listen.queue_limit, clock=clock)
    recovered = queue.recover()
    if recovered:
        log.info("listener: %d queued item(s) left half-done by an earlier run were re-queued",
                 recovered)
    takes_fulfilments = any(s.enabled and s.fulfillments.enabled for s in runtime.config.shops)
    schedule = Schedule.from_config(listen, clock=clock, run_at_start=poll_at_start,
                                    fulfillments=takes_fulfilments) if polls else None
    worker = Worker(runtime, queue, schedule=schedule, clock=clock, debounce=debounce_seconds)
    stop = stop_event or threading.Event()

    def health() -> dict[str, Any]:
        out: dict[str, Any] = {"worker": worker.status() if process else
                               {"alive": None, "note": "processing switched off"}}
        if schedule is not None:
            out["polls"] = schedule.status()
        if worker.subscriptions is not None:
            out["subscriptions"] = worker.subscriptions
        return out

    app = ListenerApp(runtime.config, queue, wake=worker.wake, health=health)
    # waitress warns at every request that waits for a free thread; in a burst that is normal
    # (each waits milliseconds) and the warnings would drown the log.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    server = waitress.create_server(
        app, host=host, port=port, threads=threads, ident="rackshop",
        max_request_body_size=listen.max_body_kb * 1024, channel_timeout=30,
        asyncore_use_poll=True, expose_tracebacks=False, clear_untrusted_proxy_headers=True)
    bound_host, bound_port = _bound(server)
    summary = ListenSummary(bound_host, bound_port, recovered=recovered)
    http_thread = threading.Thread(target=server.run, name="rackshop-listen-http", daemon=True)
    worker_thread = threading.Thread(target=worker.run, args=(stop,),
                                     name="rackshop-listen-worker", daemon=True)
    restore = _install_signals(stop, worker.wake) if handle_signals else {}
    try:
        http_thread.start()
        if process:
            worker_thread.start()
        event(log, f"listening on http://{bound_host}:{bound_port} (webhooks at "
              f"{SHOPIFY_PATH}/<shop> and {RACKBEAT_PATH}, health at {HEALTH_PATH})",
              host=bound_host, port=bound_port, queued=queue.pending())
        if ready is not None:
            ready(bound_host, bound_port)
        while not stop.wait(0.5):
            if not http_thread.is_alive():
                summary.error = "the HTTP server stopped unexpectedly"
                break
            if process and not worker_thread.is_alive():
                summary.error = "the worker stopped unexpectedly"
                break
    finally:
        for sig, previous in restore.items():
            signal.signal(sig, previous)
        app.draining = True
        _close_http(server, http_thread)
        stop.set()
        worker.wake()
        if process:
            worker_thread.join(shutdown_grace)
        summary.deliveries = dict(app.counters)
        summary.worker = worker.status()
        if worker_thread.is_alive():
            log.warning("listener: the worker is still busy after %.0f s; its work is re-queued "
                        "at the next start", shutdown_grace)
        else:
            summary.queue = queue.counts()
            queue.close()
        if summary.error:
            log.error("listener: %s", summary.error)
        event(log, "listener stopped", **{k: v for k, v in summary.deliveries.items()})
    return summary


def _warn_about_secrets(config: Config) -> None:
    """Say at start which deliveries would all be refused, rather than at each refusal."""
    for shop in config.shops:
        if shop.enabled and shop.orders.enabled and shop.webhook_secret is None:
            log.warning("listener: shop %s has no webhook_secret, so its Shopify deliveries "
                        "are refused; set shops.%s.webhook_secret to the app's client secret "
                        "(the polling passes still transfer its orders)", shop.name, shop.name)
    if config.rackbeat.webhook_token is None:
        log.info("listener: rackbeat.webhook_token is not set; Rackbeat deliveries are "
                 "accepted from the webhooks `rackshop webhooks register` created")


def _servers(server: Any) -> list[Any]:
    """The listening dispatchers of a waitress server (one, or several for a dual-stack host)."""
    if hasattr(server, "effective_port"):
        return [server]
    return [d for d in list(server.map.values()) if hasattr(d, "effective_port")]


def _bound(server: Any) -> tuple[str, int]:
    first = _servers(server)[0]
    return str(first.effective_host), int(first.effective_port)


def _close_http(server: Any, thread: threading.Thread) -> None:
    """Stop accepting, let the requests in hand be answered, then close every connection."""
    listeners = _servers(server)
    for s in listeners:
        s.accepting = False  # waitress stops polling the listening socket for new connections
    dispatcher = server.task_dispatcher
    # Requests being handled finish (each is a few milliseconds); waiting ones are dropped,
    # unanswered, so their senders retry.
    dispatcher.shutdown(cancel_pending=True, timeout=5)
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline and any(
            getattr(ch, "total_outbufs_len", 0) for s in listeners
            for ch in list(getattr(s, "active_channels", {}).values())):
        time.sleep(0.02)  # let the loop thread send the last answers
    socket_map = listeners[0]._map
    trigger = listeners[0].trigger
    with contextlib.suppress(OSError):
        trigger.pull_trigger(lambda: wasyncore.close_all(socket_map, ignore_all=True))
    thread.join(5)
    if thread.is_alive():
        wasyncore.close_all(socket_map, ignore_all=True)
        thread.join(2)


def _install_signals(stop: threading.Event, wake: Callable[[], None]
                     ) -> dict[int, Any]:
    """SIGTERM and SIGINT set ``stop`` (main thread only); returns the handlers to restore."""
    if threading.current_thread() is not threading.main_thread():
        return {}

    def handler(signum: int, frame: FrameType | None) -> None:
        del frame
        log.info("listener: signal %d received; finishing the work in hand", signum)
        stop.set()
        wake()

    previous: dict[int, Any] = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous[sig] = signal.getsignal(sig)
        signal.signal(sig, handler)
    return previous


__all__ = ["ListenSummary", "ListenerApp", "serve"]
