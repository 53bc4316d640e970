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
sliding-window limiter (429 with ``Retry-After``) -> the handler (:mod:`.routes` maps the request
to one of :mod:`.handlers`; data and rules in :mod:`.model`) -> webhook events of the change,
unless ``suppress_webhooks`` was asked for. What is modelled, and every choice made where the
public record is unsure, is in ``docs/sandbox-rackbeat.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any, TypeVar

from rackshop.sandbox.base import Clock, Request, RequestInfo, Response, TwinApp, json_response

from . import variants as _variants
from .handlers import RestHandlers
from .limiter import SlidingWindowLimiter
from .model import Account, as_error
from .records import Item
from .routes import api_parts, route_of
from .validation import JSON, TRUE_STRINGS, ApiError
from .webhooks import WebhookDispatcher

T = TypeVar("T")
DEFAULT_TOKEN = "sandbox-rackbeat-token"
CET = timezone(timedelta(hours=1), "CET")


class RackbeatTwin(RestHandlers, TwinApp):
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

    @property
    def variants(self) -> frozenset[str]:
        """Documented alternatives switched on (``variants.py``; issue 16)."""
        return self._variants

    @variants.setter
    def variants(self, names: frozenset[str]) -> None:
        self._variants = names
        self.account.line_price_is_total = _variants.LINE_PRICE_TOTAL in names

    def _new_account(self) -> Account:
        account = Account(wall_clock=self._wall_clock, tz=self.tz, **self._account_args)
        account.line_price_is_total = _variants.LINE_PRICE_TOTAL in getattr(self, "_variants", ())
        return account

    # -- TwinApp ---------------------------------------------------------------------------

    def describe(self, req: Request) -> RequestInfo:
        """Templated labels (``GET /products/{number}``), so counts and faults go by endpoint."""
        route, _, _ = route_of(req)
        access = "read" if req.method in ("GET", "HEAD") else "write"
        if route is not None:
            return RequestInfo(route.label, access)
        parts = api_parts(req)
        path = "/" + "/".join(parts) if parts is not None else req.path
        return RequestInfo(f"{req.method} {path}", access)

    def fault_response(self, kind: str, req: Request, info: RequestInfo) -> Response:
        """Bodies of injected faults, in Laravel's wording."""
        if kind == "429":
            return json_response(429, {"message": "Too Many Attempts."}, **{"Retry-After": "1"})
        return json_response(500, {"message": "Server Error"})

    def handle(self, req: Request) -> Response:
        """Route, authenticate, rate-limit and answer one ``/api`` request."""
        route, params, allowed = route_of(req)
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
        suppress = (req.arg("suppress_webhooks") or "").lower() in TRUE_STRINGS
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
