"""What both twins share: a threaded HTTP server on 127.0.0.1, the request log, seeded fault
injection, the ``/__sandbox/`` admin API and a scalable clock.

A twin is a :class:`TwinApp`: it turns a :class:`Request` into a :class:`Response` and says
what kind of request it was (:meth:`TwinApp.describe`). :class:`TwinServer` serves it on a real
socket, one thread per connection, and wraps every request in the same steps:

1. ``/__sandbox/...`` goes to the admin API (never faulted, never rate limited, not logged).
2. The fault plan may pick a fault for the request (seeded, reproducible).
3. ``5xx``, ``429`` and ``drop`` answer without touching the state; ``slow`` sleeps past the
   client's timeout and then applies the request; ``lost`` applies a write and then answers 502
   or drops the connection, so the client cannot know it happened.
4. Everything is logged with the app's label (``GET /products``, ``mutation orderCreate``).

The app's :attr:`TwinApp.lock` is held while it handles a request, so twin code can mutate its
state without further locking.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

FAULT_KINDS = ("5xx", "429", "slow", "drop", "lost")


class Clock:
    """The twins' notion of time, scalable so tests and benchmarks need not wait.

    ``scale`` speeds up every rate the twin enforces: with ``scale=10`` a Shopify bucket refills
    at ten times its plan's rate and Rackbeat's 480-per-minute window lasts six seconds. Wall-clock
    timestamps (``created_at``) are not scaled.

    Args:
        scale: How many twin-seconds pass per real second.
        monotonic: Injectable time source.
    """

    def __init__(self, scale: float = 1.0, monotonic: Callable[[], float] = time.monotonic):
        if scale <= 0:
            raise ValueError("time scale must be positive")
        self.scale = scale
        self._monotonic = monotonic
        self._origin = monotonic()

    def now(self) -> float:
        """Scaled seconds since the clock was made."""
        return (self._monotonic() - self._origin) * self.scale


@dataclass
class Request:
    """An HTTP request as a twin sees it.

    Attributes:
        method: ``GET``, ``POST``...
        path: The URL path, percent-decoded once (so ``/products/A%2FB`` arrives as the raw path
            in :attr:`raw_path` and decoded segments via :meth:`segments`).
        raw_path: The path exactly as sent, still percent-encoded.
        query: Query parameters (every value a list, as :func:`urllib.parse.parse_qs` gives them).
        headers: Case-insensitive headers.
        body: The raw body.
    """

    method: str
    raw_path: str
    query: dict[str, list[str]]
    headers: Message
    body: bytes

    @property
    def path(self) -> str:
        return unquote(self.raw_path)

    def segments(self) -> list[str]:
        """The path split on ``/`` first and then decoded, so ``%2F`` stays inside a segment."""
        return [unquote(s) for s in self.raw_path.split("/") if s]

    def arg(self, name: str, default: str | None = None) -> str | None:
        """First value of a query parameter."""
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        """The body parsed as JSON (``None`` for an empty body).

        Raises:
            ValueError: The body is not JSON.
        """
        if not self.body:
            return None
        return json.loads(self.body.decode("utf-8"))

    def header(self, name: str, default: str | None = None) -> str | None:
        value = self.headers.get(name)
        return value if value is not None else default


@dataclass
class Response:
    """What a twin answers. ``body`` may be bytes, a string, or anything JSON-serialisable."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    note: str | None = None
    """Not sent: a word for the request log, e.g. ``throttled`` for Shopify's HTTP 200 THROTTLED."""
    cost: float | None = None
    """Not sent: the rate-limit cost the request drew (Shopify's actual query cost), for the log."""

    def encode(self) -> tuple[bytes, dict[str, str]]:
        headers = dict(self.headers)
        if isinstance(self.body, bytes):
            data = self.body
        elif isinstance(self.body, str):
            data = self.body.encode("utf-8")
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        elif self.body is None:
            data = b""
        else:
            data = json.dumps(self.body, ensure_ascii=False).encode("utf-8")
            headers.setdefault("Content-Type", "application/json; charset=utf-8")
        return data, headers


def json_response(status: int, body: Any, **headers: str) -> Response:
    """A JSON response with extra headers."""
    return Response(status, body, dict(headers))


@dataclass(frozen=True)
class RequestInfo:
    """How a twin classifies a request, for the log, counters and fault matching.

    Attributes:
        label: ``GET /products``, ``POST /orders/{n}/book``, ``query products``,
            ``mutation inventorySetQuantities``... Path parameters are templated so labels
            count by endpoint, not by record.
        access: ``read`` or ``write``.
        shop: The Shopify shop (or ``None``).
    """

    label: str
    access: str = "read"
    shop: str | None = None


class TwinApp:
    """Base class of a twin: override :meth:`handle` and :meth:`describe`."""

    name = "twin"

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or Clock()
        self.lock = threading.RLock()

    def describe(self, req: Request) -> RequestInfo:
        """Classify a request (called before fault injection, without the lock)."""
        return RequestInfo(f"{req.method} {req.path}", "read" if req.method == "GET" else "write")

    def handle(self, req: Request) -> Response:
        """Answer a request. Called with :attr:`lock` held."""
        raise NotImplementedError

    def fault_response(self, kind: str, req: Request, info: RequestInfo) -> Response:
        """The body of an injected ``5xx`` or ``429`` fault, shaped like the real service's."""
        if kind == "429":
            return json_response(429, {"message": "Too Many Attempts."}, **{"Retry-After": "1"})
        return json_response(503, {"message": "Service Unavailable"})

    def snapshot(self) -> Any:
        """Everything the twin holds, as JSON (``GET /__sandbox/state``)."""
        return {}

    def reset(self) -> None:
        """Forget everything (``POST /__sandbox/reset``)."""

    def seed(self, params: Mapping[str, Any]) -> Any:
        """Load seed data (``POST /__sandbox/seed``); returns a summary."""
        return {}

    def admin(self, req: Request, action: str) -> Response | None:
        """Twin-specific admin actions under ``/__sandbox/<action>``; ``None`` if unknown."""
        return None


@dataclass
class FaultRule:
    """One fault rule.

    Attributes:
        kinds: Which faults to pick from (a subset of :data:`FAULT_KINDS`).
        rate: Probability that a matching request is faulted (0..1).
        times: If set, fault exactly the next ``times`` matching requests (then the rule is spent).
        match: A glob matched against the request label, e.g. ``POST /orders/drafts`` or
            ``mutation orderCreate`` or ``*inventory*``; ``None`` matches everything.
        access: ``read`` or ``write`` to limit the rule to one kind of request.
        shop: Limit the rule to one Shopify shop.
    """

    kinds: tuple[str, ...] = FAULT_KINDS
    rate: float = 0.0
    times: int | None = None
    match: str | None = None
    access: str | None = None
    shop: str | None = None

    def matches(self, info: RequestInfo) -> bool:
        if self.access and info.access != self.access:
            return False
        if self.shop and info.shop != self.shop:
            return False
        return not (self.match and not fnmatch.fnmatchcase(info.label, self.match))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FaultRule:
        kinds = data.get("kinds", FAULT_KINDS)
        if isinstance(kinds, str):
            kinds = [kinds]
        bad = [k for k in kinds if k not in FAULT_KINDS]
        if bad:
            raise ValueError(f"unknown fault kind(s) {bad}; use {', '.join(FAULT_KINDS)}")
        rate = float(data.get("rate", 0.0 if data.get("times") else 1.0))
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be between 0 and 1")
        times = data.get("times")
        return cls(
            kinds=tuple(kinds),
            rate=rate,
            times=int(times) if times is not None else None,
            match=data.get("match"),
            access=data.get("access"),
            shop=data.get("shop"),
        )


class FaultPlan:
    """Seeded, reproducible fault injection.

    With one client thread the same seed and rules give the same faults on the same requests.

    Args:
        seed: Seed of the random generator.
        slow_seconds: How long a ``slow`` answer takes (set it above the client's read timeout).
    """

    def __init__(self, seed: int = 0, slow_seconds: float = 2.0) -> None:
        self._lock = threading.Lock()
        self.configure([], seed=seed, slow_seconds=slow_seconds)

    def configure(
        self,
        rules: list[FaultRule],
        *,
        seed: int | None = None,
        slow_seconds: float | None = None,
    ) -> None:
        """Replace the rules (and optionally reseed). An empty list switches faults off."""
        with self._lock:
            self.rules = list(rules)
            if seed is not None:
                self.seed = seed
                self._rng = random.Random(seed)
            if slow_seconds is not None:
                self.slow_seconds = slow_seconds
            self.injected: Counter[str] = Counter()

    def configure_json(self, data: Mapping[str, Any]) -> None:
        """Configure from the admin API's JSON.

        Accepts ``{"rules": [...], "seed": 1, "slow_seconds": 1.5}`` or the short form
        ``{"rate": 0.1, "kinds": [...], "match": ..., "access": ...}`` for a single rule.
        """
        if "rules" in data:
            rules = [FaultRule.from_json(r) for r in data["rules"]]
        elif data.get("rate") or data.get("times"):
            rules = [FaultRule.from_json(data)]
        else:
            rules = []
        self.configure(rules, seed=data.get("seed"), slow_seconds=data.get("slow_seconds"))

    def pick(self, info: RequestInfo) -> str | None:
        """Choose the fault for a request, or ``None``."""
        with self._lock:
            for rule in self.rules:
                if not rule.matches(info):
                    continue
                if rule.times is not None:
                    if rule.times <= 0:
                        continue
                    rule.times -= 1
                elif self._rng.random() >= rule.rate:
                    continue
                kinds = [k for k in rule.kinds if k != "lost" or info.access == "write"]
                if not kinds:
                    continue
                kind = self._rng.choice(kinds)
                self.injected[kind] += 1
                return kind
            return None

    def pick_lost_mode(self) -> str:
        """How a ``lost`` answer is lost: a 502, or a dropped connection."""
        with self._lock:
            return self._rng.choice(("502", "drop"))

    def as_json(self) -> dict[str, Any]:
        with self._lock:
            return {
                "seed": self.seed,
                "slow_seconds": self.slow_seconds,
                "rules": [asdict(r) for r in self.rules],
                "injected": dict(self.injected),
            }


@dataclass
class LogEntry:
    """One served request."""

    seq: int
    at: float
    method: str
    path: str
    label: str
    access: str
    shop: str | None
    status: int | None
    fault: str | None
    ms: float
    note: str | None = None
    cost: float | None = None


class RequestLog:
    """Every request a twin served, with counters, for tests and benchmarks to count calls."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[LogEntry] = []

    def add(self, entry: LogEntry) -> None:
        """Append an entry, numbering it (``seq``) under the lock."""
        with self._lock:
            entry.seq = len(self._entries) + 1
            self._entries.append(entry)

    def entries(self, since: int = 0) -> list[LogEntry]:
        """Entries with ``seq > since``."""
        with self._lock:
            return [e for e in self._entries if e.seq > since]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def mark(self) -> int:
        """The current position, to count only what comes after it (see :meth:`entries`)."""
        with self._lock:
            return self._entries[-1].seq if self._entries else 0

    def counters(self, since: int = 0) -> dict[str, Any]:
        """Totals: requests, writes, by label, by status, faults injected, 429s answered."""
        entries = self.entries(since)
        by_label: Counter[str] = Counter(e.label for e in entries)
        by_status: Counter[str] = Counter(str(e.status) for e in entries)
        return {
            "requests": len(entries),
            "reads": sum(1 for e in entries if e.access == "read"),
            "writes": sum(1 for e in entries if e.access == "write"),
            "throttled": sum(1 for e in entries if e.status == 429 or e.note == "throttled"),
            "cost": sum(e.cost or 0 for e in entries),
            "faults": dict(Counter(e.fault for e in entries if e.fault)),
            "by_label": dict(sorted(by_label.items())),
            "by_status": dict(sorted(by_status.items())),
        }

    def as_json(self, since: int = 0) -> dict[str, Any]:
        return {
            "entries": [asdict(e) for e in self.entries(since)],
            "counters": self.counters(since),
        }


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; without NODELAY, Nagle's algorithm and the
        # client's delayed ACK hold every answer back by ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        return  # the RequestLog is the log; stderr stays quiet

    def _serve(self) -> None:
        twin = self.server.twin
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        req = Request(
            method=self.command,
            raw_path=split.path,
            query=parse_qs(split.query, keep_blank_values=True),
            headers=self.headers,
            body=body,
        )
        if split.path.startswith("/__sandbox/"):
            self._send(twin.admin_request(req))
            return
        twin.serve(req, self)

    do_GET = _serve
    do_POST = _serve
    do_PUT = _serve
    do_DELETE = _serve
    do_PATCH = _serve

    def _send(self, resp: Response) -> None:
        data, headers = resp.encode()
        try:
            self.send_response(resp.status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _drop(self) -> None:
        """Close the connection without an answer (the client sees a connection error)."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    twin: TwinServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that was killed or timed out mid-request is normal here (fault and crash
        # tests do it on purpose); anything else is a twin bug worth seeing.
        import sys

        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


class TwinServer:
    """Serves a :class:`TwinApp` on ``127.0.0.1`` in a background thread.

    Use as a context manager, or :meth:`start` / :meth:`stop`.

    Args:
        app: The twin.
        port: TCP port; 0 picks a free one (see :attr:`port` after start).
        faults: The fault plan (a fresh, inactive one by default).
    """

    def __init__(self, app: TwinApp, port: int = 0, faults: FaultPlan | None = None) -> None:
        self.app = app
        self.faults = faults or FaultPlan()
        self.log = RequestLog()
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.twin = self
        self._thread: threading.Thread | None = None
        self._busy = 0  # requests being served (a slow one may apply after its client left)
        self._idle = threading.Condition()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> TwinServer:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{self.app.name}-twin",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> TwinServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- request pipeline ----------------------------------------------------------------------

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until no request is being served (a ``slow`` one applies its write late);
        False when ``timeout`` seconds passed first."""
        with self._idle:
            return self._idle.wait_for(lambda: self._busy == 0, timeout)

    def serve(self, req: Request, handler: _Handler) -> None:
        with self._idle:
            self._busy += 1
        try:
            self._serve(req, handler)
        finally:
            with self._idle:
                self._busy -= 1
                self._idle.notify_all()

    def _serve(self, req: Request, handler: _Handler) -> None:
        started = time.monotonic()
        try:
            info = self.app.describe(req)
        except Exception:  # a request the twin cannot even classify is still logged
            info = RequestInfo(f"{req.method} {req.path}", "read")
        fault = self.faults.pick(info)
        answer: Response | None = None  # None: the connection is dropped without an answer
        note: str | None = None
        cost: float | None = None
        if fault in ("5xx", "429"):
            answer = self.app.fault_response(fault, req, info)
        elif fault != "drop":
            if fault == "slow":
                time.sleep(self.faults.slow_seconds)
            resp = self._apply(req)
            note, cost = resp.note, resp.cost
            answer = resp
            if fault == "lost":
                lost_502 = self.faults.pick_lost_mode() == "502"
                answer = json_response(502, {"message": "Bad Gateway"}) if lost_502 else None
        # Logged before the answer goes out: whoever counts the log after an answer (or a
        # dropped connection) must find the request in it.
        self.log.add(
            LogEntry(
                seq=0,  # numbered by the log
                at=time.time(),
                method=req.method,
                path=req.raw_path,
                label=info.label,
                access=info.access,
                shop=info.shop,
                status=answer.status if answer is not None else None,
                fault=fault,
                ms=round((time.monotonic() - started) * 1000, 2),
                note=note,
                cost=cost,
            )
        )
        if answer is None:
            handler._drop()
        else:
            handler._send(answer)

    def _apply(self, req: Request) -> Response:
        with self.app.lock:
            try:
                return self.app.handle(req)
            except Exception as exc:  # a twin bug must show as a 500, not hang the client
                return json_response(500, {"message": f"twin error: {type(exc).__name__}: {exc}"})

    # -- admin API --------------------------------------------------------------------------

    def admin_request(self, req: Request) -> Response:
        action = req.raw_path[len("/__sandbox/") :].strip("/")
        try:
            if req.method == "GET" and action == "state":
                with self.app.lock:
                    return json_response(200, self.app.snapshot())
            if req.method == "GET" and action == "requests":
                since = int(req.arg("since", "0") or 0)
                return json_response(200, self.log.as_json(since))
            if req.method == "POST" and action == "requests/clear":
                self.log.clear()
                return json_response(200, {"cleared": True})
            if req.method == "POST" and action == "reset":
                with self.app.lock:
                    self.app.reset()
                self.log.clear()
                self.faults.configure([])
                return json_response(200, {"reset": True})
            if req.method == "POST" and action == "seed":
                with self.app.lock:
                    return json_response(200, self.app.seed(req.json() or {}))
            if action == "faults":
                if req.method == "POST":
                    self.faults.configure_json(req.json() or {})
                return json_response(200, self.faults.as_json())
            with self.app.lock:
                resp = self.app.admin(req, action)
            if resp is not None:
                return resp
            return json_response(404, {"message": f"unknown sandbox admin action {action!r}"})
        except (ValueError, TypeError, KeyError) as exc:
            return json_response(400, {"message": f"bad admin request: {exc}"})
