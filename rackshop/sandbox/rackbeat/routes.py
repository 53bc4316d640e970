"""The Rackbeat twin's routes: every ``/api`` path and method it answers, the handler of each,
and matching a request to one (unknown path: 404; known path, other method: 405)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rackshop.sandbox.base import Request


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


def api_parts(req: Request) -> list[str] | None:
    """The decoded path segments after ``/api`` (``None`` outside ``/api``)."""
    parts = req.segments()
    if not parts or parts[0] != "api":
        return None
    return parts[1:]


def route_of(req: Request) -> tuple[Route | None, list[str], list[str]]:
    """(route, params, methods allowed on this path) for a request."""
    parts = api_parts(req)
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
