"""Rackbeat REST client.

Facts it relies on (see ``reference/rackbeat-api.md``): Bearer auth; lists answer **206** with
``{<plural>: [...], page, pages, limit, total}``; the plural key differs per endpoint (a map, not a
pluralizer); ``limit`` ≤ 1000; creates answer 201; validation answers 422 with
``{"errors": {"path": ["msg"]}}``; 429 when over about 480 requests per minute per token, with no
documented headers; items are addressed by ``number``, a string URL-encoded exactly once.

Every response is classified in :meth:`RackbeatClient._classify`; every request goes through the
shared :class:`~rackshop.http.Transport` (retry policy) after the client-side
:class:`RateLimiter` lets it pass.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

import requests

from rackshop.errors import ApiContractError, NotFoundError, ValidationError
from rackshop.http import Transport

log = logging.getLogger("rackshop.rackbeat")

MAX_PAGE_SIZE = 1000

#: Collection key per list endpoint. Rackbeat's plurals are irregular; never derive them.
LIST_KEYS: dict[str, str] = {
    "products": "products",
    "items": "items",
    "lots": "lots",
    "orders": "orders",
    "customers": "customers",
    "locations": "locations",
    "product-groups": "product_groups",
    "inventory-adjustments": "inventory_regulations",
    "inventory-movements": "inventory_regulations",
    "customer-invoices": "customer_invoices",
    "order-shipments": "order_shipments",
    "webhooks": "webhooks",
    "customer-groups": "customer_groups",
    "payment-terms": "payment_terms",
    "layouts": "layouts",
    "employees": "employees",
    "currencies": "currencies",
    "reports/checking": "items",
    # sub-resources, keyed by their last path segment
    "addresses": "addresses",
    "contacts": "customer_contacts",
    "shipments": "order_shipments",
    "fields": "field_values",
    "children": "locations",
}

#: Singular envelope key per resource, for single-object answers.
SINGLE_KEYS: dict[str, str] = {
    "products": "product",
    "items": "item",
    "lots": "lot",
    "orders": "order",
    "customers": "customer",
    "locations": "location",
    "product-groups": "product_group",
    "inventory-adjustments": "inventory_regulation",
    "customer-invoices": "customer_invoice",
    "webhooks": "webhook",
    "shipments": "order_shipment",
    "order-shipments": "order_shipment",
}


def encode_number(number: str | int) -> str:
    """URL-encode an item/customer/order number for a path segment, exactly once.

    ``/``, ``#``, spaces and every other reserved character are escaped (``A/1 #2`` ->
    ``A%2F1%20%232``). Rackbeat's own client moved from double to single encoding in 2021.
    """
    return quote(str(number), safe="")


def list_key(endpoint: str) -> str:
    """The collection key for a list endpoint path such as ``customers/17/addresses``."""
    path = endpoint.strip("/")
    if path in LIST_KEYS:
        return LIST_KEYS[path]
    last = path.rsplit("/", 1)[-1]
    if last in LIST_KEYS:
        return LIST_KEYS[last]
    raise ApiContractError(
        f"rackshop does not know the list key of Rackbeat endpoint {endpoint!r} "
        "(add it to rackshop.rackbeat.client.LIST_KEYS)"
    )


class RateLimiter:
    """Client-side sliding-window limiter: at most ``per_minute`` requests in any 60 s.

    Rackbeat publishes no limit; its own SDKs throttle at 480 per minute per token, and the
    server answers 429 beyond that. Pacing ourselves keeps long jobs from ever seeing a 429.

    Args:
        per_minute: Allowed requests per rolling minute.
        clock: Monotonic seconds (injectable).
        sleep: Sleep function (injectable; tests record instead of sleeping).
        window: Window length in seconds (the sandbox scales it).
    """

    def __init__(
        self,
        per_minute: int = 480,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        window: float = 60.0,
    ) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self.per_minute = per_minute
        # Keep 2 % in hand: our window starts when a request is sent, the server's when it
        # arrives, and a slow answer can shift a few requests into the server's next minute.
        self.allowed = per_minute - per_minute // 50
        self.window = window
        self.clock = clock
        self.sleep = sleep
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()
        self.waited = 0.0
        """Total seconds spent waiting for the window, for reports."""

    def acquire(self) -> None:
        """Block until one more request fits in the window, then count it."""
        with self._lock:
            while True:
                now = self.clock()
                while self._sent and now - self._sent[0] >= self.window:
                    self._sent.popleft()
                if len(self._sent) < self.allowed:
                    self._sent.append(now)
                    return
                wait = self.window - (now - self._sent[0])
                self.waited += wait
                self.sleep(wait)


class RackbeatClient:
    """Typed access to the Rackbeat API.

    Args:
        base_url: API root, e.g. ``https://app.rackbeat.com/api/``.
        token: Returns the API token (a callable so the secret is read only when sending).
        transport: The shared HTTP transport (its ``before_send`` should be the limiter).
        limiter: The limiter behind ``before_send``, kept for reports (waited seconds).
    """

    def __init__(
        self,
        base_url: str,
        token: Callable[[], str],
        transport: Transport,
        *,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self._token = token
        self.transport = transport
        self.limiter = limiter
        self.max_page_size = MAX_PAGE_SIZE
        """The largest ``limit`` sent (lower when ``check --contract`` found the account
        refuses 1000; see :func:`rackshop.contract.adapt_rackbeat_client`)."""
        self.line_price_is_total = False
        """Whether the account reads an order or invoice line's ``line_price`` as the line's
        total before discount (``check --contract`` found so). rackshop always thinks in unit
        prices; :meth:`request` turns them into totals on the way out and back into unit prices
        on the way in, so this choice lives here only (:func:`line_prices_as_totals`)."""

    # -- low level ---------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self._token()}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        idempotent: bool | None = None,
        operation: str | None = None,
    ) -> Any:
        """Send one request and return the decoded JSON body.

        Args:
            method: HTTP method.
            path: Path below the API root; numbers in it must already be encoded
                (:func:`encode_number`).
            params: Query parameters.
            body: JSON body.
            idempotent: Defaults to true for GET/PUT/DELETE and false for POST.
            operation: Name for messages and logs (defaults to ``METHOD path``).

        Raises:
            NotFoundError: 404.
            ValidationError: 422, with the field messages.
            OutcomeUnknownError: a POST that may have been applied.
        """
        op = operation or f"{method} /{path.lstrip('/')}"
        if idempotent is None:
            idempotent = method.upper() != "POST"
        lines = self.line_price_is_total and carries_lines(path)
        answer = self.transport.request(
            method,
            self.base_url + path.lstrip("/"),
            classify=lambda resp: self._classify(resp, op),
            operation=op,
            idempotent=idempotent,
            headers=self._headers(),
            json=line_prices_as_totals(body) if lines else body,
            params=params,
        )
        return line_prices_as_units(answer) if lines else answer

    @staticmethod
    def _classify(resp: requests.Response, operation: str) -> Any:
        status = resp.status_code
        if status in (200, 201, 202, 206):
            if not resp.content:
                return {}
            try:
                return resp.json()
            except ValueError as exc:
                raise ApiContractError(
                    f"Rackbeat answered {operation} with HTTP {status} but the body is not JSON"
                ) from exc
        if status == 204:
            return {}
        payload: Any
        try:
            payload = resp.json()
        except ValueError:
            payload = {}
        message = payload.get("message", "") if isinstance(payload, dict) else ""
        if status == 404:
            raise NotFoundError(f"{operation}: not found in Rackbeat")
        if status == 422:
            errors = payload.get("errors") if isinstance(payload, dict) else None
            fields = errors if isinstance(errors, dict) else {}
            fields = {k: v if isinstance(v, list) else [str(v)] for k, v in fields.items()}
            raise ValidationError(operation, fields, message)
        raise ApiContractError(
            f"Rackbeat answered {operation} with HTTP {status}: {message or resp.text[:200]}"
        )

    # -- lists -------------------------------------------------------------------------------

    def iter_list(
        self,
        endpoint: str,
        params: Mapping[str, Any] | None = None,
        *,
        page_size: int = MAX_PAGE_SIZE,
    ) -> Iterator[dict[str, Any]]:
        """Yield every record of a paginated list, page by page (206 is success).

        Args:
            endpoint: e.g. ``products`` or ``customers``; numbers inside already encoded.
            params: Filters (``updated_at_from``, ``search``, ``simple_filter[number]``...).
            page_size: ``limit`` per page, at most 1000.
        """
        key = list_key(endpoint)
        limit = max(1, min(page_size, self.max_page_size))
        page = 1
        while True:
            query = {**(params or {}), "page": page, "limit": limit}
            body = self.request("GET", endpoint, params=query)
            if not isinstance(body, dict) or key not in body:
                raise ApiContractError(
                    f"Rackbeat list GET /{endpoint} has no {key!r} key "
                    f"(keys: {sorted(body) if isinstance(body, dict) else type(body).__name__})"
                )
            yield from body[key]
            pages = int(body.get("pages") or 0)
            if page >= pages or not body[key]:
                return
            page += 1

    def list_all(self, endpoint: str, params: Mapping[str, Any] | None = None,
                 *, page_size: int = MAX_PAGE_SIZE) -> list[dict[str, Any]]:
        """Every record of a list, as a list."""
        return list(self.iter_list(endpoint, params, page_size=page_size))

    # -- single resources ------------------------------------------------------------------

    def get_one(self, resource: str, number: str | int) -> dict[str, Any]:
        """``GET /{resource}/{number}`` unwrapped from its envelope.

        Raises:
            NotFoundError: No such record.
        """
        body = self.request("GET", f"{resource}/{encode_number(number)}")
        return _unwrap(body, SINGLE_KEYS.get(resource, resource.rstrip("s")))

    def find_one(self, resource: str, number: str | int) -> dict[str, Any] | None:
        """Like :meth:`get_one` but ``None`` when it does not exist."""
        try:
            return self.get_one(resource, number)
        except NotFoundError:
            return None

    def create(self, resource: str, body: Mapping[str, Any], *, path: str | None = None
               ) -> dict[str, Any]:
        """``POST /{path or resource}`` — a create, never retried on an unknown outcome."""
        answer = self.request("POST", path or resource, body=dict(body))
        return _unwrap(answer, SINGLE_KEYS.get(resource, resource.rstrip("s")))

    def update(self, resource: str, number: str | int, body: Mapping[str, Any]) -> dict[str, Any]:
        """``PUT /{resource}/{number}`` (idempotent)."""
        answer = self.request("PUT", f"{resource}/{encode_number(number)}", body=dict(body))
        return _unwrap(answer, SINGLE_KEYS.get(resource, resource.rstrip("s")))

    # -- convenience -------------------------------------------------------------------------

    def self_info(self) -> dict[str, Any]:
        """``GET /self``: the account behind the token (used by ``rackshop check``)."""
        body = self.request("GET", "self")
        return body if isinstance(body, dict) else {}

    def locations(self) -> list[dict[str, Any]]:
        """Every location (the tree, flattened; ``parent_id`` links children)."""
        return self.list_all("locations")


# -- line_price: unit price or line total (issue 16) -------------------------------------------

#: The first path segments whose bodies and answers carry order or invoice lines.
LINE_RESOURCES = ("orders", "customer-invoices")
#: Decimal places of a unit price read back from a line total.
UNIT_PLACES = Decimal("0.000001")


def carries_lines(path: str) -> bool:
    """Whether requests to ``path`` send or answer order or invoice lines."""
    return path.lstrip("/").split("/", 1)[0] in LINE_RESOURCES


def _is_line(value: Any) -> bool:
    return isinstance(value, dict) and "line_price" in value and "quantity" in value


def _converted(line: dict[str, Any], to_total: bool) -> dict[str, Any]:
    try:
        price, quantity = Decimal(str(line["line_price"])), Decimal(str(line["quantity"]))
    except (InvalidOperation, ValueError, TypeError):
        return line  # not numbers: Rackbeat will say what is wrong
    if quantity == 0:
        return line
    if to_total:
        new = price * quantity
    else:
        new = (price / quantity).quantize(UNIT_PLACES, rounding=ROUND_HALF_UP).normalize()
    number = int(new) if new == new.to_integral_value() else float(new)
    return {**line, "line_price": number}


def line_prices_as_totals(body: Any) -> Any:
    """A request body with every line's unit ``line_price`` × its ``quantity`` (a copy)."""
    if _is_line(body):
        return _converted(body, True)
    if isinstance(body, dict) and isinstance(body.get("lines"), list):
        return {**body, "lines": [_converted(ln, True) if _is_line(ln) else ln
                                  for ln in body["lines"]]}
    return body


def line_prices_as_units(answer: Any) -> Any:
    """An answer with every line's ``line_price`` (a total) ÷ its ``quantity``, to 6 places."""
    if _is_line(answer):
        return _converted({k: line_prices_as_units(v) for k, v in answer.items()}, False)
    if isinstance(answer, dict):
        return {k: line_prices_as_units(v) for k, v in answer.items()}
    if isinstance(answer, list):
        return [line_prices_as_units(v) for v in answer]
    return answer


def _unwrap(body: Any, key: str) -> dict[str, Any]:
    if isinstance(body, dict) and isinstance(body.get(key), dict):
        return dict(body[key])
    if isinstance(body, dict):
        return body
    raise ApiContractError(f"Rackbeat answered with {type(body).__name__} where {key!r} was due")
