"""The job commands (sync-orders, sync-products, sync-stock, sync-fulfillments) and the frame they
share: config, runtime, progress bars, summary table or JSON, exit code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any

import typer

from rackshop import console
from rackshop.cli.common import Common, LogFormat, bars_enabled, common_options, load, run
from rackshop.errors import ExitCode


@common_options(dry_run=True)
def sync_orders_cmd(
    common: Common,
    order: Annotated[list[str] | None, typer.Option(
        "--order", metavar="ORDER", help="Transfer this Shopify order now (name like #1001 "
        "or id), whatever the cursor (repeatable).", show_default=False)] = None,
) -> None:
    """Transfer each shop's Shopify orders into Rackbeat, exactly once, and process them.

    Orders updated since the last pass (minus an overlap) that meet the shop's trigger
    (orders.transfer_on) become Rackbeat sales orders, processed as far as orders.process_to
    says. A failing order is recorded and retried on the next pass; it never blocks the others.
    """

    def job(runtime: Any, shops: Any, bars: Any, out: Any) -> Any:
        from rackshop.sync.orders import OrdersReport, sync_orders

        report = OrdersReport()
        result = sync_orders(runtime, shops, dry_run=common.dry_run,
                             order_names=tuple(order or ()), report=report, progress=bars)
        if common.dry_run:
            for shop_name, outcomes in report.outcomes.items():
                _print_order_plans(out, shop_name, outcomes)
        return result

    run(common, job_body(job))


def job_body(job: Callable[[Any, Any, Any, Any], Any]) -> Callable[[Common], ExitCode]:
    """The frame every job command shares: config, runtime, progress bars, summary, exit code.

    ``job(runtime, shops, bars, out)`` runs the job and prints its own extras (dry-run
    listings); this prints the summary table and returns the job's exit code.
    """

    def body(c: Common) -> ExitCode:
        from rackshop.runtime import Runtime

        cfg = load(c)
        shops = cfg.select(c.shops)
        runtime = Runtime(cfg)
        out, err = console.make_consoles()
        json_mode = c.log_format == LogFormat.json
        try:
            with console.progress_bars(err, enabled=bars_enabled(c, err)) as bars:
                # JSON mode keeps stdout to one JSON document: no listings, no tables
                result = job(runtime, shops, bars, console.null_console() if json_mode else out)
        finally:
            runtime.close()
        print_result(out, result, json_mode=json_mode)
        return ExitCode(result.exit_code)

    return body


def print_result(out: Any, result: Any, *, json_mode: bool) -> None:
    """A job's result on stdout: one JSON document, or the summary table for people."""
    if json_mode:
        import json

        out.file.write(json.dumps(result_json(result), default=str) + "\n")
    else:
        print_job_summary(out, result)


def result_json(result: Any) -> dict[str, Any]:
    """A job's result as one JSON object (stdout with ``--log-format json``)."""
    return {
        "job": result.job,
        "dry_run": result.dry_run,
        "exit_code": int(result.exit_code),
        "shops": [{"shop": s.shop, "outcome": s.outcome, "counts": s.counts, "error": s.error,
                   "failures": [{"record": r, "reason": why} for r, why in s.failures],
                   "details": s.details} for s in result.shops],
    }


def print_job_summary(out: Any, result: Any) -> None:
    """The summary table of a job (a column per shop), and its failures."""
    from rackshop.sync.runner import summary_table

    columns, rows = summary_table(result)
    title = f"{result.job}{' (dry run: nothing written)' if result.dry_run else ''}"
    console.print_table(out, title, columns, rows)
    failures = [(s.shop, rec, why) for s in result.shops for rec, why in s.failures]
    if failures:
        title = ("failed (refused orders wait for a change; see `rackshop orders list`)"
                 if result.job == "sync-orders" else
                 "failed (retried on the next pass; see `rackshop status`)")
        console.print_table(out, title, ["shop", "record", "reason"], failures)


def _print_order_plans(out: Any, shop: str, outcomes: Sequence[Any]) -> None:
    for o in outcomes:
        head = f"{shop} {o.name}: {o.status}" + (f" - {o.reason}" if o.reason else "")
        console.print_line(out, head, "bold" if o.status == "planned" else None)
        if o.plan is not None:
            console.print_line(out, f"  customer: {o.customer}; steps: "
                               f"{', '.join(('create draft', *o.steps))}; total "
                               f"{o.plan.total:.2f} {o.plan.currency}")
            console.print_table(out, None, ["item", "qty", "unit ex VAT", "discount", "VAT",
                                            "line incl VAT"], o.plan.describe())
            for note in o.plan.notes:  # rounding lines and VAT cents moved, said once
                console.print_line(out, f"  note: {note}")


@common_options(dry_run=True)
def sync_products_cmd(common: Common) -> None:
    """Sync products in the direction each shop chooses (products.master).

    rackbeat: Rackbeat items are pushed to the shop (only changed fields, narrow mutations).
    shopify: the shop's variants become Rackbeat products. off: nothing. Never deletes anything.
    """

    def job(runtime: Any, shops: Any, bars: Any, out: Any) -> Any:
        from rackshop.sync.products import sync_products
        from rackshop.sync.products_pass import ProductsReport, report_rows

        report = ProductsReport()
        result = sync_products(runtime, shops, dry_run=common.dry_run, report=report,
                               progress=bars)
        rows = report_rows(report)
        if common.dry_run and rows:
            console.print_table(out, "product changes (dry run)",
                                ["shop", "sku", "field", "old", "new", "action"], rows)
        return result

    run(common, job_body(job))


@common_options(dry_run=True)
def sync_stock_cmd(
    common: Common,
    full: Annotated[bool, typer.Option("--full", help="Kept for old scripts: every pass now "
                                       "compares with Shopify's current levels and repairs "
                                       "hand edits.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Push even if the circuit breaker "
                                        "(stock.zero_guard) trips.")] = False,
) -> None:
    """Push Rackbeat's available stock to every shop, without overselling.

    Target per item = available in the configured Rackbeat locations, minus orders Shopify has
    taken that Rackbeat does not know yet (from any shop), minus the shop's buffer, never below
    zero. Only changes are written.
    """

    def job(runtime: Any, shops: Any, bars: Any, out: Any) -> Any:
        from rackshop.sync.stock import StockReport, sync_stock

        report = StockReport()
        result = sync_stock(runtime, shops, dry_run=common.dry_run, full=full, force=force,
                            report=report, progress=bars)
        if common.dry_run and report.rows():
            console.print_table(out, "stock changes (dry run)",
                                ["shop", "sku", "location", "from", "to", "note"], report.rows())
        for shop_result in result.shops:
            for reason, skus in (shop_result.details.get("skipped") or {}).items():
                console.print_line(out, f"{shop_result.shop}: {len(skus)} skipped - {reason}: "
                                   + ", ".join(skus[:10]) + (" ..." if len(skus) > 10 else ""))
        return result

    run(common, job_body(job))


@common_options(dry_run=True)
def sync_fulfillments_cmd(common: Common) -> None:
    """Make each shipment marked shipped in Rackbeat a fulfilment in Shopify, with tracking.

    Only orders rackshop transferred; exactly once per shipment, however often it runs; partial
    shipments fulfil exactly their lines; an order fulfilled by hand in Shopify is recognised.
    """

    def job(runtime: Any, shops: Any, bars: Any, out: Any) -> Any:
        from rackshop.sync.fulfillments import FulfillmentsReport, sync_fulfillments

        report = FulfillmentsReport()
        result = sync_fulfillments(runtime, shops, dry_run=common.dry_run, report=report,
                                   progress=bars)
        if common.dry_run and report.rows():
            console.print_table(out, "fulfilments (dry run)",
                                ["shop", "shipment", "order", "what", "units"], report.rows())
        return result

    run(common, job_body(job))
