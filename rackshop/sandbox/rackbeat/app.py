"""The Rackbeat twin: a local simulator of the Rackbeat REST API.

:class:`RackbeatTwin` is a :class:`~rackshop.sandbox.base.TwinApp`; serve it with
:class:`~rackshop.sandbox.base.TwinServer`::

    twin = RackbeatTwin(Clock(scale=60))
    twin.add_location(1, "Main warehouse", is_default=True)
    twin.add_product_group(1, "Clothing")
    twin.add_product("SKU-1", "T-shirt", 100.0, 1, stock={1: 10})
    with TwinServer(twin) as server:
        requests.get(f"{server.url}/api/products", headers={"Authorization": "Bearer ..."})

A request goes: route (unknown path 404, wrong method 405) -> bearer token (401) -> the token's
sliding-window limiter (429 with ``Retry-After``) -> the handler (data and rules in
:mod:`.model`) -> webhook events of the change, unless ``suppress_webhooks`` was asked for.
What is modelled, and every choice made where the public record is unsure, is in
``docs/sandbox-rackbeat.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any, TypeVar

from rackshop.sandbox.base import Clock, Request, RequestInfo, Response, TwinApp, json_response

from . import variants as _variants
from .limiter import SlidingWindowLimiter
from .model import (
    Account,
    Adjustment,
    Customer,
    Invoice,
    Item,
    Location,
    Order,
    ProductGroup,
    Shipment,
    Webhook,
    as_error,
)
from .query import ListSpec, filter_records, page_body, parse_fields, parse_page, select
from .validation import JSON, ApiError, to_int
from .webhooks import WebhookDispatcher, is_local_url

T = TypeVar("T")
DEFAULT_TOKEN = "sandbox-rackbeat-token"
CET = timezone(timedelta(hours=1), "CET")
_TRUE = ("1", "true", "yes", "on")


# -- routing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """One endpoint: ``GET /products/{number}`` and the twin method that answers it."""

    method: str
    pattern: tuple[str, ...]
    handler: str

    @property
    def label(self) -> str:
        """``GET /products/{number}``: the templated label for logs, counters and faults."""
        return f"{self.method} /{'/'.join(self.pattern)}"

    def match(self, parts: Sequence[str]) -> list[str] | None:
        """The path parameters if ``parts`` fits the pattern."""
        if len(parts) != len(self.pattern):
            return None
        params = []
        for want, got in zip(self.pattern, parts, strict=True):
            if want.startswith("{"):
                params.append(got)
            elif want != got:
                return None
        return params


def _routes(table: str) -> list[Route]:
    out = []
    for line in table.strip().splitlines():
        spec, handler = line.split("->")
        method, path = spec.split()
        out.append(Route(method, tuple(p for p in path.split("/") if p), handler.strip()))
    return out


# Literal routes come before the ones with a parameter in the same place.
ROUTES = _routes(
    """
    GET /self -> get_self
    GET /locations -> list_locations
    GET /locations/{number} -> get_location
    GET /locations/{number}/children -> list_location_children
    GET /product-groups -> list_groups
    POST /product-groups -> create_group
    GET /product-groups/{number} -> get_group
    PUT /product-groups/{number} -> update_group
    GET /units -> list_units
    GET /units/{number} -> get_unit
    GET /products -> list_products
    POST /products -> create_product
    GET /products/{number} -> get_product
    PUT /products/{number} -> update_product
    DELETE /products/{number} -> delete_product
    GET /products/{number}/locations -> product_locations
    GET /products/{number}/fields -> product_fields
    POST /products/{number}/convert -> convert_product
    GET /lots -> list_lots
    POST /lots -> create_lot
    GET /lots/{number} -> get_lot
    PUT /lots/{number} -> update_lot
    DELETE /lots/{number} -> delete_lot
    GET /lots/{number}/locations -> lot_locations
    GET /items -> list_items
    GET /items/{number} -> get_item
    GET /items/{number}/locations -> item_locations
    GET /items/{number}/locations/available -> item_locations_available
    GET /items/{number}/fields -> item_fields
    GET /reports/checking -> report_checking
    GET /inventory-adjustments -> list_adjustments
    POST /inventory-adjustments -> create_adjustment
    GET /inventory-adjustments/{id} -> get_adjustment
    DELETE /inventory-adjustments/{id} -> delete_adjustment
    POST /inventory-adjustments/{id}/book -> book_adjustment
    GET /customers -> list_customers
    POST /customers -> create_customer
    GET /customers/{number} -> get_customer
    PUT /customers/{number} -> update_customer
    GET /customers/{number}/addresses -> list_customer_addresses
    POST /customers/{number}/addresses -> create_customer_address
    GET /customers/{number}/contacts -> list_customer_contacts
    POST /customers/{number}/contacts -> create_customer_contact
    GET /customer-groups -> list_customer_groups
    GET /customer-groups/{number} -> get_customer_group
    GET /payment-terms -> list_payment_terms
    GET /payment-terms/{number} -> get_payment_terms
    GET /layouts -> list_layouts
    GET /layouts/{number} -> get_layout
    GET /employees -> list_employees
    GET /employees/{number} -> get_employee
    GET /currencies -> list_currencies
    GET /currencies/{code} -> get_currency
    GET /orders -> list_orders
    POST /orders -> create_order
    POST /orders/drafts -> create_order
    POST /orders/shipments/{id}/mark-shipped -> mark_shipped
    GET /orders/{number} -> get_order
    PUT /orders/{number} -> update_order
    DELETE /orders/{number} -> delete_order
    GET /orders/{number}/lines -> list_order_lines
    POST /orders/{number}/lines -> create_order_line
    GET /orders/{number}/lines/{id} -> get_order_line
    PUT /orders/{number}/lines/{id} -> update_order_line
    DELETE /orders/{number}/lines/{id} -> delete_order_line
    POST /orders/{number}/book -> book_order
    POST /orders/{number}/reopen -> reopen_order
    POST /orders/{number}/create-shipment -> create_shipment
    GET /orders/{number}/shipments -> list_order_shipments
    POST /orders/{number}/convert-to-invoice -> convert_to_invoice
    GET /order-shipments -> list_shipments
    GET /order-shipments/{id} -> get_shipment
    GET /customer-invoices -> list_invoices
    GET /customer-invoices/{number} -> get_invoice
    PUT /customer-invoices/{number} -> update_invoice
    DELETE /customer-invoices/{number} -> delete_invoice
    POST /customer-invoices/{number}/book -> book_invoice
    POST /customer-invoices/{number}/create-creditnote -> create_creditnote
    GET /webhooks -> list_webhooks
    POST /webhooks -> create_webhook
    GET /webhooks/{id} -> get_webhook
    PUT /webhooks/{id} -> update_webhook
    DELETE /webhooks/{id} -> delete_webhook
    GET /webhooks/{id}/logs -> webhook_logs
    """
)


def _api_parts(req: Request) -> list[str] | None:
    """The decoded path segments after ``/api`` (``None`` outside ``/api``)."""
    parts = req.segments()
    if not parts or parts[0] != "api":
        return None
    return parts[1:]


def _route(req: Request) -> tuple[Route | None, list[str], list[str]]:
    """(route, params, methods allowed on this path) for a request."""
    parts = _api_parts(req)
    if parts is None:
        return None, [], []
    method = "PUT" if req.method == "PATCH" else req.method
    allowed: list[str] = []
    for route in ROUTES:
        params = route.match(parts)
        if params is None:
            continue
        if route.method == method:
            return route, params, []
        allowed.append(route.method)
    return None, [], allowed


# -- list specs -------------------------------------------------------------------------------


def _stamps(getters: dict[str, Callable[[Any], Any]]) -> dict[str, Callable[[Any], Any]]:
    getters.setdefault("created_at", lambda r: r.created_at)
    getters.setdefault("updated_at", lambda r: r.updated_at)
    return getters


def _key_getter(name: str) -> Callable[[JSON], Any]:
    def get(record: JSON) -> Any:
        """The value of one key of a dict record."""
        return record.get(name)

    return get


def _dict_spec(
    key: str, order: str, filterable: Iterable[str], search: Iterable[str] = ()
) -> ListSpec[JSON]:
    """A list spec for records that are plain dicts (lookups, per-location stock...)."""
    names = set(filterable) | set(search) | {order}
    return ListSpec(
        key,
        {name: _key_getter(name) for name in names},
        tuple(search),
        frozenset(filterable),
        order,
    )


class RackbeatTwin(TwinApp):
    """A local Rackbeat account behind a faithful copy of the REST API.

    Args:
        clock: The twin clock; its scale speeds up the rate limiter and webhook retries.
        tokens: Valid API tokens; each has its own limiter.
        requests_per_minute: Per-token allowance in a sliding 60 twin-second window.
        stock_deducted_on: ``"shipment"`` or ``"invoice"`` (Rackbeat's "Inventory value linked
            to invoicing" account setting).
        customer_number_start: First auto-assigned customer number.
        order_number_start: First auto-assigned order number.
        invoice_number_start: First customer invoice number.
        account_id: Sent in ``Rackbeat-Account-Id`` and shown by ``GET /self``.
        company_name: Shown by ``GET /self``.
        tz: The account time zone of timestamps and of filter dates without an offset.
        wall_clock: "Now" for ``created_at``/``updated_at`` (injectable for tests).
        webhook_retry_delays: Twin seconds before each retry of a failed delivery.
        webhook_timeout: (connect, read) timeout of one delivery, real seconds.
        token_factory: Makes the 32-character webhook tokens.
    """

    name = "rackbeat"

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        tokens: Sequence[str] = (DEFAULT_TOKEN,),
        requests_per_minute: int = 480,
        stock_deducted_on: str = "shipment",
        customer_number_start: int = 1001,
        order_number_start: int = 1001,
        invoice_number_start: int = 1001,
        account_id: int = 4711,
        company_name: str = "Rackshop Sandbox ApS",
        tz: tzinfo = CET,
        wall_clock: Callable[[], datetime] | None = None,
        webhook_retry_delays: Sequence[float] = (10.0, 60.0, 300.0, 1800.0),
        webhook_timeout: tuple[float, float] = (3.0, 15.0),
        token_factory: Callable[[], str] | None = None,
        variants: Iterable[str] = (),
    ) -> None:
        super().__init__(clock)
        if not tokens:
            raise ValueError("the Rackbeat twin needs at least one API token")
        self.tokens = tuple(tokens)
        self.account_id = account_id
        self.company_name = company_name
        self.tz = tz
        self._wall_clock = wall_clock or (lambda: datetime.now(tz))
        self._account_args: dict[str, Any] = {
            "stock_deducted_on": stock_deducted_on,
            "customer_number_start": customer_number_start,
            "order_number_start": order_number_start,
            "invoice_number_start": invoice_number_start,
            "token_factory": token_factory,
        }
        self.limiter = SlidingWindowLimiter(self.clock, requests_per_minute)
        self.webhooks = WebhookDispatcher(
            self.clock,
            account_id=account_id,
            retry_delays=webhook_retry_delays,
            timeout=webhook_timeout,
        )
        self.account = self._new_account()
        self.variants = _variants.check_names(variants)
        """Documented alternatives switched on (``variants.py``; issue 16)."""

    def _new_account(self) -> Account:
        return Account(wall_clock=self._wall_clock, tz=self.tz, **self._account_args)

    # -- TwinApp ---------------------------------------------------------------------------

    def describe(self, req: Request) -> RequestInfo:
        """Templated labels (``GET /products/{number}``), so counts and faults go by endpoint."""
        route, _, _ = _route(req)
        access = "read" if req.method in ("GET", "HEAD") else "write"
        if route is not None:
            return RequestInfo(route.label, access)
        parts = _api_parts(req)
        path = "/" + "/".join(parts) if parts is not None else req.path
        return RequestInfo(f"{req.method} {path}", access)

    def fault_response(self, kind: str, req: Request, info: RequestInfo) -> Response:
        """Bodies of injected faults, in Laravel's wording."""
        if kind == "429":
            return json_response(429, {"message": "Too Many Attempts."}, **{"Retry-After": "1"})
        return json_response(500, {"message": "Server Error"})

    def handle(self, req: Request) -> Response:
        """Route, authenticate, rate-limit and answer one ``/api`` request."""
        route, params, allowed = _route(req)
        if route is None:
            if allowed:
                return json_response(
                    405,
                    {
                        "message": f"The {req.method} method is not supported for this route. "
                        f"Supported methods: {', '.join(sorted(set(allowed)))}."
                    },
                )
            return json_response(404, {"message": "Not Found"})
        token = self._token(req)
        if token is None:
            return json_response(401, {"message": "Unauthenticated."})
        wait = self.limiter.hit(token)
        if wait is not None:
            retry = str(self.limiter.retry_after(wait))
            return Response(
                429, {"message": "Too Many Attempts."}, {"Retry-After": retry}, note="throttled"
            )
        suppress = (req.arg("suppress_webhooks") or "").lower() in _TRUE
        try:
            body = self._body(req)
            if body.get("suppress_webhooks") in (True, 1, "1", "true"):
                suppress = True
            handler: Callable[[Request, list[str], JSON], Response] = getattr(
                self, f"_h_{route.handler}"
            )
            _variants.before(self.variants, route.label, req)
            return _variants.after(self.variants, route.label, req, handler(req, params, body))
        except ApiError as exc:
            return json_response(exc.status, exc.body())
        finally:
            self._flush_events(suppress)

    def _token(self, req: Request) -> str | None:
        auth = (req.header("Authorization") or "").strip()
        scheme, _, token = auth.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or token not in self.tokens:
            return None
        return token

    @staticmethod
    def _body(req: Request) -> JSON:
        if req.method in ("GET", "HEAD", "DELETE") and not req.body:
            return {}
        try:
            data = req.json()
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError(400, "The request body is not valid JSON.") from exc
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise ApiError(400, "The request body must be a JSON object.")
        return data

    def _flush_events(self, suppress: bool) -> None:
        events, self.account.events = self.account.events, []
        if suppress:
            return
        for event, body in events:
            for hook in self.account.webhooks.values():
                if hook.is_active and hook.event == event:
                    self.webhooks.enqueue(
                        hook.id, hook.token, event, hook.url, body, self.account.now()
                    )

    def snapshot(self) -> JSON:
        """Everything the twin holds, as JSON (``GET /__sandbox/state``)."""
        acc = self.account

        def with_stock(item: Item) -> JSON:
            """An item with its stock per location."""
            out = acc.item_json(item)
            out["locations"] = [
                {
                    k: loc[k]
                    for k in ("number", "stock_quantity", "in_order_quantity", "available_quantity")
                }
                for loc in acc.item_locations(item)
            ]
            return out

        return {
            "account": {
                "id": self.account_id,
                "company_name": self.company_name,
                "stock_deducted_on": acc.stock_deducted_on,
                "tokens": len(self.tokens),
                "requests_per_minute": self.limiter.limit,
            },
            "locations": [acc.location_json(loc) for loc in acc.locations.values()],
            "product_groups": [acc.group_json(g) for g in acc.groups.values()],
            "products": [with_stock(i) for i in acc.items.values() if i.type == "product"],
            "lots": [with_stock(i) for i in acc.items.values() if i.type == "lot"],
            "customers": [
                {**acc.customer_json(c), "addresses": c.addresses, "contacts": c.contacts}
                for c in acc.customers.values()
            ],
            "orders": [acc.order_json(o) for o in acc.orders.values()],
            "order_shipments": [acc.shipment_json(s) for s in acc.shipments.values()],
            "customer_invoices": [acc.invoice_json(i) for i in acc.invoices.values()],
            "inventory_adjustments": [acc.adjustment_json(a) for a in acc.adjustments.values()],
            "webhooks": [self._webhook_json(h, token=True) for h in acc.webhooks.values()],
            "webhook_deliveries": self.webhooks.deliveries(),
            "lookups": {
                "customer_groups": list(acc.lookups.customer_groups.values()),
                "payment_terms": list(acc.lookups.payment_terms.values()),
                "layouts": list(acc.lookups.layouts.values()),
                "employees": list(acc.lookups.employees.values()),
                "units": list(acc.lookups.units.values()),
                "currencies": list(acc.lookups.currencies.values()),
            },
        }

    def reset(self) -> None:
        """Forget every record, delivery and limiter window (lookups are seeded again)."""
        with self.lock:
            self.account = self._new_account()
            self.webhooks.clear()
            self.limiter.reset()

    def seed(self, params: Mapping[str, Any]) -> Any:
        """Load seed data through ``rackshop.sandbox.seed.seed_rackbeat``."""
        from rackshop.sandbox.seed import (  # type: ignore[import-not-found, unused-ignore]
            seed_rackbeat,
        )

        return seed_rackbeat(self, params)

    def admin(self, req: Request, action: str) -> Response | None:
        """Twin-specific admin actions.

        * ``POST /__sandbox/set-stock`` ``{"number", "location", "quantity"}``: stock changed in
          the warehouse behind the tool's back (a booked adjustment, with webhooks).
        * ``GET /__sandbox/deliveries``: webhook deliveries.
        """
        if action == "variants":  # issue 16: {"variants": ["no-location-available"]}
            if req.method == "POST":
                try:
                    names = (req.json() or {}).get("variants") or ()
                    self.variants = _variants.check_names(names)
                except ValueError as exc:
                    return json_response(400, {"message": str(exc)})
            return json_response(200, {"variants": sorted(self.variants)})
        if action == "set-stock" and req.method == "POST":
            data = req.json() or {}
            self.set_stock(str(data["number"]), int(data["location"]), float(data["quantity"]))
            item = self.account.item(data["number"])
            return json_response(200, {"item": self.account.item_json(item)})
        if action == "deliveries" and req.method == "GET":
            return json_response(200, {"deliveries": self.webhooks.deliveries()})
        return None

    # -- Python API (seeding and tests) ----------------------------------------------------

    def _python(self, fn: Callable[[], T]) -> T:
        """Run a seeding call like a request: locked, events delivered, errors as ValueError."""
        with self.lock:
            try:
                return fn()
            except ApiError as exc:
                raise as_error(exc) from exc
            finally:
                self._flush_events(False)

    def add_location(
        self, number: int, name: str, parent: int | None = None, is_default: bool = False
    ) -> None:
        """Add a location; ``parent`` makes it a place inside another location."""
        self._python(lambda: self.account.add_location(number, name, parent, is_default))

    def add_product_group(
        self,
        number: int,
        name: str,
        vat_domestic: float = 25.0,
        vat_eu: float = 0.0,
        vat_abroad: float = 0.0,
        has_inventory: bool = True,
    ) -> None:
        """Add a product group (VAT rates per zone; ``has_inventory=False`` for services)."""
        payload = {
            "number": number,
            "name": name,
            "vat_domestic": vat_domestic,
            "vat_eu": vat_eu,
            "vat_abroad": vat_abroad,
            "has_inventory": has_inventory,
        }
        self._python(lambda: self.account.add_group(payload))

    def add_product(
        self,
        number: str,
        name: str,
        sales_price: float,
        group: int,
        *,
        barcode: str | None = None,
        description: str = "",
        weight: float | None = None,
        weight_unit: str = "kg",
        is_barred: bool = False,
        stock: Mapping[int, float] | None = None,
        default_location: int | None = None,
    ) -> None:
        """Add a product; ``stock`` (location -> on hand) is registered as booked adjustments."""
        payload: JSON = {
            "number": number,
            "name": name,
            "sales_price": sales_price,
            "group": group,
            "barcode": barcode,
            "description": description,
            "is_barred": is_barred,
            "physical": {"weight": weight, "weight_unit": weight_unit},
        }
        if default_location is not None:
            payload["default_location_id"] = default_location

        def run() -> None:
            """Create the product, then register its opening stock."""
            self.account.create_item(payload, "product")
            for loc, qty in (stock or {}).items():
                self._set_stock(number, loc, qty)

        self._python(run)

    def add_lot(
        self,
        number: str,
        name: str,
        sales_price: float,
        group: int,
        components: Mapping[str, float],
    ) -> None:
        """Add a BOM made of ``components`` (product number -> quantity per BOM)."""
        payload = {
            "number": number,
            "name": name,
            "sales_price": sales_price,
            "group": group,
            "lines": [{"item_id": n, "quantity": q} for n, q in components.items()],
        }
        self._python(lambda: self.account.create_item(payload, "lot"))

    def add_customer(self, name: str, email: str | None, **fields: Any) -> int:
        """Add a customer (``number`` auto-assigned unless given); returns its number."""
        payload = {"name": name, "contact_email": email, **fields}
        return self._python(lambda: self.account.create_customer(payload).number)

    def set_stock(self, number: str, location: int, quantity: float) -> None:
        """Set on-hand stock at one location (a booked adjustment; no-op when unchanged)."""
        self._python(lambda: self._set_stock(number, location, quantity))

    def _set_stock(self, number: str, location: int, quantity: float) -> None:
        item = self.account.item(number)
        if item.on_hand.get(location, 0.0) == quantity:
            return
        adj = self.account.create_adjustment(
            {
                "item_id": number,
                "adjustment_type": "quantity",
                "quantity": quantity,
                "location": location,
                "reason": "sandbox",
            }
        )
        self.account.book_adjustment(adj)

    def stock(self, number: str, location: int | None = None) -> dict[str, float]:
        """``stock_quantity``, ``in_order_quantity``, ``available_quantity`` (one exact location
        or the total)."""
        with self.lock:
            stock, in_order, available = self.account.quantities(
                self.account.item(number), location
            )
        return {
            "stock_quantity": stock,
            "in_order_quantity": in_order,
            "available_quantity": available,
        }

    def add_customer_group(self, number: int, name: str) -> None:
        """Add (or replace) a customer group."""
        with self.lock:
            self.account.lookups.customer_groups[number] = {"number": number, "name": name}

    def add_payment_terms(
        self, number: int, name: str, maturity_days: int = 8, kind: str = "net"
    ) -> None:
        """Add (or replace) payment terms (``maturity_days`` sets invoice due dates)."""
        with self.lock:
            self.account.lookups.payment_terms[number] = {
                "number": number,
                "name": name,
                "type": kind,
                "description": name,
                "maturity_days": maturity_days,
            }

    def add_layout(self, number: int, name: str) -> None:
        """Add (or replace) a document layout."""
        with self.lock:
            self.account.lookups.layouts[number] = {"number": number, "name": name}

    def add_employee(self, number: int, name: str, email: str | None = None) -> None:
        """Add (or replace) an employee."""
        with self.lock:
            self.account.lookups.employees[number] = {
                "number": number,
                "name": name,
                "email": email,
            }

    def add_currency(self, code: str, rate: float) -> None:
        """Add (or replace) a currency (rate in DKK per 100 units)."""
        with self.lock:
            self.account.lookups.currencies[code.upper()] = {
                "code": code.upper(),
                "rate": rate,
                "is_custom": True,
                "updated_at": self.account.now().isoformat(),
            }

    def add_field(self, field_id: int, name: str, slug: str | None = None) -> None:
        """Define a custom item field (values are read via ``/products/{n}/fields``)."""
        with self.lock:
            self.account.fields[field_id] = {
                "id": field_id,
                "name": name,
                "slug": slug or name.lower(),
            }

    def set_field_value(self, number: str, field_id: int, value: str) -> None:
        """Set a custom field value on an item (bumps its ``updated_at``)."""
        with self.lock:
            item = self.account.item(number)
            item.field_values[field_id] = value
            item.updated_at = self.account.now()

    def wait_for_webhooks(self, timeout: float = 10.0) -> bool:
        """Wait until every queued webhook delivery is done (real seconds)."""
        return self.webhooks.wait_idle(timeout)

    def deliveries(self) -> list[JSON]:
        """Every webhook delivery so far (event, url, body, attempts, status...)."""
        return self.webhooks.deliveries()

    def close(self) -> None:
        """Stop the webhook thread."""
        self.webhooks.close()

    # -- helpers -----------------------------------------------------------------------------

    def _list(
        self, req: Request, spec: ListSpec[T], records: Iterable[T], serialize: Callable[[T], JSON]
    ) -> Response:
        page = parse_page(req.query)
        rows = filter_records(req.query, spec, records, self.tz)
        return json_response(
            206, page_body(spec.key, rows, page, serialize, parse_fields(req.arg("fields")))
        )

    @staticmethod
    def _one(req: Request, key: str, record: JSON, status: int = 200) -> Response:
        return json_response(status, {key: select(record, parse_fields(req.arg("fields")))})

    def _webhook_json(self, hook: Webhook, *, token: bool = False) -> JSON:
        out: JSON = {
            "id": hook.id,
            "event": hook.event,
            "url": hook.url,
            "is_active": hook.is_active,
            "plugin": None,
            "failures_since_last_success": self.webhooks.failures(hook.id),
            # The documented example shows this format for webhooks (not ISO-8601).
            "created_at": hook.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            "updated_at": hook.updated_at.strftime("%Y-%m-%d %H:%M:%S"),
        }
        if token:
            out["token"] = hook.token
        return out

    # -- list specs ------------------------------------------------------------------------

    def _item_spec(self, key: str) -> ListSpec[Item]:
        acc = self.account
        getters: dict[str, Callable[[Any], Any]] = _stamps(
            {
                "id": lambda i: i.id,
                "number": lambda i: i.number,
                "name": lambda i: i.name,
                "barcode": lambda i: i.barcode,
                "type": lambda i: i.type,
                "group_id": lambda i: i.group,
                "is_barred": lambda i: i.is_barred,
                "sales_price": lambda i: i.sales_price,
                "stock_quantity": lambda i: acc.quantities(i)[0],
                "available_quantity": lambda i: acc.quantities(i)[2],
            }
        )
        return ListSpec(
            key,
            getters,
            search=("number", "name", "barcode"),
            filterable=frozenset({"number", "barcode", "name", "group_id", "is_barred", "type"}),
            custom_fields=lambda i: i.field_values,
        )

    # -- handlers: account, locations, groups, lookups --------------------------------------
    # Each takes (request, path params, JSON body) and returns the answer.

    def _h_get_self(self, req: Request, p: list[str], body: JSON) -> Response:
        return json_response(
            200,
            {
                "user_account": {
                    "id": self.account_id,
                    "company_name": self.company_name,
                    "base_currency": "DKK",
                    "address": {
                        "street": "Sandboxvej 1",
                        "zipcode": "8000",
                        "city": "Aarhus",
                        "country": "DK",
                    },
                },
                "user": {"id": 1, "name": "API user", "email": "api@sandbox.invalid"},
            },
        )

    def _location_spec(self) -> ListSpec[Location]:
        return ListSpec(
            "locations",
            _stamps(
                {
                    "id": lambda r: r.id,
                    "number": lambda r: r.number,
                    "name": lambda r: r.name,
                    "parent_id": lambda r: r.parent,
                    "is_default": lambda r: r.is_default,
                }
            ),
            search=("number", "name"),
            filterable=frozenset({"number", "name", "parent_id", "is_default"}),
        )

    def _h_list_locations(self, req: Request, p: list[str], body: JSON) -> Response:
        return self._list(
            req, self._location_spec(), self.account.locations.values(), self.account.location_json
        )

    def _h_get_location(self, req: Request, p: list[str], body: JSON) -> Response:
        return self._one(req, "location", self.account.location_json(self.account.location(p[0])))

    def _h_list_location_children(self, req: Request, p: list[str], body: JSON) -> Response:
        parent = self.account.location(p[0])
        kids = [loc for loc in self.account.locations.values() if loc.parent == parent.number]
        return self._list(req, self._location_spec(), kids, self.account.location_json)

    def _group_spec(self) -> ListSpec[ProductGroup]:
        return ListSpec(
            "product_groups",
            _stamps({"id": lambda r: r.id, "number": lambda r: r.number, "name": lambda r: r.name}),
            search=("number", "name"),
            filterable=frozenset({"number", "name"}),
        )

    def _h_list_groups(self, req: Request, p: list[str], body: JSON) -> Response:
        return self._list(
            req, self._group_spec(), self.account.groups.values(), self.account.group_json
        )

    def _h_create_group(self, req: Request, p: list[str], body: JSON) -> Response:
        group = self.account.add_group(body)
        return self._one(req, "product_group", self.account.group_json(group), 201)

    def _h_get_group(self, req: Request, p: list[str], body: JSON) -> Response:
        return self._one(req, "product_group", self.account.group_json(self.account.group(p[0])))

    def _h_update_group(self, req: Request, p: list[str], body: JSON) -> Response:
        group = self.account.update_group(self.account.group(p[0]), body)
        return self._one(req, "product_group", self.account.group_json(group))

    def _lookup_list(
        self, req: Request, key: str, table: Mapping[Any, JSON], order: str = "number"
    ) -> Response:
        spec = _dict_spec(key, order, (order,), ("name",) if order == "number" else (order,))
        return self._list(req, spec, table.values(), dict)

    def _lookup_one(
        self, req: Request, key: str, table: Mapping[Any, JSON], ident: str, what: str
    ) -> Response:
        lookup = to_int(ident) if key != "currency" else ident.upper()
        if lookup not in table:
            raise ApiError(404, f"{what} {ident} not found.")
        return self._one(req, key, dict(table[lookup]))

    def _h_list_units(self, req: Request, p: list[str], body: JSON) -> Response:
        return self._lookup_list(req, "units", self.account.lookups.units)

    def _h_get_unit(self, req: Request, p: list[str], body: JSON) -> Response:
        return self._lookup_one(req, "unit", self.account.lookups.units, p[0], "Unit")

    def _h_list_customer_groups(self, req: Request, p: list[str], body: JSON) -> Response:
        return self._lookup_list(req, "customer_groups", self.account.lookups.customer_groups)

    def _h_get_customer_group(self, req: Request, p: list[str], body: JSON) -> Response:
        return self._lookup_one(
            req, "customer_group", self.account.lookups.customer_groups, p[0], "Customer group"
        )

    def _h_list_payment_terms(self, req: Request, p: list[str], body: JSON) -> Response:
        return self._lookup_list(req, "payment_terms", self.account.lookups.payment_terms)

    def _h_get_payment_terms(self, req: Request, p: list[str], body: JSON) -> Response:
        return self._lookup_one(
            req, "payment_term", self.account.lookups.payment_terms, p[0], "Payment terms"
        )

    def _h_list_layouts(self, req: Request, p: list[str], body: JSON) -> Response:
        return self._lookup_list(req, "layouts", self.account.lookups.layouts)

    def _h_get_layout(self, req: Request, p: list[str], body: JSON) -> Response:
        return self._lookup_one(req, "layout", self.account.lookups.layouts, p[0], "Layout")

    def _h_list_employees(self, req: Request, p: list[str], body: JSON) -> Response:
        return self._lookup_list(req, "employees", self.account.lookups.employees)

    def _h_get_employee(self, req: Request, p: list[str], body: JSON) -> Response:
        return self._lookup_one(req, "employee", self.account.lookups.employees, p[0], "Employee")

    def _h_list_currencies(self, req: Request, p: list[str], body: JSON) -> Response:
        return self._lookup_list(req, "currencies", self.account.lookups.currencies, "code")

    def _h_get_currency(self, req: Request, p: list[str], body: JSON) -> Response:
        return self._lookup_one(req, "currency", self.account.lookups.currencies, p[0], "Currency")

    # -- handlers: items ---------------------------------------------------------------------

    def _items_of(self, kind: str | None) -> list[Item]:
        return [i for i in self.account.items.values() if kind is None or i.type == kind]

    def _h_list_products(self, req: Request, p: list[str], body: JSON) -> Response:
        return self._list(
            req, self._item_spec("products"), self._items_of("product"), self.account.item_json
        )

    def _h_list_lots(self, req: Request, p: list[str], body: JSON) -> Response:
        return self._list(
            req, self._item_spec("lots"), self._items_of("lot"), self.account.item_json
        )

    def _h_list_items(self, req: Request, p: list[str], body: JSON) -> Response:
        return self._list(
            req, self._item_spec("items"), self._items_of(None), self.account.item_json
        )

    def _h_create_product(self, req: Request, p: list[str], body: JSON) -> Response:
        item = self.account.create_item(body, "product")
        return self._one(req, "product", self.account.item_json(item), 201)

    def _h_create_lot(self, req: Request, p: list[str], body: JSON) -> Response:
        item = self.account.create_item(body, "lot")
        return self._one(req, "lot", self.account.item_json(item), 201)

    def _h_get_product(self, req: Request, p: list[str], body: JSON) -> Response:
        return self._one(req, "product", self.account.item_json(self.account.item(p[0], "product")))

    def _h_get_lot(self, req: Request, p: list[str], body: JSON) -> Response:
        return self._one(req, "lot", self.account.item_json(self.account.item(p[0], "lot")))

    def _h_get_item(self, req: Request, p: list[str], body: JSON) -> Response:
        return self._one(req, "item", self.account.item_json(self.account.item(p[0])))

    def _h_update_product(self, req: Request, p: list[str], body: JSON) -> Response:
        item = self.account.update_item(self.account.item(p[0], "product"), body)
        return self._one(req, "product", self.account.item_json(item))

    def _h_update_lot(self, req: Request, p: list[str], body: JSON) -> Response:
        item = self.account.update_item(self.account.item(p[0], "lot"), body)
        return self._one(req, "lot", self.account.item_json(item))

    def _h_delete_product(self, req: Request, p: list[str], body: JSON) -> Response:
        item = self.account.item(p[0], "product")
        out = self.account.item_json(item)
        self.account.delete_item(item)
        return self._one(req, "product", out)

    def _h_delete_lot(self, req: Request, p: list[str], body: JSON) -> Response:
        item = self.account.item(p[0], "lot")
        out = self.account.item_json(item)
        self.account.delete_item(item)
        return self._one(req, "lot", out)

    def _h_convert_product(self, req: Request, p: list[str], body: JSON) -> Response:
        item = self.account.convert_to_lot(self.account.item(p[0], "product"), body)
        return self._one(req, "lot", self.account.item_json(item))

    def _stock_list(self, req: Request, key: str, item: Item, keys: tuple[str, ...]) -> Response:
        rows = [{k: row[k] for k in keys} for row in self.account.item_locations(item)]
        return self._list(
            req, _dict_spec(key, "number", ("number", "name"), ("number", "name")), rows, dict
        )

    _STOCK_KEYS = ("id", "number", "name", "parent_id", "stock_quantity")
    _AVAILABLE_KEYS = (
        "number",
        "name",
        "stock_quantity",
        "in_order_quantity",
        "available_quantity",
    )

    def _h_product_locations(self, req: Request, p: list[str], body: JSON) -> Response:
        item = self.account.item(p[0], "product")
        return self._stock_list(req, "product_locations", item, self._STOCK_KEYS)

    def _h_lot_locations(self, req: Request, p: list[str], body: JSON) -> Response:
        item = self.account.item(p[0], "lot")
        return self._stock_list(req, "lot_locations", item, self._STOCK_KEYS)

    def _h_item_locations(self, req: Request, p: list[str], body: JSON) -> Response:
        return self._stock_list(req, "item_locations", self.account.item(p[0]), self._STOCK_KEYS)

    def _h_item_locations_available(self, req: Request, p: list[str], body: JSON) -> Response:
        return self._stock_list(req, "locations", self.account.item(p[0]), self._AVAILABLE_KEYS)

    def _fields_list(self, req: Request, item: Item) -> Response:
        rows = self.account.field_values_json(item)
        spec = ListSpec[JSON](
            "field_values", {"id": lambda r: r["field"]["id"]}, default_order="id"
        )
        return self._list(req, spec, rows, dict)

    def _h_product_fields(self, req: Request, p: list[str], body: JSON) -> Response:
        return self._fields_list(req, self.account.item(p[0], "product"))

    def _h_item_fields(self, req: Request, p: list[str], body: JSON) -> Response:
        return self._fields_list(req, self.account.item(p[0]))

    def _h_report_checking(self, req: Request, p: list[str], body: JSON) -> Response:
        acc = self.account
        show_all = (req.arg("show_all_locations") or "").lower() in _TRUE
        items = [i for i in acc.items.values() if i.type == "lot" or acc.has_inventory(i)]

        def row(item: Item) -> JSON:
            """One line of the stock report."""
            stock, in_order, available = acc.quantities(item)
            locs = [
                {k: loc[k] for k in self._AVAILABLE_KEYS}
                for loc in acc.item_locations(item)
                if show_all or loc["stock_quantity"] or loc["in_order_quantity"]
            ]
            return {
                "number": item.number,
                "name": item.name,
                "type": item.type,
                "barcode": item.barcode,
                "stock_quantity": stock,
                "in_order_quantity": in_order,
                "available_quantity": available,
                "updated_at": acc.item_json(item)["updated_at"],
                "locations": locs,
            }

        return self._list(req, self._item_spec("items"), items, row)

    # -- handlers: inventory adjustments -----------------------------------------------------

    def _h_list_adjustments(self, req: Request, p: list[str], body: JSON) -> Response:
        acc = self.account

        def item_no(a: Adjustment) -> str | None:
            """The number of the adjusted item."""
            item = acc.items.get(a.item)
            return item.number if item else None

        spec = ListSpec[Adjustment](
            "inventory_regulations",
            _stamps(
                {
                    "id": lambda a: a.id,
                    "item_id": item_no,
                    "location": lambda a: a.location,
                    "is_booked": lambda a: a.is_booked,
                    "reason": lambda a: a.reason,
                    "regulated_at": lambda a: a.regulated_at,
                }
            ),
            search=("item_id", "reason"),
            filterable=frozenset({"id", "item_id", "location", "is_booked", "regulated_at"}),
            default_order="id",
        )
        return self._list(req, spec, acc.adjustments.values(), acc.adjustment_json)

    def _h_create_adjustment(self, req: Request, p: list[str], body: JSON) -> Response:
        adj = self.account.create_adjustment(body)
        return self._one(req, "inventory_regulation", self.account.adjustment_json(adj), 201)

    def _h_get_adjustment(self, req: Request, p: list[str], body: JSON) -> Response:
        return self._one(
            req, "inventory_regulation", self.account.adjustment_json(self.account.adjustment(p[0]))
        )

    def _h_delete_adjustment(self, req: Request, p: list[str], body: JSON) -> Response:
        adj = self.account.adjustment(p[0])
        out = self.account.adjustment_json(adj)
        self.account.delete_adjustment(adj)
        return self._one(req, "inventory_regulation", out)

    def _h_book_adjustment(self, req: Request, p: list[str], body: JSON) -> Response:
        adj = self.account.book_adjustment(self.account.adjustment(p[0]))
        return self._one(req, "inventory_regulation", self.account.adjustment_json(adj))

    # -- handlers: customers -----------------------------------------------------------------

    def _h_list_customers(self, req: Request, p: list[str], body: JSON) -> Response:
        spec = ListSpec[Customer](
            "customers",
            _stamps(
                {
                    "id": lambda c: c.id,
                    "number": lambda c: c.number,
                    "name": lambda c: c.name,
                    "company_name": lambda c: c.name,
                    "contact_email": lambda c: c.contact_email,
                    "ean": lambda c: c.ean,
                    "company_vat": lambda c: c.company_vat,
                    "customer_group_id": lambda c: c.customer_group,
                    "is_barred": lambda c: c.is_barred,
                }
            ),
            search=("number", "name", "contact_email"),
            filterable=frozenset(
                {
                    "number",
                    "name",
                    "company_name",
                    "contact_email",
                    "ean",
                    "company_vat",
                    "customer_group_id",
                    "is_barred",
                }
            ),
        )
        return self._list(req, spec, self.account.customers.values(), self.account.customer_json)

    def _h_create_customer(self, req: Request, p: list[str], body: JSON) -> Response:
        cust = self.account.create_customer(body)
        return self._one(req, "customer", self.account.customer_json(cust), 201)

    def _h_get_customer(self, req: Request, p: list[str], body: JSON) -> Response:
        return self._one(req, "customer", self.account.customer_json(self.account.customer(p[0])))

    def _h_update_customer(self, req: Request, p: list[str], body: JSON) -> Response:
        cust = self.account.update_customer(self.account.customer(p[0]), body)
        return self._one(req, "customer", self.account.customer_json(cust))

    def _h_list_customer_addresses(self, req: Request, p: list[str], body: JSON) -> Response:
        cust = self.account.customer(p[0])
        return self._list(req, _dict_spec("addresses", "id", ("id", "type")), cust.addresses, dict)

    def _h_create_customer_address(self, req: Request, p: list[str], body: JSON) -> Response:
        address = self.account.add_customer_address(self.account.customer(p[0]), body)
        return self._one(req, "address", address, 201)

    def _h_list_customer_contacts(self, req: Request, p: list[str], body: JSON) -> Response:
        cust = self.account.customer(p[0])
        spec = _dict_spec(
            "customer_contacts", "number", ("number", "contact_email"), ("name", "contact_email")
        )
        return self._list(req, spec, cust.contacts, dict)

    def _h_create_customer_contact(self, req: Request, p: list[str], body: JSON) -> Response:
        contact = self.account.add_customer_contact(self.account.customer(p[0]), body)
        return self._one(req, "customer_contact", contact, 201)

    # -- handlers: orders --------------------------------------------------------------------

    def _h_list_orders(self, req: Request, p: list[str], body: JSON) -> Response:
        spec = ListSpec[Order](
            "orders",
            _stamps(
                {
                    "id": lambda o: o.id,
                    "number": lambda o: o.number,
                    "customer_id": lambda o: o.customer,
                    "other_reference": lambda o: o.header.get("other_reference"),
                    "heading": lambda o: o.header.get("heading"),
                    "order_date": lambda o: o.order_date,
                    "is_booked": lambda o: o.is_booked,
                    "booked_at": lambda o: o.booked_at,
                }
            ),
            search=("number", "other_reference", "heading"),
            # Observed live: /orders filters server-side only by number/created_at/updated_at.
            filterable=frozenset({"number", "created_at", "updated_at"}),
        )
        return self._list(req, spec, self.account.orders.values(), self.account.order_json)

    def _h_create_order(self, req: Request, p: list[str], body: JSON) -> Response:
        order = self.account.create_order(body)
        return self._one(req, "order", self.account.order_json(order), 201)

    def _h_get_order(self, req: Request, p: list[str], body: JSON) -> Response:
        number = p[0]
        if number.endswith(".pdf"):
            order = self.account.order(number[: -len(".pdf")])
            pdf = b"%PDF-1.4\n% rackshop sandbox order " + str(order.number).encode() + b"\n%%EOF\n"
            return Response(200, pdf, {"Content-Type": "application/pdf"})
        return self._one(req, "order", self.account.order_json(self.account.order(number)))

    def _h_update_order(self, req: Request, p: list[str], body: JSON) -> Response:
        order = self.account.update_order(self.account.order(p[0]), body)
        return self._one(req, "order", self.account.order_json(order))

    def _h_delete_order(self, req: Request, p: list[str], body: JSON) -> Response:
        order = self.account.order(p[0])
        out = self.account.order_json(order)
        self.account.delete_order(order)
        return self._one(req, "order", out)

    def _h_list_order_lines(self, req: Request, p: list[str], body: JSON) -> Response:
        order = self.account.order(p[0])
        spec = ListSpec[Any]("order_lines", {"id": lambda ln: ln.id}, default_order="id")
        return self._list(req, spec, order.lines, self.account.line_json)

    def _h_create_order_line(self, req: Request, p: list[str], body: JSON) -> Response:
        line = self.account.add_order_line(self.account.order(p[0]), body)
        return self._one(req, "order_line", self.account.line_json(line), 201)

    def _h_get_order_line(self, req: Request, p: list[str], body: JSON) -> Response:
        order = self.account.order(p[0])
        return self._one(
            req, "order_line", self.account.line_json(self.account.order_line(order, p[1]))
        )

    def _h_update_order_line(self, req: Request, p: list[str], body: JSON) -> Response:
        order = self.account.order(p[0])
        line = self.account.update_order_line(order, self.account.order_line(order, p[1]), body)
        return self._one(req, "order_line", self.account.line_json(line))

    def _h_delete_order_line(self, req: Request, p: list[str], body: JSON) -> Response:
        order = self.account.order(p[0])
        line = self.account.order_line(order, p[1])
        out = self.account.line_json(line)
        self.account.delete_order_line(order, line)
        return self._one(req, "order_line", out)

    def _h_book_order(self, req: Request, p: list[str], body: JSON) -> Response:
        order = self.account.book_order(self.account.order(p[0]))
        return self._one(req, "order", self.account.order_json(order))

    def _h_reopen_order(self, req: Request, p: list[str], body: JSON) -> Response:
        order = self.account.reopen_order(self.account.order(p[0]))
        return self._one(req, "order", self.account.order_json(order))

    def _h_create_shipment(self, req: Request, p: list[str], body: JSON) -> Response:
        shipment = self.account.create_shipment(self.account.order(p[0]), body or {})
        return self._one(req, "order_shipment", self.account.shipment_json(shipment), 201)

    def _shipment_spec(self) -> ListSpec[Shipment]:
        return ListSpec(
            "order_shipments",
            _stamps(
                {
                    "id": lambda s: s.id,
                    "order_number": lambda s: s.order,
                    "is_shipped": lambda s: s.is_shipped,
                }
            ),
            filterable=frozenset({"id", "order_number", "is_shipped"}),
            default_order="id",
        )

    def _h_list_order_shipments(self, req: Request, p: list[str], body: JSON) -> Response:
        order = self.account.order(p[0])
        rows = [s for s in self.account.shipments.values() if s.order == order.number]
        return self._list(req, self._shipment_spec(), rows, self.account.shipment_json)

    def _h_list_shipments(self, req: Request, p: list[str], body: JSON) -> Response:
        rows: Iterable[Shipment] = self.account.shipments.values()
        wanted = to_int(req.arg("order_number"))
        if wanted is not None:
            rows = [s for s in rows if s.order == wanted]
        return self._list(req, self._shipment_spec(), rows, self.account.shipment_json)

    def _h_get_shipment(self, req: Request, p: list[str], body: JSON) -> Response:
        return self._one(
            req, "order_shipment", self.account.shipment_json(self.account.shipment(p[0]))
        )

    def _h_mark_shipped(self, req: Request, p: list[str], body: JSON) -> Response:
        shipment = self.account.mark_shipped(self.account.shipment(p[0]), body)
        return self._one(req, "order_shipment", self.account.shipment_json(shipment))

    def _h_convert_to_invoice(self, req: Request, p: list[str], body: JSON) -> Response:
        raw = req.arg("book")
        if raw is None and "book" in body:
            raw = str(body["book"]).lower()
        book = (raw or "false").lower() in _TRUE
        invoice = self.account.convert_to_invoice(self.account.order(p[0]), book=book)
        return json_response(200, {"invoice_id": invoice.number})

    # -- handlers: invoices ------------------------------------------------------------------

    def _h_list_invoices(self, req: Request, p: list[str], body: JSON) -> Response:
        spec = ListSpec[Invoice](
            "customer_invoices",
            _stamps(
                {
                    "id": lambda i: i.id,
                    "number": lambda i: i.number,
                    "order_id": lambda i: i.order,
                    "customer_id": lambda i: i.customer,
                    "is_booked": lambda i: i.is_booked,
                    "heading": lambda i: i.heading,
                    "other_reference": lambda i: i.other_reference,
                    "is_credit_note": lambda i: i.is_credit_note,
                    "credited_invoice_id": lambda i: i.credited_invoice,
                }
            ),
            search=("number", "heading", "other_reference"),
            filterable=frozenset({"number", "order_id", "customer_id", "is_booked",
                                  "is_credit_note", "credited_invoice_id"}),
        )
        return self._list(req, spec, self.account.invoices.values(), self.account.invoice_json)

    def _h_get_invoice(self, req: Request, p: list[str], body: JSON) -> Response:
        number = p[0]
        if number.endswith(".pdf"):
            invoice = self.account.invoice(number[: -len(".pdf")])
            pdf = (
                b"%PDF-1.4\n% rackshop sandbox invoice "
                + str(invoice.number).encode()
                + b"\n%%EOF\n"
            )
            return Response(200, pdf, {"Content-Type": "application/pdf"})
        return self._one(
            req, "customer_invoice", self.account.invoice_json(self.account.invoice(number))
        )

    def _h_update_invoice(self, req: Request, p: list[str], body: JSON) -> Response:
        invoice = self.account.update_invoice(self.account.invoice(p[0]), body)
        return self._one(req, "customer_invoice", self.account.invoice_json(invoice))

    def _h_delete_invoice(self, req: Request, p: list[str], body: JSON) -> Response:
        invoice = self.account.invoice(p[0])
        out = self.account.invoice_json(invoice)
        self.account.delete_invoice(invoice)
        return self._one(req, "customer_invoice", out)

    def _h_create_creditnote(self, req: Request, p: list[str], body: JSON) -> Response:
        note = self.account.create_creditnote(self.account.invoice(p[0]))
        return self._one(req, "customer_invoice", self.account.invoice_json(note), 201)

    def _h_book_invoice(self, req: Request, p: list[str], body: JSON) -> Response:
        invoice = self.account.book_invoice(self.account.invoice(p[0]))
        return self._one(req, "customer_invoice", self.account.invoice_json(invoice))

    # -- handlers: webhooks ------------------------------------------------------------------

    def _h_list_webhooks(self, req: Request, p: list[str], body: JSON) -> Response:
        spec = ListSpec[Webhook](
            "webhooks",
            _stamps(
                {
                    "id": lambda h: h.id,
                    "event": lambda h: h.event,
                    "url": lambda h: h.url,
                    "is_active": lambda h: h.is_active,
                }
            ),
            search=("event", "url"),
            filterable=frozenset({"id", "event", "url", "is_active"}),
            default_order="id",
        )
        return self._list(req, spec, self.account.webhooks.values(), self._webhook_json)

    def _h_create_webhook(self, req: Request, p: list[str], body: JSON) -> Response:
        hook, created = self.account.save_webhook(body, allowed_host=is_local_url)
        return self._one(
            req, "webhook", self._webhook_json(hook, token=created), 201 if created else 200
        )

    def _h_get_webhook(self, req: Request, p: list[str], body: JSON) -> Response:
        return self._one(req, "webhook", self._webhook_json(self.account.webhook(p[0])))

    def _h_update_webhook(self, req: Request, p: list[str], body: JSON) -> Response:
        hook = self.account.update_webhook(
            self.account.webhook(p[0]), body, allowed_host=is_local_url
        )
        return self._one(req, "webhook", self._webhook_json(hook))

    def _h_delete_webhook(self, req: Request, p: list[str], body: JSON) -> Response:
        hook = self.account.webhook(p[0])
        del self.account.webhooks[hook.id]
        return self._one(req, "webhook", self._webhook_json(hook))

    def _h_webhook_logs(self, req: Request, p: list[str], body: JSON) -> Response:
        hook = self.account.webhook(p[0])
        rows = self.webhooks.deliveries(hook.id)
        return self._list(
            req, _dict_spec("webhook_logs", "id", ("id", "event", "delivered")), rows, dict
        )
