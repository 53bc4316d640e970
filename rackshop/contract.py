"""``rackshop check --contract``: prove every assumption the enabled jobs make about the live APIs.

rackshop is tested against its twins, and where the public record on Rackbeat is thin the twin
encodes a choice (``docs/sandbox-rackbeat.md``, "Choices where the public record is unsure").
This module probes the user's own accounts for each of those choices, with read calls only
(``--write-probes`` adds one scratch draft order, shown and confirmed first), and prints one row
per assumption: what rackshop expects, what the account answered, and a verdict:

* ``ok``: the account behaves as assumed;
* ``differs: using <fallback>``: it does not, and rackshop has an alternative that stays correct
  (the row says what it costs);
* ``differs: job X cannot run``: it does not and there is no alternative: the job would write
  wrong data or fail, so ``check --contract`` exits :attr:`~rackshop.errors.ExitCode.CONTRACT`;
* ``cannot tell``: the account holds nothing to test it with (say, no customer with an e-mail).

What was observed is recorded in the state store (table ``contract``); jobs read it back with
:func:`load` and adapt (:class:`StockAdapter`: per-location availability computed from
per-location stock and booked order lines; a refused report filter paged and filtered locally;
:func:`customer_lookup_params`; :func:`adapt_rackbeat_client`: page size and pacing).
Every probe is listed in ``docs/contract.md``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from rackshop.config import Config, ShopConfig
from rackshop.errors import AuthError, ExitCode, RackshopError
from rackshop.rackbeat.client import MAX_PAGE_SIZE, RackbeatClient, list_key
from rackshop.store import Store, utcnow

log = logging.getLogger("rackshop.contract")

OK = "ok"
CANNOT_TELL = "cannot tell"

# Job names as the CLI spells them.
ORDERS = "sync-orders"
STOCK = "sync-stock"
PRODUCTS = "sync-products"
FULFILLMENTS = "sync-fulfillments"
LISTEN = "listen"

#: Shopify access scopes each job needs (``write_x`` implies ``read_x``, as Shopify grants).
JOB_SCOPES: dict[str, tuple[str, ...]] = {
    ORDERS: ("read_orders", "write_orders"),
    STOCK: ("read_products", "read_inventory", "write_inventory", "read_locations",
            "read_orders"),
    PRODUCTS: ("read_products", "read_inventory", "read_locations"),
    FULFILLMENTS: ("read_orders", "read_merchant_managed_fulfillment_orders",
                   "write_merchant_managed_fulfillment_orders"),
}
#: Extra scopes when the shop's products are created and written from Rackbeat.
RACKBEAT_MASTER_SCOPES = ("write_products", "write_inventory", "write_publications")

#: The rate each configured ``plan`` implies: (bucket size, restore rate in cost points/s).
PLAN_RATES: dict[str, tuple[float, float]] = {
    "standard": (2000.0, 100.0),
    "advanced": (4000.0, 200.0),
    "plus": (20000.0, 1000.0),
    "enterprise": (40000.0, 2000.0),
}

#: How per-location availability is read (the recorded ``per_location`` value).
REPORTED = "reported"
MINUS_IN_ORDER = "stock-minus-in-order"
MINUS_BOOKED_LINES = "stock-minus-booked-lines"


def using(fallback: str) -> str:
    return f"differs: using {fallback}"


def cannot_run(jobs: Iterable[str]) -> str:
    names = sorted(set(jobs))
    return f"differs: job{'s' if len(names) > 1 else ''} {', '.join(names)} cannot run"


@dataclass(frozen=True)
class Probe:
    """One row of the contract table.

    Attributes:
        api: ``rackbeat`` or ``shopify <shop>``.
        assumption: What rackshop relies on.
        expected: What it expects to see.
        observed: What the account answered.
        verdict: ``ok``, ``differs: using …``, ``differs: job X cannot run`` or ``cannot tell``.
        jobs: The enabled jobs that rely on it.
        key: The contract key recorded for jobs (``None``: nothing to record).
        value: The recorded value.
    """

    api: str
    assumption: str
    expected: str
    observed: str
    verdict: str
    jobs: tuple[str, ...] = ()
    key: str | None = None
    value: Any = None

    def as_json(self) -> dict[str, Any]:
        return {"api": self.api, "assumption": self.assumption, "expected": self.expected,
                "observed": self.observed, "verdict": self.verdict, "jobs": list(self.jobs),
                "key": self.key, "value": self.value}


@dataclass
class ContractReport:
    """Every probe, and the jobs that cannot run."""

    probes: list[Probe] = field(default_factory=list)
    calls: int = 0

    def add(self, probe: Probe) -> None:
        self.probes.append(probe)

    @property
    def blocked(self) -> list[str]:
        """The jobs some probe says cannot run, each once, sorted."""
        out: set[str] = set()
        for p in self.probes:
            if p.verdict.startswith("differs: job"):
                out.update(p.jobs)
        return sorted(out)

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.CONTRACT if self.blocked else ExitCode.OK

    def as_json(self) -> dict[str, Any]:
        return {"probes": [p.as_json() for p in self.probes], "blocked_jobs": self.blocked,
                "exit_code": int(self.exit_code), "calls": self.calls}


def enabled_jobs(config: Config, shops: Sequence[ShopConfig]) -> dict[str, list[str]]:
    """Job -> the shops it runs for (``listen``: every shop; pure)."""
    jobs: dict[str, list[str]] = {}
    for shop in shops:
        if not shop.enabled:
            continue
        if shop.orders.enabled:
            jobs.setdefault(ORDERS, []).append(shop.name)
        if shop.stock.enabled:
            jobs.setdefault(STOCK, []).append(shop.name)
        if shop.products.master != "off":
            jobs.setdefault(PRODUCTS, []).append(shop.name)
        if shop.fulfillments.enabled:
            jobs.setdefault(FULFILLMENTS, []).append(shop.name)
    if config.listen.public_url:
        jobs[LISTEN] = [s.name for s in shops if s.enabled]
    return jobs


def shop_jobs(shop: ShopConfig) -> list[str]:
    """The jobs enabled for one shop (pure)."""
    out = []
    if shop.orders.enabled:
        out.append(ORDERS)
    if shop.stock.enabled:
        out.append(STOCK)
    if shop.products.master != "off":
        out.append(PRODUCTS)
    if shop.fulfillments.enabled:
        out.append(FULFILLMENTS)
    return out


# -- Rackbeat ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """One raw Rackbeat answer: status, headers, decoded body (``{}`` when not JSON)."""

    status: int
    headers: Mapping[str, str]
    body: Any

    @property
    def ok(self) -> bool:
        return self.status in (200, 201, 206)

    def rows(self, endpoint: str) -> list[dict[str, Any]] | None:
        key = list_key(endpoint)
        if isinstance(self.body, dict) and isinstance(self.body.get(key), list):
            return list(self.body[key])
        return None

    def message(self) -> str:
        if isinstance(self.body, dict):
            errors = self.body.get("errors")
            text = str(self.body.get("message") or "")
            if isinstance(errors, dict) and errors:
                text += " " + "; ".join(f"{k}: {v}" for k, v in errors.items())
            return text.strip() or f"HTTP {self.status}"
        return f"HTTP {self.status}"


class RackbeatProber:
    """Raw read calls to Rackbeat that return refusals instead of raising them."""

    def __init__(self, client: RackbeatClient) -> None:
        self.client = client
        self.calls = 0

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Answer:
        self.calls += 1

        def classify(resp: requests.Response) -> Answer:
            try:
                body = resp.json() if resp.content else {}
            except ValueError:
                body = {}
            return Answer(resp.status_code, dict(resp.headers), body)

        return self.client.transport.request(
            "GET", self.client.base_url + path.lstrip("/"), classify=classify,
            operation=f"contract GET /{path}", idempotent=True,
            headers=self.client._headers(), params=dict(params or {}))


def _future() -> str:
    return (datetime.now(UTC) + timedelta(days=3650)).strftime("%Y-%m-%d %H:%M:%S")


def judge_envelope(answer: Answer, endpoint: str) -> tuple[str, bool]:
    """(observed, ok) of a list answer's envelope (pure)."""
    if not answer.ok:
        return f"HTTP {answer.status}: {answer.message()}", False
    body = answer.body if isinstance(answer.body, dict) else {}
    keys = sorted(body)
    wanted = [list_key(endpoint), "page", "pages", "limit", "total"]
    missing = [k for k in wanted if k not in body]
    observed = f"HTTP {answer.status}, keys {', '.join(keys) or 'none'}"
    return (observed + (f"; missing {', '.join(missing)}" if missing else "")), not missing


def judge_per_location(rows: Sequence[Mapping[str, Any]]) -> tuple[str, str | None]:
    """(observed, mode) from stock-report rows: which per-location fields the account reports
    (pure). ``mode`` is ``None`` when the rows hold no location at all (cannot tell) and
    ``""`` when per-location stock itself is missing (sync-stock cannot run)."""
    locs = [loc for row in rows for loc in (row.get("locations") or [])
            if isinstance(loc, Mapping)]
    if not rows:
        return "the stock report is empty", None
    if not locs:
        return "no locations[] in the stock report rows", ""
    keys = set.intersection(*(set(loc) for loc in locs))
    shown = ", ".join(sorted(keys & {"number", "stock_quantity", "in_order_quantity",
                                     "available_quantity"}))
    observed = f"locations[] with {shown or 'none of the stock fields'}"
    if not {"number", "stock_quantity"} <= keys:
        return observed, ""
    if "available_quantity" in keys and all(loc.get("available_quantity") is not None
                                            for loc in locs):
        return observed, REPORTED
    if "in_order_quantity" in keys and all(loc.get("in_order_quantity") is not None
                                           for loc in locs):
        return observed, MINUS_IN_ORDER
    return observed, MINUS_BOOKED_LINES


def rate_limit_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The rate-limit headers of an answer, by lower-case name (pure)."""
    return {k.lower(): v for k, v in headers.items()
            if k.lower().startswith("x-ratelimit") or k.lower() == "retry-after"}


def probe_rackbeat(prober: RackbeatProber, config: Config, jobs: Mapping[str, list[str]],
                   report: ContractReport) -> None:
    """Every Rackbeat probe the enabled jobs call for (reads only)."""
    rb_jobs = tuple(sorted(j for j in jobs if j != LISTEN)) or (ORDERS,)
    api = "rackbeat"

    # 1. the pagination envelope
    first = prober.get("products", {"limit": 1, "page": 1})
    observed, good = judge_envelope(first, "products")
    report.add(Probe(api, "lists answer 206 with {<plural>, page, pages, limit, total}",
                     "HTTP 206, keys limit, page, pages, products, total", observed,
                     OK if good else cannot_run(rb_jobs), rb_jobs))

    # 2. the page limit
    probe_page_limit(prober, rb_jobs, report)

    # 3. rate-limit headers
    heads = rate_limit_headers(first.headers)
    per_minute = config.rackbeat.requests_per_minute
    limit = heads.get("x-ratelimit-limit")
    expected = f"none needed: rackshop paces itself at {per_minute}/min"
    if limit and limit.isdigit() and int(limit) < per_minute:
        report.add(Probe(api, "rate-limit headers", expected,
                         ", ".join(f"{k}: {v}" for k, v in sorted(heads.items())),
                         using(f"{limit}/min pacing (the account's X-RateLimit-Limit)"),
                         rb_jobs, "rate_limit", int(limit)))
    else:
        report.add(Probe(api, "rate-limit headers", expected,
                         ", ".join(f"{k}: {v}" for k, v in sorted(heads.items())) or "none",
                         OK, rb_jobs, "rate_limit", int(limit) if limit and limit.isdigit()
                         else None))

    # 4. endpoints, fields and filters of each job
    if STOCK in jobs:
        probe_stock(prober, report)
    if PRODUCTS in jobs:
        probe_fields("products", first.rows("products"), (PRODUCTS,), report)
        probe_since_filter(prober, "products", (PRODUCTS,), report)
        probe_group_vat(prober, config, report)
    if FULFILLMENTS in jobs:
        shipments = prober.get("order-shipments", {"limit": 1})
        probe_fields("order-shipments", shipments.rows("order-shipments"), (FULFILLMENTS,),
                     report)
        probe_since_filter(prober, "order-shipments", (FULFILLMENTS,), report)
    if ORDERS in jobs:
        probe_customer_lookup(prober, report)
        probe_order_lookup(prober, report)
        if any(s.enabled and s.orders.enabled and s.orders.after_transfer == "sync"
               for s in config.shops):
            probe_invoice_filter(prober, report)
    if LISTEN in jobs:
        probe_webhook_events(prober, config, report)


#: Fields each job reads from a record of each list (the jobs fail or write wrong data
#: without them).
FIELDS: dict[str, tuple[str, ...]] = {
    "products": ("number", "name", "sales_price", "is_barred", "updated_at"),
    "lots": ("number", "lines"),
    "order-shipments": ("id", "order_number", "is_shipped", "lines"),
    "orders": ("number", "other_reference", "is_booked", "lines"),
    "customer-invoices": ("number", "order_id", "is_booked"),
}


def probe_fields(endpoint: str, rows: Sequence[Mapping[str, Any]] | None,
                 jobs: tuple[str, ...], report: ContractReport) -> None:
    """The first record of a list carries every field the jobs read."""
    wanted = FIELDS[endpoint]
    assumption = f"/{endpoint} records carry the fields read"
    if not rows:
        report.add(Probe("rackbeat", assumption, ", ".join(wanted), "no record to test with",
                         CANNOT_TELL, jobs))
        return
    missing = [f for f in wanted if f not in rows[0]]
    report.add(Probe("rackbeat", assumption, ", ".join(wanted),
                     "all present" if not missing else "missing " + ", ".join(missing),
                     OK if not missing else cannot_run(jobs), jobs))


def probe_invoice_filter(prober: RackbeatProber, report: ContractReport) -> None:
    """``simple_filter[order_id]`` on ``/customer-invoices`` (orders changed after transfer)."""
    jobs = (ORDERS,)
    answer = prober.get("customer-invoices", {"limit": 20})
    rows = answer.rows("customer-invoices")
    assumption = "GET /customer-invoices?simple_filter[order_id]= (after transfer)"
    expected = "only the order's invoices"
    if rows is None:
        report.add(Probe("rackbeat", assumption, expected,
                         f"HTTP {answer.status}: {answer.message()}", cannot_run(jobs), jobs))
        return
    probe_fields("customer-invoices", rows, jobs, report)
    sample = next((r.get("order_id") for r in rows if r.get("order_id") is not None), None)
    if sample is None:
        report.add(Probe("rackbeat", assumption, expected, "no invoice of an order to test "
                         "with", CANNOT_TELL, jobs))
        return
    got = prober.get("customer-invoices", {"simple_filter[order_id]": sample, "limit": 50})
    found = got.rows("customer-invoices")
    if found is not None and all(str(r.get("order_id")) == str(sample) for r in found):
        report.add(Probe("rackbeat", assumption, expected, f"{len(found)} for order {sample}",
                         OK, jobs))
    else:
        report.add(Probe("rackbeat", assumption, expected,
                         f"HTTP {got.status}: {got.message()}" if found is None else
                         f"ignored: {len(found)} rows", cannot_run(jobs), jobs))


def probe_page_limit(prober: RackbeatProber, jobs: tuple[str, ...],
                     report: ContractReport) -> None:
    answer = prober.get("products", {"limit": MAX_PAGE_SIZE, "page": 1})
    expected = f"limit={MAX_PAGE_SIZE} accepted"
    if answer.ok:
        given = answer.body.get("limit") if isinstance(answer.body, dict) else None
        observed = f"HTTP {answer.status}, limit {given}"
        report.add(Probe("rackbeat", "page size", expected, observed, OK, jobs,
                         "page_limit", MAX_PAGE_SIZE))
        return
    for size in (500, 250, 100, 50):
        again = prober.get("products", {"limit": size, "page": 1})
        if again.ok:
            pages = f"pages of {size} (up to {MAX_PAGE_SIZE // size}× the list calls)"
            report.add(Probe("rackbeat", "page size", expected,
                             f"HTTP {answer.status}: {answer.message()}; limit={size} accepted",
                             using(pages), jobs, "page_limit", size))
            return
    report.add(Probe("rackbeat", "page size", expected,
                     f"HTTP {answer.status}: {answer.message()}", cannot_run(jobs), jobs))


def probe_stock(prober: RackbeatProber, report: ContractReport) -> None:
    """The stock report, its per-location fields, the narrowed read, lots and locations."""
    jobs = (STOCK,)
    for endpoint in ("locations", "lots"):
        answer = prober.get(endpoint, {"limit": 1})
        observed, good = judge_envelope(answer, endpoint)
        report.add(Probe("rackbeat", f"GET /{endpoint} lists",
                         f"HTTP 206 with {list_key(endpoint)}", observed,
                         OK if good else cannot_run(jobs), jobs))
        if endpoint == "lots" and good:
            probe_fields("lots", answer.rows("lots"), jobs, report)
    answer = prober.get("reports/checking", {"show_all_locations": "true", "limit": 50})
    rows = answer.rows("reports/checking")
    expected = "locations[] with number, stock_quantity, in_order_quantity, available_quantity"
    if rows is None:
        report.add(Probe("rackbeat", "stock report (GET /reports/checking)", expected,
                         f"HTTP {answer.status}: {answer.message()}", cannot_run(jobs), jobs))
        return
    observed, mode = judge_per_location(rows)
    assumption = "per-location availability in the stock report"
    if mode is None:
        report.add(Probe("rackbeat", assumption, expected, observed, CANNOT_TELL, jobs))
    elif mode == "":
        report.add(Probe("rackbeat", assumption, expected, observed, cannot_run(jobs), jobs))
    elif mode == REPORTED:
        report.add(Probe("rackbeat", assumption, expected, observed, OK, jobs,
                         "per_location", REPORTED))
    elif mode == MINUS_IN_ORDER:
        report.add(Probe("rackbeat", assumption, expected, observed,
                         using("stock_quantity − in_order_quantity per location (no extra "
                               "calls)"), jobs, "per_location", MINUS_IN_ORDER))
    else:
        report.add(Probe("rackbeat", assumption, expected, observed,
                         using("stock_quantity − booked, unshipped order lines per location "
                               "(every order read each pass: ⌈orders/1000⌉ more calls)"),
                         jobs, "per_location", MINUS_BOOKED_LINES))
    # the narrowed read: simple_filter[number] on the report (a webhook's few items)
    sample = next((str(r["number"]) for r in rows if r.get("number")), None)
    assumption = "stock report filtered by simple_filter[number]"
    expected = "only the item asked for"
    fallback = using("the whole report filtered locally (⌈items/1000⌉ calls per narrowed "
                     "pass instead of one per item)")
    if sample is None:
        report.add(Probe("rackbeat", assumption, expected, "no item to test with", CANNOT_TELL,
                         jobs))
        return
    narrowed = prober.get("reports/checking", {"simple_filter[number]": sample,
                                               "show_all_locations": "true", "limit": 50})
    got = narrowed.rows("reports/checking")
    if got is None:
        report.add(Probe("rackbeat", assumption, expected,
                         f"HTTP {narrowed.status}: {narrowed.message()}", fallback, jobs,
                         "report_filter", "local"))
    elif {str(r.get("number", "")).lower() for r in got} <= {sample.lower()}:
        report.add(Probe("rackbeat", assumption, expected, f"{len(got)} row(s), all {sample}",
                         OK, jobs, "report_filter", "server"))
    else:
        report.add(Probe("rackbeat", assumption, expected,
                         f"ignored: {len(got)} rows for {sample}", fallback, jobs,
                         "report_filter", "local"))


def probe_since_filter(prober: RackbeatProber, endpoint: str, jobs: tuple[str, ...],
                       report: ContractReport) -> None:
    """``updated_at_from`` (the job's cursor) narrows the list."""
    answer = prober.get(endpoint, {"updated_at_from": _future(), "limit": 1})
    rows = answer.rows(endpoint)
    assumption = f"GET /{endpoint}?updated_at_from= narrows to changed records"
    expected = "no rows for a date in the future"
    if rows is None:
        report.add(Probe("rackbeat", assumption, expected,
                         f"HTTP {answer.status}: {answer.message()}", cannot_run(jobs), jobs))
    elif not rows:
        report.add(Probe("rackbeat", assumption, expected, "0 rows", OK, jobs))
    else:
        total = answer.body.get("total") if isinstance(answer.body, dict) else None
        report.add(Probe("rackbeat", assumption, expected, f"ignored: {total or len(rows)} rows",
                         using("every record read each pass and compared "
                               f"(⌈{endpoint}/1000⌉ calls instead of the changed few)"), jobs))


def probe_group_vat(prober: RackbeatProber, config: Config, report: ContractReport) -> None:
    answer = prober.get("product-groups", {"limit": 50})
    rows = answer.rows("product-groups")
    jobs = (PRODUCTS,)
    assumption = "product groups carry vat_domestic"
    if rows is None:
        report.add(Probe("rackbeat", assumption, "vat_domestic on each group",
                         f"HTTP {answer.status}: {answer.message()}", cannot_run(jobs), jobs))
        return
    if not rows:
        report.add(Probe("rackbeat", assumption, "vat_domestic on each group", "no groups",
                         CANNOT_TELL, jobs))
        return
    with_vat = [r for r in rows if r.get("vat_domestic") is not None]
    fields = sorted(k for k in rows[0] if k.startswith("vat"))
    observed = f"{len(with_vat)}/{len(rows)} groups with vat_domestic; fields " \
        f"{', '.join(fields) or 'none'}"
    if len(with_vat) == len(rows):
        report.add(Probe("rackbeat", assumption, "vat_domestic on each group", observed, OK,
                         jobs, "group_vat", True))
    else:
        rates = sorted({s.products.vat_rate for s in config.shops})
        report.add(Probe("rackbeat", assumption, "vat_domestic on each group", observed,
                         using("products.vat_rate (" + ", ".join(f"{r:g} %" for r in rates)
                               + ")"), jobs, "group_vat", False))


def probe_customer_lookup(prober: RackbeatProber, report: ContractReport) -> None:
    """A known customer's e-mail finds it with ``search=`` (else ``simple_filter``, else all)."""
    jobs = (ORDERS,)
    assumption = "customer found by e-mail (GET /customers?search=)"
    expected = "search= matches contact_email"
    answer = prober.get("customers", {"limit": 100})
    rows = answer.rows("customers")
    if rows is None:
        report.add(Probe("rackbeat", assumption, expected,
                         f"HTTP {answer.status}: {answer.message()}", cannot_run(jobs), jobs))
        return
    sample = next((r for r in rows if r.get("contact_email") and r.get("number")), None)
    if sample is None:
        report.add(Probe("rackbeat", assumption, expected,
                         "no customer with an e-mail to test with", CANNOT_TELL, jobs))
        return
    email = str(sample["contact_email"]).strip().lower()
    number = str(sample["number"])

    def finds(params: Mapping[str, Any]) -> tuple[bool, Answer]:
        got = prober.get("customers", {**params, "limit": 50})
        found = got.rows("customers") or []
        return any(str(r.get("number")) == number for r in found), got

    hit, got = finds({"search": email})
    if hit:
        report.add(Probe("rackbeat", assumption, expected, f"customer {number} found", OK,
                         jobs, "customer_lookup", "search"))
        return
    observed = (f"HTTP {got.status}: {got.message()}" if not got.ok
                else f"customer {number} not found by its e-mail")
    hit, _ = finds({"simple_filter[contact_email]": email})
    if hit:
        report.add(Probe("rackbeat", assumption, expected, observed,
                         using("simple_filter[contact_email] (no extra calls)"), jobs,
                         "customer_lookup", "simple_filter"))
        return
    report.add(Probe("rackbeat", assumption, expected, observed + "; simple_filter refused too",
                     using("every customer paged and matched locally (⌈customers/1000⌉ calls "
                           "per new e-mail)"), jobs, "customer_lookup", "all"))


def probe_order_lookup(prober: RackbeatProber, report: ContractReport) -> None:
    """An order's ``other_reference`` finds it with ``search=`` (how a lost answer is settled
    without a duplicate order)."""
    jobs = (ORDERS,)
    assumption = "order found by other_reference (GET /orders?search=&created_at_from=)"
    expected = "search= matches other_reference"
    answer = prober.get("orders", {"limit": 100})
    rows = answer.rows("orders")
    if rows is None:
        report.add(Probe("rackbeat", assumption, expected,
                         f"HTTP {answer.status}: {answer.message()}", cannot_run(jobs), jobs))
        return
    probe_fields("orders", rows, jobs, report)
    sample = next((r for r in rows if r.get("other_reference") and r.get("number")), None)
    if sample is None:
        report.add(Probe("rackbeat", assumption, expected,
                         "no order with other_reference to test with", CANNOT_TELL, jobs))
        return
    ref = str(sample["other_reference"])
    got = prober.get("orders", {"search": ref, "created_at_from": "2000-01-01 00:00:00",
                                "limit": 50})
    found = got.rows("orders")
    if found is not None and any(str(r.get("number")) == str(sample["number"]) for r in found):
        report.add(Probe("rackbeat", assumption, expected, f"order {sample['number']} found",
                         OK, jobs))
    else:
        observed = f"HTTP {got.status}: {got.message()}" if found is None else \
            f"order {sample['number']} not found by {ref!r}"
        # without it an order whose answer was lost would be created twice
        report.add(Probe("rackbeat", assumption, expected, observed, cannot_run(jobs), jobs))


def probe_webhook_events(prober: RackbeatProber, config: Config, report: ContractReport) -> None:
    from rackshop.listen.webhooks_admin import rackbeat_events

    answer = prober.get("webhooks", {"limit": 1000})
    rows = answer.rows("webhooks")
    jobs = (LISTEN,)
    if rows is None:
        report.add(Probe("rackbeat", "webhooks listed (GET /webhooks)", "HTTP 206",
                         f"HTTP {answer.status}: {answer.message()}", cannot_run(jobs), jobs))
        return
    have = {str(r.get("event")) for r in rows}
    for event in rackbeat_events(config):
        assumption = f"webhook event {event}"
        if event in have:
            report.add(Probe("rackbeat", assumption, "the account accepts the name",
                             "subscribed", OK, jobs))
        else:
            report.add(Probe("rackbeat", assumption, "the account accepts the name",
                             "no subscription yet (`rackshop webhooks register` proves it)",
                             CANNOT_TELL, jobs))


# -- Shopify ----------------------------------------------------------------------------------

SCOPES_QUERY = "query ContractScopes { currentAppInstallation { accessScopes { handle } } }"
BULK_QUERY = "query ContractBulk { bulkOperations(first: 1) { nodes { id status } } }"
TOPICS_QUERY = 'query ContractTopics { __type(name: "WebhookSubscriptionTopic") ' \
    "{ enumValues { name } } }"
LOCATIONS_QUERY = "query ContractLocations { locations(first: 250, includeInactive: true) " \
    "{ nodes { id name isActive } } }"


@dataclass(frozen=True)
class GraphQLAnswer:
    status: int
    headers: Mapping[str, str]
    data: dict[str, Any]
    errors: list[str]
    extensions: dict[str, Any]


class ShopifyProber:
    """Raw GraphQL calls to one shop that return errors instead of raising them."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.calls = 0

    def query(self, document: str) -> GraphQLAnswer:
        self.calls += 1

        def classify(resp: requests.Response) -> GraphQLAnswer:
            try:
                payload = resp.json()
            except ValueError:
                payload = {}
            if not isinstance(payload, dict):
                payload = {}
            raw = payload.get("errors") or []
            if isinstance(raw, str):
                raw = [raw]
            errors = [str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in raw]
            return GraphQLAnswer(resp.status_code, dict(resp.headers),
                                 payload.get("data") or {}, errors,
                                 payload.get("extensions") or {})

        return self.client.transport.request(  # type: ignore[no-any-return]
            "POST", self.client.graphql_url, classify=classify,
            operation="contract query", idempotent=True,
            headers={"X-Shopify-Access-Token": self.client.token.get(),
                     "Content-Type": "application/json"},
            json={"query": document, "variables": {}})


def granted_covers(granted: Iterable[str], needed: Iterable[str]) -> list[str]:
    """The needed scopes not granted (``write_x`` grants ``read_x``; pure)."""
    have = set(granted)
    have |= {"read_" + s.removeprefix("write_") for s in have if s.startswith("write_")}
    return sorted(s for s in needed if s not in have)


def needed_scopes(shop: ShopConfig, job: str) -> tuple[str, ...]:
    scopes = JOB_SCOPES.get(job, ())
    if job == PRODUCTS and shop.products.master == "rackbeat":
        scopes = (*scopes, *RACKBEAT_MASTER_SCOPES)
    return tuple(dict.fromkeys(scopes))


def pacing(size: float, rate: float) -> str:
    """What a bucket means for rackshop's pace (pure)."""
    if rate <= 0:
        return "no restore rate"
    return (f"bucket {size:g}, restores {rate:g}/s: a 1,000-point page every "
            f"{1000 / rate:.1f} s once the bucket is spent")


def probe_shop(prober: ShopifyProber, shop: ShopConfig, config: Config,
               report: ContractReport) -> None:
    """Every Shopify probe of one shop (reads only)."""
    from rackshop.check import _shopify_location_refs

    api = f"shopify {shop.name}"
    jobs = tuple(shop_jobs(shop)) or (ORDERS,)
    first = prober.query(SCOPES_QUERY)
    served = next((v for k, v in first.headers.items() if k.lower() == "x-shopify-api-version"),
                  None)
    report.add(Probe(api, "pinned API version served", shop.api_version,
                     served or "no X-Shopify-API-Version header",
                     OK if served == shop.api_version else
                     (CANNOT_TELL if served is None else cannot_run(jobs)), jobs))

    # scopes
    install = first.data.get("currentAppInstallation") or {}
    handles = [str(s.get("handle")) for s in install.get("accessScopes") or []
               if isinstance(s, Mapping)]
    if first.errors or not install:
        for job in shop_jobs(shop):
            report.add(Probe(api, f"access scopes for {job}",
                             ", ".join(needed_scopes(shop, job)),
                             "; ".join(first.errors) or "no currentAppInstallation",
                             CANNOT_TELL, (job,)))
    else:
        for job in shop_jobs(shop):
            need = needed_scopes(shop, job)
            missing = granted_covers(handles, need)
            report.add(Probe(api, f"access scopes for {job}", ", ".join(need),
                             "granted" if not missing else "missing " + ", ".join(missing),
                             OK if not missing else cannot_run([job]), (job,),
                             f"scopes_missing:{job}", missing))

    # plan rate
    status = ((first.extensions.get("cost") or {}).get("throttleStatus") or {})
    size = float(status.get("maximumAvailable") or 0)
    rate = float(status.get("restoreRate") or 0)
    want_size, want_rate = PLAN_RATES.get(shop.plan, PLAN_RATES["standard"])
    expected = f"plan {shop.plan}: {pacing(want_size, want_rate)}"
    if not status:
        report.add(Probe(api, "plan rate (throttleStatus)", expected, "no throttleStatus",
                         CANNOT_TELL, jobs))
    elif (size, rate) == (want_size, want_rate):
        report.add(Probe(api, "plan rate (throttleStatus)", expected, pacing(size, rate), OK,
                         jobs, "rate", [size, rate]))
    else:
        report.add(Probe(api, "plan rate (throttleStatus)", expected, pacing(size, rate),
                         using(f"the observed rate ({rate:g} points/s; the client paces from "
                               f"throttleStatus; set plan to match)"), jobs, "rate",
                         [size, rate]))

    # locations
    locs = prober.query(LOCATIONS_QUERY)
    nodes = (locs.data.get("locations") or {}).get("nodes") or []
    by_key: dict[str, Mapping[str, Any]] = {}
    for loc in nodes:
        by_key[str(loc.get("id"))] = loc
        by_key[str(loc.get("name"))] = loc
    for key, where in dict.fromkeys(_shopify_location_refs(shop)):
        job = STOCK if ".stock." in where else "init-sync"
        loc = by_key.get(key)
        observed = "missing" if loc is None else ("active" if loc.get("isActive", True)
                                                  else "inactive")
        report.add(Probe(api, f"location {key!r} ({where})", "exists and is active", observed,
                         OK if observed == "active" else cannot_run([job]), (job,)))

    # bulk operations
    if STOCK in jobs or PRODUCTS in jobs:
        bulk = prober.query(BULK_QUERY)
        users = tuple(j for j in jobs if j in (STOCK, PRODUCTS))
        report.add(Probe(api, "bulk operations allowed", "bulkOperations readable",
                         "; ".join(bulk.errors) or "readable",
                         OK if not bulk.errors else cannot_run(users), users))

    # webhook topics
    if config.listen.public_url:
        from rackshop.listen.webhooks_admin import shopify_topics

        topics = prober.query(TOPICS_QUERY)
        values = {str(v.get("name")) for v in ((topics.data.get("__type") or {})
                                               .get("enumValues") or [])}
        for topic in shopify_topics(shop):
            enum = topic.upper().replace("/", "_")
            if not values:
                verdict, observed = CANNOT_TELL, "; ".join(topics.errors) or "no enum values"
            elif enum in values:
                verdict, observed = OK, f"{enum} subscribable"
            else:
                verdict, observed = cannot_run([LISTEN]), f"no topic {enum} in {shop.api_version}"
            report.add(Probe(api, f"webhook topic {topic}", f"{enum} in the API version",
                             observed, verdict, (LISTEN,)))


# -- running, recording ----------------------------------------------------------------------


def run_contract(runtime: Any, shops: Sequence[ShopConfig]) -> ContractReport:
    """Probe Rackbeat and each shop for what the enabled jobs assume (reads only)."""
    config: Config = runtime.config
    report = ContractReport()
    jobs = enabled_jobs(config, shops)
    prober = RackbeatProber(runtime.rackbeat())
    try:
        probe_rackbeat(prober, config, jobs, report)
    except AuthError:
        raise
    except RackshopError as exc:
        report.add(Probe("rackbeat", "reachable", "answers", exc.message, CANNOT_TELL))
    report.calls += prober.calls
    for shop in shops:
        if not shop.enabled:
            continue
        sp = ShopifyProber(runtime.shopify(shop))
        try:
            probe_shop(sp, shop, config, report)
        except AuthError:
            raise
        except RackshopError as exc:
            report.add(Probe(f"shopify {shop.name}", "reachable", "answers", exc.message,
                             CANNOT_TELL))
        report.calls += sp.calls
    return report


def record(store: Store, report: ContractReport) -> int:
    """Write every probe that has a key into the ``contract`` table (replacing the previous
    observation of the same key); returns how many rows."""
    rows = [(p.api, p.key, json.dumps(p.value), p.verdict, utcnow())
            for p in report.probes if p.key is not None]
    with store.transaction() as conn:
        conn.executemany("INSERT OR REPLACE INTO contract (api, key, value, verdict, "
                         "observed_at) VALUES (?, ?, ?, ?, ?)", rows)
    return len(rows)


@dataclass(frozen=True)
class Contract:
    """What ``check --contract`` last observed (empty: assume the twin's choices)."""

    values: Mapping[tuple[str, str], Any] = field(default_factory=dict)

    def get(self, api: str, key: str, default: Any = None) -> Any:
        return self.values.get((api, key), default)

    @property
    def per_location(self) -> str:
        return str(self.get("rackbeat", "per_location", REPORTED))

    @property
    def report_filter(self) -> str:
        return str(self.get("rackbeat", "report_filter", "server"))

    @property
    def customer_lookup(self) -> str:
        return str(self.get("rackbeat", "customer_lookup", "search"))

    @property
    def page_limit(self) -> int:
        return int(self.get("rackbeat", "page_limit", MAX_PAGE_SIZE) or MAX_PAGE_SIZE)

    @property
    def rate_limit(self) -> int | None:
        value = self.get("rackbeat", "rate_limit")
        return int(value) if value else None


def load_path(path: Path) -> Contract:
    """The recorded contract, read from the store file without opening it for writing
    (empty when there is no store or no observation)."""
    if not Path(path).exists():
        return Contract()
    try:
        conn = sqlite3.connect(f"file:{Path(path)}?mode=ro", uri=True)
        try:
            rows = conn.execute("SELECT api, key, value FROM contract").fetchall()
        finally:
            conn.close()
    except sqlite3.Error:
        return Contract()
    return Contract({(str(r[0]), str(r[1])): json.loads(r[2]) for r in rows})


def load(store: Store | None) -> Contract:
    """The recorded contract (empty when never probed or no store)."""
    if store is None:
        return Contract()
    try:
        rows = store.conn.execute("SELECT api, key, value FROM contract").fetchall()
    except sqlite3.Error:  # an older store: never probed
        return Contract()
    return Contract({(str(r[0]), str(r[1])): json.loads(r[2]) for r in rows})


# -- what jobs use ----------------------------------------------------------------------------


def adapt_rackbeat_client(client: RackbeatClient, contract: Contract) -> None:
    """Page size and pacing from the recorded contract (no-op when nothing differs)."""
    client.max_page_size = min(MAX_PAGE_SIZE, contract.page_limit)
    limit = contract.rate_limit
    if limit and client.limiter is not None and limit < client.limiter.per_minute:
        client.limiter.per_minute = limit
        client.limiter.allowed = limit - limit // 50


def customer_lookup_params(contract: Contract, email: str) -> dict[str, str] | None:
    """How ``sync-orders`` asks for a customer by e-mail: ``search`` (the default),
    ``simple_filter[contact_email]``, or ``None``: page every customer and match locally."""
    mode = contract.customer_lookup
    if mode == "simple_filter":
        return {"simple_filter[contact_email]": email}
    if mode == "all":
        return None
    return {"search": email}


def _sku(number: str) -> str:
    from rackshop.sync.product_map import sku_key

    return sku_key(number)


class StockAdapter:
    """Per-location availability as the recorded contract allows (sync-stock's hook).

    ``mode`` ``reported`` reads ``available_quantity``; ``stock-minus-in-order`` subtracts each
    location's ``in_order_quantity`` from its ``stock_quantity``; ``stock-minus-booked-lines``
    subtracts the booked, not yet shipped order lines (their ``location``; a BOM line reserves
    its components), read once per pass from ``GET /orders``, and then works out each BOM's
    sets from its components (:meth:`finish`).

    Args:
        contract: The recorded contract.
        orders: Returns every order (called once, only in ``stock-minus-booked-lines``).
        boms: BOM SKU key -> [(component SKU key, quantity)], as sync-stock reads them.
    """

    def __init__(self, contract: Contract,
                 orders: Callable[[], Iterable[Mapping[str, Any]]] | None = None,
                 boms: Mapping[str, Sequence[tuple[str, float]]] | None = None) -> None:
        self.mode = contract.per_location
        self.local_filter = contract.report_filter == "local"
        self._orders = orders
        self.boms = dict(boms or {})
        self._reserved: dict[tuple[str, int], float] | None = None

    @classmethod
    def for_runtime(cls, runtime: Any, store: Store | None,
                    boms: Mapping[str, Sequence[tuple[str, float]]] | None = None
                    ) -> StockAdapter:
        client = runtime.rackbeat()
        return cls(load(store), lambda: client.iter_list("orders", page_size=MAX_PAGE_SIZE),
                   boms)

    def report_filters(self, filters: list[dict[str, str]]) -> list[dict[str, str]]:
        """The report reads for a narrowed pass: the whole report when the account refuses
        ``simple_filter[number]`` (the caller keeps only the rows in scope)."""
        if self.local_filter and any(filters):
            return [{}]
        return filters

    def reserved(self) -> dict[tuple[str, int], float]:
        """(SKU key, location) -> units booked and not yet shipped (BOM lines exploded)."""
        if self._reserved is None:
            out: dict[tuple[str, int], float] = {}
            for order in (self._orders() if self._orders else ()):
                if not order.get("is_booked") or order.get("is_shipped"):
                    continue
                for line in order.get("lines") or []:
                    add_line_reservation(out, line, self.boms)
            self._reserved = out
        return self._reserved

    def per_location(self, item: Mapping[str, Any]) -> dict[int, float]:
        """Location number -> available quantity of one stock-report row."""
        per: dict[int, float] = {}
        key = _sku(str(item.get("number") or ""))
        for loc in item.get("locations") or []:
            number = int(loc["number"])
            stock = float(loc.get("stock_quantity") or 0)
            if self.mode == REPORTED and loc.get("available_quantity") is not None:
                per[number] = float(loc["available_quantity"])
            elif self.mode in (REPORTED, MINUS_IN_ORDER) and \
                    loc.get("in_order_quantity") is not None:
                per[number] = stock - float(loc["in_order_quantity"])
            else:
                per[number] = stock - self.reserved().get((key, number), 0.0)
        return per

    def finish(self, stock: dict[str, dict[int, float]]) -> dict[str, dict[int, float]]:
        """In ``stock-minus-booked-lines``: each BOM's available sets per location from its
        components' availability (the report's own BOM figures subtract nothing)."""
        if self.mode != MINUS_BOOKED_LINES:
            return stock
        for lot, parts in self.boms.items():
            if lot not in stock or not parts:
                continue
            for loc in list(stock[lot]):
                sets = [math.floor(stock.get(part, {}).get(loc, 0.0) / qty)
                        for part, qty in parts if qty > 0 and part in stock]
                if sets:  # the components' reservations include this BOM's own lines
                    stock[lot][loc] = float(min(sets))
        return stock


def add_line_reservation(out: dict[tuple[str, int], float], line: Mapping[str, Any],
                         boms: Mapping[str, Sequence[tuple[str, float]]]) -> None:
    """Add one booked order line's open units to ``out`` at its location (pure but for
    ``out``). A BOM line reserves its own sets and each component's units."""
    item = line.get("item") if isinstance(line.get("item"), Mapping) else {}
    number = (item or {}).get("number") or line.get("item_id") or line.get("child_id")
    loc = line.get("location") if isinstance(line.get("location"), Mapping) else None
    loc_no = (loc or {}).get("number") or line.get("location_id")
    if number in (None, "") or loc_no in (None, ""):
        return
    left = float(line.get("quantity") or 0) - float(line.get("shipped_quantity") or 0)
    if left <= 0:
        return
    key = _sku(str(number))
    where = int(loc_no)
    if key in boms:
        out[(key, where)] = out.get((key, where), 0.0) + left
        for part, qty in boms[key]:
            out[(part, where)] = out.get((part, where), 0.0) + left * qty
    else:
        out[(key, where)] = out.get((key, where), 0.0) + left


# -- write probes (--write-probes only) -------------------------------------------------------

#: The scratch line: 3 × 9.99 at 10 % off, 25 % VAT. Unit semantics (mapping.line_amounts):
#: round(3 × 9.99 × 0.9, 2) = 26.97, VAT round(26.97 × 0.25, 2) = 6.74, total 33.71.
PROBE_LINE = {"quantity": 3, "line_price": 9.99, "discount_percentage": 10,
              "vat_percentage": 25}
PROBE_REFERENCE = "rackshop-contract-probe-{id}"


def expected_line_amounts() -> dict[str, float]:
    """What rackshop's mapping computes for :data:`PROBE_LINE` (pure)."""
    from decimal import Decimal

    from rackshop.sync.mapping import rackbeat_line_amounts

    total, vat = rackbeat_line_amounts(Decimal(str(PROBE_LINE["quantity"])),
                              Decimal(str(PROBE_LINE["line_price"])),
                              Decimal(str(PROBE_LINE["discount_percentage"])),
                              Decimal(str(PROBE_LINE["vat_percentage"])))
    return {"subtotal": float(total), "vat": float(vat), "total": float(total + vat)}


def judge_line_price(order: Mapping[str, Any]) -> tuple[str, str]:
    """(observed, verdict) of the scratch order Rackbeat computed (pure)."""
    want = expected_line_amounts()
    got = {"subtotal": order.get("total_subtotal"), "vat": order.get("total_vat"),
           "total": order.get("total_total")}
    observed = ", ".join(f"{k} {v}" for k, v in got.items())
    try:
        same = all(abs(float(got[k] or 0) - want[k]) < 0.005 for k in want)
    except (TypeError, ValueError):
        return observed, CANNOT_TELL
    if same:
        return observed, OK
    per_line_total = round(float(PROBE_LINE["line_price"]) * 0.9, 2)
    if got["subtotal"] is not None and abs(float(got["subtotal"]) - per_line_total) < 0.005:
        observed += " (line_price read as the line's total)"
    return observed, cannot_run([ORDERS])


def _probe_customer_and_item(runtime: Any) -> tuple[int | None, str | None]:
    shops = [s for s in runtime.config.shops if s.enabled and s.orders.enabled]
    customer = next((s.orders.guest_customer for s in shops if s.orders.guest_customer), None)
    item = next((s.orders.shipping_item for s in shops if s.orders.shipping_item), None)
    client = runtime.rackbeat()
    if customer is None:
        first = next(iter(client.iter_list("customers", {"limit": 1}, page_size=1)), None)
        customer = first.get("number") if first else None
    if item is None:
        first = next(iter(client.iter_list("products", page_size=1)), None)
        item = first.get("number") if first else None
    return (int(customer) if customer is not None else None,
            str(item) if item is not None else None)


def write_probe_plan(runtime: Any) -> str:
    """What ``--write-probes`` will write, for the confirmation."""
    customer, item = _probe_customer_and_item(runtime)
    return (f"--write-probes creates one draft order in Rackbeat for customer {customer} with "
            f"one line of item {item} (3 × 9.99, 10 % off, 25 % VAT; a draft reserves no "
            "stock), reads the totals Rackbeat computes, and deletes it at once. It is "
            "journalled in the state store: a crash leaves nothing behind (the next run "
            "deletes it).")


def cleanup_write_probes(client: RackbeatClient, store: Store) -> int:
    """Delete every scratch order a previous run left (journal rows not ``deleted``)."""
    from rackshop.errors import NotFoundError

    done = 0
    rows = store.conn.execute("SELECT id, record FROM contract_probes WHERE state != 'deleted'"
                              ).fetchall()
    for row in rows:
        pid, number = int(row[0]), row[1]
        if number is None:  # the answer was lost: find it by its reference
            ref = PROBE_REFERENCE.format(id=pid)
            found = [o for o in client.iter_list("orders", {"search": ref}, page_size=50)
                     if o.get("other_reference") == ref]
            number = found[0]["number"] if found else None
        if number is not None:
            with contextlib.suppress(NotFoundError):
                client.request("DELETE", f"orders/{int(number)}")
        with store.transaction() as conn:
            conn.execute("UPDATE contract_probes SET state = 'deleted', finished_at = ? "
                         "WHERE id = ?", (utcnow(), pid))
        done += 1
    return done


def run_write_probes(runtime: Any, store: Store, report: ContractReport) -> None:
    """Create the scratch draft order, judge Rackbeat's totals, delete it (always)."""
    client = runtime.rackbeat()
    cleanup_write_probes(client, store)
    customer, item = _probe_customer_and_item(runtime)
    assumption = "line_price is the unit price ex. VAT; discount and VAT rounded per line"
    want = expected_line_amounts()
    expected = ", ".join(f"{k} {v:.2f}" for k, v in want.items())
    if customer is None or item is None:
        report.add(Probe("rackbeat", assumption, expected, "no customer or item to test with",
                         CANNOT_TELL, (ORDERS,)))
        return
    with store.transaction() as conn:
        cur = conn.execute("INSERT INTO contract_probes (kind, state, started_at) VALUES "
                           "('draft-order', 'creating', ?)", (utcnow(),))
        pid = int(cur.lastrowid or 0)
    body = {"customer_id": customer, "other_reference": PROBE_REFERENCE.format(id=pid),
            "heading": "rackshop check --contract scratch order (deleted at once)",
            "lines": [{"item_id": item, "name": "rackshop contract probe", **PROBE_LINE}]}
    try:
        created = client.create("orders", body, path="orders/drafts")
        number = created.get("number")
        with store.transaction() as conn:
            conn.execute("UPDATE contract_probes SET record = ?, state = 'created', detail = ? "
                         "WHERE id = ?", (number, json.dumps({"customer": customer,
                                                              "item": item}), pid))
        order = client.get_one("orders", int(number)) if number is not None else created
        observed, verdict = judge_line_price(order)
        report.add(Probe("rackbeat", assumption, expected, observed, verdict, (ORDERS,),
                         "line_price", "unit" if verdict == OK else "differs"))
    finally:
        cleanup_write_probes(client, store)
    report.calls += 4
