"""Documented alternatives of the Rackbeat twin (issue 16, ``--rackbeat-variant NAME``).

Where the public record on Rackbeat is unsure, the twin encodes one choice
(``docs/sandbox-rackbeat.md``). Each variant here switches one of those choices to a plausible
alternative, so tests prove that ``rackshop check --contract`` detects it and that the job
stays correct under its fallback. Variants act around the handler (:func:`before` may refuse
or rewrite a request, :func:`after` rewrites an answer); the model is never changed, so the
truth (what is on the shelf, what is reserved) stays the same under every variant. The one
exception is :data:`LINE_PRICE_TOTAL`, a rule of the account's arithmetic: the twin sets
``Account.line_price_is_total`` and lines written while it is on compute their total from it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rackshop.sandbox.base import Request, Response

from .validation import ApiError

#: Variant name -> what it changes (``rackshop sandbox serve --help`` and docs/contract.md).
VARIANTS: dict[str, str] = {
    "no-location-available": "the stock report's locations[] carry no available_quantity "
    "(in_order_quantity still there)",
    "no-location-reservations": "the stock report's locations[] carry neither "
    "in_order_quantity nor available_quantity (stock_quantity only)",
    "report-filter-refused": "GET /reports/checking refuses simple_filter[number] with 422",
    "report-filter-ignored": "GET /reports/checking ignores simple_filter[number] silently",
    "since-filter-ignored": "updated_at_from is ignored on every list",
    "customer-search-no-email": "search= on /customers does not look at contact_email "
    "(simple_filter[contact_email] still works)",
    "customer-lookup-refused": "search= on /customers does not look at contact_email and "
    "simple_filter[contact_email] answers 422",
    "order-search-no-reference": "search= on /orders does not look at other_reference",
    "page-limit-500": "a limit above 500 answers 422",
    "ratelimit-headers": "every answer carries X-RateLimit-Limit: 300 and "
    "X-RateLimit-Remaining",
    "group-no-vat": "product groups carry no vat_* fields",
    "line-price-total": "an order or invoice line's line_price is the line's total ex. VAT "
    "before discount, not the unit price",
}

#: The variant the account itself applies (``Account.line_price_is_total``).
LINE_PRICE_TOTAL = "line-price-total"

_STOCK_LISTS = ("GET /reports/checking", "GET /items/{number}/locations/available")


def check_names(names: Iterable[str]) -> frozenset[str]:
    """The names, validated.

    Raises:
        ValueError: An unknown variant (the message lists the known ones).
    """
    out = frozenset(names)
    unknown = sorted(out - set(VARIANTS))
    if unknown:
        raise ValueError(f"unknown Rackbeat twin variant(s) {', '.join(unknown)}; known: "
                         f"{', '.join(VARIANTS)}")
    return out


def before(active: frozenset[str], label: str, req: Request) -> None:
    """Refuse (raise :class:`ApiError`) or rewrite ``req`` before the handler runs."""
    if not active:
        return
    q = req.query
    if "page-limit-500" in active and req.method == "GET":
        limit = (q.get("limit") or ["0"])[0]
        if limit.isdigit() and int(limit) > 500:
            raise ApiError(422, "The given data was invalid.",
                           {"limit": ["The limit may not be greater than 500."]})
    if "since-filter-ignored" in active:
        q.pop("updated_at_from", None)
    if label == "GET /reports/checking" and "simple_filter[number]" in q:
        if "report-filter-refused" in active:
            raise ApiError(422, "Property 'number' is not filterable")
        if "report-filter-ignored" in active:
            q.pop("simple_filter[number]")
    if label == "GET /customers":
        lookup = {"customer-search-no-email", "customer-lookup-refused"} & active
        if lookup and "@" in (q.get("search") or [""])[0]:
            q["search"] = ["\u0000"]  # matches no number or name
        if "customer-lookup-refused" in active and "simple_filter[contact_email]" in q:
            raise ApiError(422, "Property 'contact_email' is not filterable")
    if label == "GET /orders" and "order-search-no-reference" in active and q.get("search"):
        q["search"] = ["\u0000"]


def _strip_locations(body: Any, keys: tuple[str, ...]) -> None:
    rows: list[Any] = []
    if isinstance(body, dict):
        for value in body.values():
            if isinstance(value, list):
                rows += value
    for row in rows:
        if not isinstance(row, dict):
            continue
        locs = row.get("locations")
        targets: list[Any] = locs if isinstance(locs, list) else [row]
        for loc in targets:
            if isinstance(loc, dict):
                for key in keys:
                    loc.pop(key, None)


def after(active: frozenset[str], label: str, req: Request, resp: Response) -> Response:
    """Rewrite the answer."""
    if not active:
        return resp
    if label in _STOCK_LISTS:
        if "no-location-reservations" in active:
            _strip_locations(resp.body, ("in_order_quantity", "available_quantity"))
        elif "no-location-available" in active:
            _strip_locations(resp.body, ("available_quantity",))
    if "group-no-vat" in active and label.startswith("GET /product-groups") \
            and isinstance(resp.body, dict):
        groups = resp.body.get("product_groups")
        rows: list[Any] = groups if isinstance(groups, list) else \
            [resp.body.get("product_group")]
        for g in rows:
            if isinstance(g, dict):
                for key in [k for k in g if k.startswith("vat_")]:
                    g.pop(key)
    if "ratelimit-headers" in active:
        resp.headers.setdefault("X-RateLimit-Limit", "300")
        resp.headers.setdefault("X-RateLimit-Remaining", "299")
    return resp
