"""The Rackbeat probes of ``check --contract``: envelopes, page limit, stock per location, filters,
product group VAT, customer and order look-ups, webhook events; each judged against the twin's
choice (``docs/sandbox-rackbeat.md``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import requests

from rackshop.config import Config
from rackshop.contract.report import (
    CANNOT_TELL,
    FULFILLMENTS,
    LISTEN,
    MINUS_BOOKED_LINES,
    MINUS_IN_ORDER,
    OK,
    ORDERS,
    PRODUCTS,
    REPORTED,
    STOCK,
    ContractReport,
    Probe,
    cannot_run,
    using,
)
from rackshop.rackbeat.client import MAX_PAGE_SIZE, RackbeatClient, list_key


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

    def refusal(self, assumption: str, expected: str, jobs: tuple[str, ...]) -> Probe:
        """The verdict when the read itself was refused: the jobs cannot run."""
        return Probe("rackbeat", assumption, expected, f"HTTP {self.status}: {self.message()}",
                     cannot_run(jobs), jobs)

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
        probe_line_price(prober, report)
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
        report.add(answer.refusal(assumption, expected, jobs))
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
    report.add(answer.refusal("page size", expected, jobs))


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
        report.add(answer.refusal("stock report (GET /reports/checking)", expected, jobs))
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
        report.add(answer.refusal(assumption, expected, jobs))
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
        report.add(answer.refusal(assumption, "vat_domestic on each group", jobs))
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


def _sample_with(prober: RackbeatProber, report: ContractReport, endpoint: str, field: str,
                 assumption: str, expected: str, jobs: tuple[str, ...], lacking: str, *,
                 probe_read: bool = False) -> dict[str, Any] | None:
    """One of the first 100 records of ``endpoint`` with a ``field`` and a number, to test a
    lookup with; ``None`` once the verdict is reported (the list refused, or ``lacking``: none
    has one). ``probe_read`` also checks the fields the jobs read on the records listed."""
    answer = prober.get(endpoint, {"limit": 100})
    rows = answer.rows(endpoint)
    if rows is None:
        report.add(answer.refusal(assumption, expected, jobs))
        return None
    if probe_read:
        probe_fields(endpoint, rows, jobs, report)
    sample = next((r for r in rows if r.get(field) and r.get("number")), None)
    if sample is None:
        report.add(Probe("rackbeat", assumption, expected, lacking, CANNOT_TELL, jobs))
    return sample


def probe_customer_lookup(prober: RackbeatProber, report: ContractReport) -> None:
    """A known customer's e-mail finds it with ``search=`` (else ``simple_filter``, else all)."""
    jobs = (ORDERS,)
    assumption = "customer found by e-mail (GET /customers?search=)"
    expected = "search= matches contact_email"
    sample = _sample_with(prober, report, "customers", "contact_email", assumption, expected,
                          jobs, "no customer with an e-mail to test with")
    if sample is None:
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
    sample = _sample_with(prober, report, "orders", "other_reference", assumption, expected,
                          jobs, "no order with other_reference to test with", probe_read=True)
    if sample is None:
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


#: The fallback when an account reads ``line_price`` as the line's total: the Rackbeat client
#: sends quantity × unit price and reads unit prices back (``RackbeatClient.line_price_is_total``).
LINE_TOTALS = "line totals (quantity × unit price)"


def line_subtotals(lines: Sequence[Mapping[str, Any]]) -> tuple[Decimal, Decimal] | None:
    """The subtotal these order lines make if ``line_price`` is the unit price, and if it is
    the line's total before discount, each line rounded as Rackbeat rounds it (pure; ``None``
    when a line's figures are not numbers)."""
    from rackshop.sync.mapping import rackbeat_line_amounts

    as_unit = as_total = Decimal(0)
    for ln in lines:
        try:
            price, quantity = Decimal(str(ln["line_price"])), Decimal(str(ln["quantity"]))
            discount = Decimal(str(ln.get("discount_percentage") or 0))
        except (KeyError, TypeError, InvalidOperation):
            return None
        as_unit += rackbeat_line_amounts(quantity, price, discount, Decimal(0))[0]
        as_total += rackbeat_line_amounts(Decimal(1), price, discount, Decimal(0))[0]
    return as_unit, as_total


def line_price_meaning(lines: Sequence[Mapping[str, Any]], subtotal: Any) -> str | None:
    """``unit`` or ``total``: what ``line_price`` must be for Rackbeat's ``total_subtotal`` of
    these lines; ``None`` when the lines cannot tell (both readings alike, or neither fits)."""
    sums = line_subtotals(lines)
    try:
        got = Decimal(str(subtotal))
    except (TypeError, InvalidOperation):
        return None
    if sums is None or sums[0] == sums[1]:
        return None
    for meaning, expected in zip(("unit", "total"), sums, strict=True):
        if abs(got - expected) < Decimal("0.005"):
            return meaning
    return None


def probe_line_price(prober: RackbeatProber, report: ContractReport) -> None:
    """An order line's ``line_price`` is the unit price: the subtotal Rackbeat computed for an
    order with a line of several units says which it is (reads only; ``--write-probes`` asks
    with a scratch order when no such order exists yet)."""
    jobs = (ORDERS,)
    assumption = "line_price is the unit price ex. VAT (an order's total_subtotal)"
    expected = "total_subtotal = Σ quantity × line_price × (1 − discount)"
    answer = prober.get("orders", {"limit": 100})
    for order in answer.rows("orders") or []:
        lines = order.get("lines")
        meaning = line_price_meaning(lines, order.get("total_subtotal")) \
            if isinstance(lines, list) and lines else None
        if meaning is None:
            continue
        observed = f"order {order.get('number')}: total_subtotal {order.get('total_subtotal')}"
        if meaning == "unit":
            report.add(Probe("rackbeat", assumption, expected, observed, OK, jobs,
                             "line_price", "unit"))
        else:
            report.add(Probe("rackbeat", assumption, expected,
                             observed + " (line_price read as the line's total)",
                             using(LINE_TOTALS), jobs, "line_price", "total"))
        return
    report.add(Probe("rackbeat", assumption, expected,
                     "no order with a line of several units to tell by (--write-probes asks)",
                     CANNOT_TELL, jobs))


def probe_webhook_events(prober: RackbeatProber, config: Config, report: ContractReport) -> None:
    from rackshop.listen.webhooks_admin import rackbeat_events

    answer = prober.get("webhooks", {"limit": 1000})
    rows = answer.rows("webhooks")
    jobs = (LISTEN,)
    if rows is None:
        report.add(answer.refusal("webhooks listed (GET /webhooks)", "HTTP 206", jobs))
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
