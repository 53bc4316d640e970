"""The command line: the only module that imports typer.

It parses options, loads the config, calls the core, renders the result through
:mod:`rackshop.console`, and maps every :class:`~rackshop.errors.RackshopError` to its exit code in
one place (:func:`_run`). Without ``--debug`` no traceback is ever printed.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from rackshop import __version__, console
from rackshop.errors import ExitCode, RackshopError, exit_code_for
from rackshop.log import install_handlers, setup_json_logging

app = typer.Typer(
    name="rackshop",
    help="Keep one Rackbeat inventory account and several Shopify shops in step: orders flow "
    "into Rackbeat, products sync in the direction each shop chooses, stock is pushed to "
    "every shop.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
sandbox_app = typer.Typer(help="Local Shopify and Rackbeat simulators for rehearsals and tests.",
                          no_args_is_help=True)
app.add_typer(sandbox_app, name="sandbox")


class LogFormat(StrEnum):
    text = "text"
    json = "json"


# -- shared options ------------------------------------------------------------------------------

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", metavar="PATH",
                 help="Config file. Default: $RACKSHOP_CONFIG, ./rackshop.toml, then the "
                 "platform config dir (e.g. ~/.config/rackshop/config.toml).",
                 show_default=False),
]
ShopOpt = Annotated[
    list[str] | None,
    typer.Option("--shop", "-s", metavar="NAME",
                 help="Only this shop (repeatable). Default: every enabled shop.",
                 show_default=False),
]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Read and plan only: print what would be done, write "
                       "nothing anywhere (not even the state store).")
]
LogFormatOpt = Annotated[
    LogFormat | None,
    typer.Option("--log-format", help="text (default, for people) or json (one object per line, "
                 "for log shippers). Overrides log.format in the config.", show_default=False),
]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Log every step (debug level).")]
DebugOpt = Annotated[
    bool, typer.Option("--debug", help="Show the full traceback on errors (for bug reports).")
]


@dataclass
class Common:
    """The options every command takes."""

    config: Path | None = None
    shops: tuple[str, ...] = ()
    dry_run: bool = False
    log_format: LogFormat | None = None
    verbose: bool = False
    debug: bool = False


def _version(value: bool) -> None:
    if value:
        typer.echo(f"rackshop {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True,
                           help="Print the version and exit.")
    ] = False,
) -> None:
    """rackshop: Rackbeat <-> Shopify sync."""


# -- the one error handler -----------------------------------------------------------------------


def _setup_logging(common: Common, level_name: str = "info", file: Path | None = None) -> None:
    """Route rackshop's logs: JSON lines or rich text on stderr, plus the log file if any."""
    _, err = console.make_consoles(no_color=bool(os.environ.get("NO_COLOR")))
    level = logging.DEBUG if common.verbose or common.debug else \
        getattr(logging, level_name.upper(), logging.INFO)
    if common.log_format == LogFormat.json:
        setup_json_logging(level, file=file)
    else:
        install_handlers(level, [console.log_handler(err)], file=file)


def _run(common: Common, body: Callable[[Common], ExitCode | int | None]) -> None:
    """Set up logging, run ``body``, and turn its outcome or error into the exit code."""
    _, err = console.make_consoles(no_color=bool(os.environ.get("NO_COLOR")))
    _setup_logging(common)
    try:
        code = body(common)
    except KeyboardInterrupt:
        console.print_line(err, "interrupted; everything finished so far is recorded", "yellow")
        raise typer.Exit(ExitCode.INTERRUPTED) from None
    except typer.Exit:
        raise
    except Exception as exc:
        if common.debug:
            err.print_exception(show_locals=False)
        if common.log_format == LogFormat.json:
            logging.getLogger("rackshop").error(
                str(exc), extra={"exit_code": int(exit_code_for(exc)),
                                 "error": type(exc).__name__})
        console.print_error(err, exc, debug_hint=not common.debug)
        raise typer.Exit(int(exit_code_for(exc))) from None
    raise typer.Exit(int(code or ExitCode.OK))


def _load(common: Common):  # type: ignore[no-untyped-def]
    """Find and load the config (raises ConfigError with every problem)."""
    from rackshop.config import find_config_path, load_config

    path = find_config_path(common.config, os.environ, Path.cwd())
    config = load_config(path)
    # [log] in the config applies unless the command line said otherwise.
    if common.log_format is None:
        common.log_format = LogFormat(config.log.format)
    _setup_logging(common, config.log.level, config.log.file)
    return config


# -- commands ------------------------------------------------------------------------------------


@app.command("check")
def check_cmd(
    config: ConfigOpt = None,
    shop: ShopOpt = None,
    offline: Annotated[bool, typer.Option("--offline", help="Only validate the config; call "
                                          "no API.")] = False,
    contract: Annotated[bool, typer.Option("--contract", help="Probe both accounts for every "
                                           "assumption the enabled jobs make about the live "
                                           "APIs (reads only), record what was seen for the "
                                           "jobs, and exit 12 when a job cannot run.")] = False,
    write_probes: Annotated[bool, typer.Option(
        "--write-probes", help="With --contract: also create and delete one scratch draft "
        "order (shown and confirmed first) to learn how line_price, discounts and rounding "
        "behave.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="With --write-probes: do not ask "
                                      "(required without a terminal).")] = False,
    output: FormatOpt = None,
    log_format: LogFormatOpt = None,
    verbose: VerboseOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Validate the config and prove the credentials and locations against both APIs.

    Makes a handful of read calls (never writes) and prints a table of what it found: the
    Rackbeat account and locations, each shop and its locations, and whether every location and
    item the config names exists. Exit code 0 when all is well.

    With --contract it proves instead every assumption about the live APIs (docs/contract.md).
    """
    common = Common(config, tuple(shop or ()), False, log_format, verbose, debug)

    def body(c: Common) -> ExitCode:
        from rackshop.check import run_check
        from rackshop.runtime import Runtime

        cfg = _load(c)
        runtime = Runtime(cfg)
        if contract or write_probes:
            return _check_contract(runtime, cfg.select(c.shops), write_probes=write_probes,
                                   yes=yes, as_json=output == OutputFormat.json)
        report = run_check(runtime, cfg.select(c.shops), offline=offline)
        out, _ = console.make_consoles()
        console.print_table(
            out, "rackshop check", ["target", "check", "status", "detail"],
            [(r.target, r.what, r.status, r.detail) for r in report.rows],
        )
        return report.exit_code

    _run(common, body)


def _check_contract(runtime: Any, shops: Sequence[Any], *, write_probes: bool, yes: bool,
                    as_json: bool) -> ExitCode:
    """``check --contract`` (issue 16): probe, optionally write-probe, record, print."""
    import json

    from rackshop import contract as ct
    from rackshop.errors import AbortedError

    out, err = console.make_consoles()
    try:
        report = ct.run_contract(runtime, shops)
        if write_probes:
            plan = ct.write_probe_plan(runtime)
            console.print_line(err, plan)
            if not yes:
                if not err.is_terminal or not sys.stdin.isatty():
                    raise AbortedError("--write-probes writes to Rackbeat: confirm with --yes",
                                       hint="read what it does above and run again with --yes")
                if not console.confirm(err, "Create and delete this scratch order?"):
                    raise AbortedError("declined; nothing was written")
            ct.run_write_probes(runtime, runtime.store(), report)
        ct.record(runtime.store(), report)
    finally:
        runtime.close()
    if as_json:
        out.file.write(json.dumps(report.as_json(), ensure_ascii=False) + "\n")
    else:
        console.print_table(out, "rackshop check --contract",
                            ["api", "assumption", "expected", "observed", "verdict"],
                            [(p.api, p.assumption, p.expected, p.observed, p.verdict)
                             for p in report.probes])
        blocked = report.blocked
        console.print_line(out, f"{report.calls} calls; " + (
            "every enabled job can run" if not blocked else
            f"cannot run: {', '.join(blocked)} (exit {int(ExitCode.CONTRACT)})"))
    return report.exit_code


@app.command("status")
def status_cmd(
    config: ConfigOpt = None,
    shop: ShopOpt = None,
    log_format: LogFormatOpt = None,
    verbose: VerboseOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Show the last runs, open failures, cursors and running jobs from the state store.

    Reads only the local state store; calls no API.
    """
    common = Common(config, tuple(shop or ()), False, log_format, verbose, debug)

    def body(c: Common) -> ExitCode:
        from rackshop.runtime import Runtime
        from rackshop.status import collect_status

        cfg = _load(c)
        runtime = Runtime(cfg)
        names = {s.name for s in cfg.select(c.shops)}
        status = collect_status(runtime, names)
        out, _ = console.make_consoles()
        if c.log_format == LogFormat.json:
            import json

            out.file.write(json.dumps(status, default=str) + "\n")
            return ExitCode.OK
        console.print_line(out, f"state store: {status['state_path']}")
        console.print_table(
            out, "last runs", ["job", "shop", "started", "finished", "outcome", "summary"],
            [(r["job"], r["shop"], r["started_at"], r["finished_at"], r["outcome"],
              r["summary_text"]) for r in status["runs"]] or [("-", "", "", "", "never run", "")],
        )
        if status["running"]:
            console.print_table(out, "running now", ["lock", "pid", "host", "since"],
                                [(h["lock"], h["pid"], h["host"], h["since"])
                                 for h in status["running"]])
        orders = status["orders"]
        console.print_line(out, f"orders needing attention: {orders['attention']}"
                           + (" (see `rackshop orders list`)" if orders["attention"] else ""))
        if orders["counts"]:
            console.print_table(out, "order journal", ["shop", "state", "orders"],
                                [(r["shop"], r["state"], r["orders"]) for r in orders["counts"]])
        if orders["held"]:
            console.print_table(
                out, "orders held back (failed, unfinished, waiting, skipped)",
                ["shop", "order", "state", "rackbeat", "reason", "since"],
                [(r["shop"], r["order_name"], r["state"], r["rackbeat_number"], r["reason"],
                  r["updated_at"]) for r in orders["held"]])
        if status["failures"]:
            console.print_table(
                out, "open failures", ["job", "shop", "record", "reason", "count", "last seen"],
                [(f["job"], f["shop"], f["key"], f["reason"], f["count"], f["last_seen"])
                 for f in status["failures"]],
            )
        if status["cursors"]:
            console.print_table(out, "cursors", ["shop", "job", "name", "value", "saved"],
                                [(k["shop"], k["job"], k["name"], k["value"], k["updated_at"])
                                 for k in status["cursors"]])
        return ExitCode.OK

    _run(common, body)


@app.command("sync-orders")
def sync_orders_cmd(
    config: ConfigOpt = None,
    shop: ShopOpt = None,
    order: Annotated[list[str] | None, typer.Option(
        "--order", metavar="ORDER", help="Transfer this Shopify order now (name like #1001 "
        "or id), whatever the cursor (repeatable).", show_default=False)] = None,
    dry_run: DryRunOpt = False,
    log_format: LogFormatOpt = None,
    verbose: VerboseOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Transfer each shop's Shopify orders into Rackbeat, exactly once, and process them.

    Orders updated since the last pass (minus an overlap) that meet the shop's trigger
    (orders.transfer_on) become Rackbeat sales orders, processed as far as orders.process_to
    says. A failing order is recorded and retried on the next pass; it never blocks the others.
    """
    common = Common(config, tuple(shop or ()), dry_run, log_format, verbose, debug)

    def job(runtime: Any, shops: Any, bars: Any, out: Any) -> Any:
        from rackshop.sync.orders import OrdersReport, sync_orders

        report = OrdersReport()
        result = sync_orders(runtime, shops, dry_run=dry_run, order_names=tuple(order or ()),
                             report=report, progress=bars)
        if dry_run:
            for shop_name, outcomes in report.outcomes.items():
                _print_order_plans(out, shop_name, outcomes)
        return result

    _run(common, _job_body(job))


def _job_body(job: Callable[[Any, Any, Any, Any], Any]) -> Callable[[Common], ExitCode]:
    """The frame every job command shares: config, runtime, progress bars, summary, exit code.

    ``job(runtime, shops, bars, out)`` runs the job and prints its own extras (dry-run
    listings); this prints the summary table and returns the job's exit code.
    """

    def body(c: Common) -> ExitCode:
        from rackshop.runtime import Runtime

        cfg = _load(c)
        shops = cfg.select(c.shops)
        runtime = Runtime(cfg)
        out, err = console.make_consoles()
        json_mode = c.log_format == LogFormat.json
        try:
            with console.progress_bars(err, enabled=_bars(c, err)) as bars:
                # JSON mode keeps stdout to one JSON document: no listings, no tables
                result = job(runtime, shops, bars, console.null_console() if json_mode else out)
        finally:
            runtime.close()
        if json_mode:
            import json

            out.file.write(json.dumps(_result_json(result), default=str) + "\n")
        else:
            _print_job_summary(out, result)
        return ExitCode(result.exit_code)

    return body


def _result_json(result: Any) -> dict[str, Any]:
    """A job's result as one JSON object (stdout with ``--log-format json``)."""
    return {
        "job": result.job,
        "dry_run": result.dry_run,
        "exit_code": int(result.exit_code),
        "shops": [{"shop": s.shop, "outcome": s.outcome, "counts": s.counts, "error": s.error,
                   "failures": [{"record": r, "reason": why} for r, why in s.failures],
                   "details": s.details} for s in result.shops],
    }


def _bars(c: Common, err: Any) -> bool:
    """Progress bars only for a person watching: a terminal, and not JSON logs."""
    return bool(err.is_terminal) and c.log_format != LogFormat.json


def _print_job_summary(out: Any, result: Any) -> None:
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


@app.command("sync-products")
def sync_products_cmd(
    config: ConfigOpt = None,
    shop: ShopOpt = None,
    dry_run: DryRunOpt = False,
    log_format: LogFormatOpt = None,
    verbose: VerboseOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Sync products in the direction each shop chooses (products.master).

    rackbeat: Rackbeat items are pushed to the shop (only changed fields, narrow mutations).
    shopify: the shop's variants become Rackbeat products. off: nothing. Never deletes anything.
    """
    common = Common(config, tuple(shop or ()), dry_run, log_format, verbose, debug)

    def job(runtime: Any, shops: Any, bars: Any, out: Any) -> Any:
        from rackshop.sync.products import ProductsReport, report_rows, sync_products

        report = ProductsReport()
        result = sync_products(runtime, shops, dry_run=dry_run, report=report, progress=bars)
        rows = report_rows(report)
        if dry_run and rows:
            console.print_table(out, "product changes (dry run)",
                                ["shop", "sku", "field", "old", "new", "action"], rows)
        return result

    _run(common, _job_body(job))


@app.command("sync-stock")
def sync_stock_cmd(
    config: ConfigOpt = None,
    shop: ShopOpt = None,
    full: Annotated[bool, typer.Option("--full", help="Kept for old scripts: every pass now "
                                       "compares with Shopify's current levels and repairs "
                                       "hand edits.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Push even if the circuit breaker "
                                        "(stock.zero_guard) trips.")] = False,
    dry_run: DryRunOpt = False,
    log_format: LogFormatOpt = None,
    verbose: VerboseOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Push Rackbeat's available stock to every shop, without overselling.

    Target per item = available in the configured Rackbeat locations, minus orders Shopify has
    taken that Rackbeat does not know yet (from any shop), minus the shop's buffer, never below
    zero. Only changes are written.
    """
    common = Common(config, tuple(shop or ()), dry_run, log_format, verbose, debug)

    def job(runtime: Any, shops: Any, bars: Any, out: Any) -> Any:
        from rackshop.sync.stock import StockReport, sync_stock

        report = StockReport()
        result = sync_stock(runtime, shops, dry_run=dry_run, full=full, force=force,
                            report=report, progress=bars)
        if dry_run and report.rows():
            console.print_table(out, "stock changes (dry run)",
                                ["shop", "sku", "location", "from", "to", "note"], report.rows())
        for shop_result in result.shops:
            for reason, skus in (shop_result.details.get("skipped") or {}).items():
                console.print_line(out, f"{shop_result.shop}: {len(skus)} skipped - {reason}: "
                                   + ", ".join(skus[:10]) + (" ..." if len(skus) > 10 else ""))
        return result

    _run(common, _job_body(job))


@app.command("sync-fulfillments")
def sync_fulfillments_cmd(
    config: ConfigOpt = None,
    shop: ShopOpt = None,
    dry_run: DryRunOpt = False,
    log_format: LogFormatOpt = None,
    verbose: VerboseOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Make each shipment marked shipped in Rackbeat a fulfilment in Shopify, with tracking.

    Only orders rackshop transferred; exactly once per shipment, however often it runs; partial
    shipments fulfil exactly their lines; an order fulfilled by hand in Shopify is recognised.
    """
    common = Common(config, tuple(shop or ()), dry_run, log_format, verbose, debug)

    def job(runtime: Any, shops: Any, bars: Any, out: Any) -> Any:
        from rackshop.sync.fulfillments import FulfillmentsReport, sync_fulfillments

        report = FulfillmentsReport()
        result = sync_fulfillments(runtime, shops, dry_run=dry_run, report=report,
                                   progress=bars)
        if dry_run and report.rows():
            console.print_table(out, "fulfilments (dry run)",
                                ["shop", "shipment", "order", "what", "units"], report.rows())
        return result

    _run(common, _job_body(job))


InitShopOpt = Annotated[
    list[str] | None,
    typer.Option("--shop", "-s", metavar="NAME",
                 help="The shop to import (required: init-sync imports one shop at a time).",
                 show_default=False),
]


@app.command("init-sync")
def init_sync_cmd(
    config: ConfigOpt = None,
    shop: InitShopOpt = None,
    skip_inventory: Annotated[bool, typer.Option("--skip-inventory", help="Create products "
                                                 "only; register no stock.")] = False,
    overwrite_stock: Annotated[bool, typer.Option("--overwrite-stock", help="Register stock "
                                                  "even where Rackbeat already has some.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do it without asking (required "
                                      "without a terminal).")] = False,
    again: Annotated[bool, typer.Option("--again", help="Allow a second init-sync of a shop "
                                        "that completed one.")] = False,
    stock_for: Annotated[list[str] | None, typer.Option(
        "--stock-for", metavar="SKU", help="When another shop is live already, import this "
        "SKU's stock too (repeatable); otherwise such a go-live imports products and links, "
        "not stock.", show_default=False)] = None,
    report: Annotated[Path | None, typer.Option(
        "--report", metavar="PATH", help="Where to write the CSV report of what was created, "
        "linked and skipped (default: init-sync-<shop>-<time>.csv in the state store's "
        "folder).", show_default=False)] = None,
    dry_run: DryRunOpt = False,
    log_format: LogFormatOpt = None,
    verbose: VerboseOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Go-live import: bring a shop's products and stock into Rackbeat, once.

    Previews everything first (products to create, SKUs already in Rackbeat, variants without
    SKU, duplicate SKUs, stock per location) and warns that Rackbeat cannot delete a product
    once stock is registered for it. Asks before writing on a terminal; needs --yes without one.
    Resumable: a rerun after a crash finishes the job without counting anything twice.
    """
    common = Common(config, tuple(shop or ()), dry_run, log_format, verbose, debug)

    def body(c: Common) -> ExitCode:
        from rackshop.errors import AbortedError, UsageError
        from rackshop.runtime import Runtime
        from rackshop.sync.initial import (
            PREVIEW_COLUMNS,
            apply_init_sync,
            default_report_path,
            preflight,
            preview_init_sync,
            preview_job_result,
        )

        cfg = _load(c)
        shops = cfg.select(c.shops)
        if len(c.shops) != 1:
            raise UsageError("init-sync imports one shop at a time: name it with --shop",
                             hint="known shops: " + ", ".join(s.name for s in cfg.shops))
        target = shops[0]
        runtime = Runtime(cfg)
        out, err = console.make_consoles()
        json_mode = c.log_format == LogFormat.json
        path = report or default_report_path(target.name, folder=runtime.state_path.parent)
        try:
            if not c.dry_run:
                preflight(runtime, path)  # refuse before the long read, not after the import
            with console.progress_bars(err, enabled=_bars(c, err)) as bars:
                preview = preview_init_sync(runtime, target, skip_inventory=skip_inventory,
                                            overwrite_stock=overwrite_stock, again=again,
                                            stock_for=tuple(stock_for or ()), progress=bars)
            with preview:
                if not json_mode:
                    console.print_table(out, f"init-sync preview: shop {target.name}",
                                        ["", ""], preview.summary())
                    console.print_table(out, "first rows (all of them go to the report file)",
                                        list(PREVIEW_COLUMNS), preview.rows(limit=20))
                    for warning in preview.warnings:
                        console.print_line(out, "warning: " + warning, "yellow")
                if c.dry_run:
                    result = preview_job_result(preview)
                else:
                    if not yes:
                        if not err.is_terminal or not sys.stdin.isatty():
                            raise AbortedError(
                                "init-sync writes to Rackbeat for good; nothing was done",
                                hint="read the preview (--dry-run) and run again with --yes")
                        if not console.confirm(err, "Import this into Rackbeat? It cannot be "
                                               "undone."):
                            raise AbortedError("declined; nothing was done")
                    with console.progress_bars(err, enabled=_bars(c, err)) as bars:
                        result = apply_init_sync(runtime, target, preview, progress=bars,
                                                 report_path=path)
                    if not json_mode:
                        console.print_line(out, f"report written to {path}")
        finally:
            runtime.close()
        if json_mode:
            import json

            out.file.write(json.dumps(_result_json(result), default=str) + "\n")
        else:
            _print_job_summary(out, result)
        return ExitCode(result.exit_code)

    _run(common, body)


webhooks_app = typer.Typer(help="Create, list and remove the webhook subscriptions that "
                           "`rackshop listen` receives.", no_args_is_help=True)
app.add_typer(webhooks_app, name="webhooks")


@app.command("listen")
def listen_cmd(
    config: ConfigOpt = None,
    host: Annotated[str | None, typer.Option("--host", metavar="ADDRESS", help="Address to "
                                             "listen on (default listen.host, 127.0.0.1).",
                                             show_default=False)] = None,
    port: Annotated[int | None, typer.Option("--port", metavar="PORT", help="Port (default "
                                             "listen.port, 8787).", show_default=False)] = None,
    log_format: LogFormatOpt = None,
    verbose: VerboseOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Receive Shopify and Rackbeat webhooks: orders into Rackbeat and stock to every shop in
    seconds, with sync-orders and sync-stock running on a timetable as the safety net.

    Every delivery is verified (Shopify HMAC, Rackbeat token) and written to a durable queue in
    the state store before it is acknowledged. Runs until SIGTERM or Ctrl-C. Put a TLS proxy in
    front of it (see the README); GET /healthz is for monitoring.
    """
    common = Common(config, (), False, log_format, verbose, debug)

    def body(c: Common) -> ExitCode:
        from rackshop.listen.server import serve
        from rackshop.runtime import Runtime

        cfg = _load(c)
        runtime = Runtime(cfg)
        out, err = console.make_consoles()

        def ready(bound_host: str, bound_port: int) -> None:
            console.print_line(err, f"listening on http://{bound_host}:{bound_port} "
                               "(Ctrl-C or SIGTERM to stop)")

        try:
            summary = serve(runtime, host, port, ready=ready)
        finally:
            runtime.close()
        console.print_table(out, "rackshop listen stopped", ["", "count"],
                            [[k, v] for k, v in sorted(summary.deliveries.items())]
                            + [[f"queue {k}", v] for k, v in sorted(summary.queue.items())])
        if summary.error:
            console.print_line(err, f"the listener stopped: {summary.error}", "red")
            return ExitCode.INTERNAL
        return ExitCode.OK

    _run(common, body)


def _webhooks(action: str) -> Callable[[Common], ExitCode]:
    def body(c: Common) -> ExitCode:
        from rackshop.listen import webhooks_admin
        from rackshop.runtime import Runtime

        cfg = _load(c)
        runtime = Runtime(cfg)
        fn = {"register": webhooks_admin.register, "list": webhooks_admin.list_webhooks,
              "remove": webhooks_admin.remove}[action]
        try:
            # Rackbeat's webhooks belong to the account, not a shop: --shop leaves them alone.
            rows = fn(runtime, cfg.select(c.shops), rackbeat=not c.shops)
        finally:
            runtime.close()
        out, _ = console.make_consoles()
        console.print_table(out, f"webhooks {action}", list(webhooks_admin.COLUMNS),
                            [r.as_list() for r in rows])
        failed = any(r.status.startswith("failed") for r in rows)
        return ExitCode.PARTIAL if failed else ExitCode.OK

    return body


@webhooks_app.command("register")
def webhooks_register_cmd(config: ConfigOpt = None, shop: ShopOpt = None,
                          log_format: LogFormatOpt = None, verbose: VerboseOpt = False,
                          debug: DebugOpt = False) -> None:
    """Create the subscriptions listen.public_url needs (Shopify per shop trigger, Rackbeat
    stock/product events); keeps what already exists."""
    _run(Common(config, tuple(shop or ()), False, log_format, verbose, debug),
         _webhooks("register"))


@webhooks_app.command("list")
def webhooks_list_cmd(config: ConfigOpt = None, shop: ShopOpt = None,
                      log_format: LogFormatOpt = None, verbose: VerboseOpt = False,
                      debug: DebugOpt = False) -> None:
    """List every subscription of the shops and the Rackbeat account, rackshop's marked."""
    _run(Common(config, tuple(shop or ()), False, log_format, verbose, debug), _webhooks("list"))


@webhooks_app.command("remove")
def webhooks_remove_cmd(config: ConfigOpt = None, shop: ShopOpt = None,
                        log_format: LogFormatOpt = None, verbose: VerboseOpt = False,
                        debug: DebugOpt = False) -> None:
    """Delete rackshop's subscriptions (those pointing at listen.public_url), nothing else."""
    _run(Common(config, tuple(shop or ()), False, log_format, verbose, debug),
         _webhooks("remove"))


# -- rackshop orders list | resolve | retry -------------------------------------------------------

orders_app = typer.Typer(help="Orders that need a person: list them, mark one handled by hand, "
                         "or send a refused one again.", no_args_is_help=True)
app.add_typer(orders_app, name="orders")


class OutputFormat(StrEnum):
    table = "table"
    json = "json"


FormatOpt = Annotated[
    OutputFormat | None,
    typer.Option("--format", help="table (default) or json (one JSON document on stdout). "
                 "--log-format json also gives JSON.", show_default=False),
]
ShopArg = Annotated[str, typer.Argument(metavar="SHOP", help="The shop's name in the config.")]
OrderArg = Annotated[str, typer.Argument(
    metavar="ORDER_NAME", help="The order as Shopify names it, e.g. '#1001' (quote it for the "
    "shell), or its numeric id.")]


@orders_app.command("list")
def orders_list_cmd(
    config: ConfigOpt = None,
    shop: ShopOpt = None,
    output: FormatOpt = None,
    log_format: LogFormatOpt = None,
    verbose: VerboseOpt = False,
    debug: DebugOpt = False,
) -> None:
    """List the orders that failed, were refused, are held, stopped, half-done or waiting.

    Reads only the state store; calls no API. Kinds: refused (waits for a change, see
    `rackshop orders retry`), failed (tried again each pass), held (Rackbeat's total disagreed),
    stopped (cancelled or refunded in Shopify while half-done), half-done (resumed by the next
    pass), waiting (trigger not met). Exit code 0.
    """
    common = Common(config, tuple(shop or ()), False, log_format, verbose, debug)

    def body(c: Common) -> ExitCode:
        from rackshop.runtime import Runtime
        from rackshop.sync.orders import list_orders

        cfg = _load(c)
        runtime = Runtime(cfg)
        names = {s.name for s in cfg.select(c.shops)}
        try:
            store = runtime.store() if runtime.state_path.exists() else None
            rows = list_orders(store, names)
        finally:
            runtime.close()
        out, _ = console.make_consoles()
        attention = sum(1 for r in rows if r["attention"])
        if output == OutputFormat.json or (output is None and c.log_format == LogFormat.json):
            import json

            out.file.write(json.dumps({"attention": attention, "orders": rows}, default=str)
                           + "\n")
            return ExitCode.OK
        console.print_table(
            out, "orders", ["shop", "order", "kind", "rackbeat", "attempts", "reason", "since"],
            [(r["shop"], r["order"], r["kind"] + ("" if r["attention"] else " (no action)"),
              r["rackbeat_order"] or "", r["attempts"], r["reason"], r["since"]) for r in rows]
            or [("-", "", "nothing to list", "", "", "", "")])
        console.print_line(out, f"{attention} order(s) need attention")
        return ExitCode.OK

    _run(common, body)


@orders_app.command("resolve")
def orders_resolve_cmd(
    shop_name: ShopArg,
    order_name: OrderArg,
    config: ConfigOpt = None,
    log_format: LogFormatOpt = None,
    verbose: VerboseOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Mark an order as handled by hand (e.g. entered in Rackbeat yourself).

    Its journal state becomes 'resolved': sync-orders no longer fails on it and sync-stock no
    longer holds its units back. Example: rackshop orders resolve dk '#1001'. Exit code 0, or
    2 when the shop or order is unknown (or the order was transferred normally).
    """
    common = Common(config, (shop_name,), False, log_format, verbose, debug)

    def body(c: Common) -> ExitCode:
        from rackshop.runtime import Runtime
        from rackshop.sync.orders import resolve_order

        cfg = _load(c)
        [shop_cfg] = cfg.select(c.shops)
        runtime = Runtime(cfg)
        try:
            before = resolve_order(runtime.store(), shop_cfg.name, order_name)
        finally:
            runtime.close()
        out, _ = console.make_consoles()
        was = f"was {before['state']}" + (f": {before['reason']}" if before["reason"] else "")
        console.print_line(out, f"{shop_cfg.name} {before['order_name']}: resolved ({was})")
        return ExitCode.OK

    _run(common, body)


@orders_app.command("retry")
def orders_retry_cmd(
    shop_name: ShopArg,
    order_name: OrderArg,
    config: ConfigOpt = None,
    log_format: LogFormatOpt = None,
    verbose: VerboseOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Send a refused order to Rackbeat again now, though nothing changed.

    Runs sync-orders for that one order and prints its summary; the exit code is sync-orders'
    (0 transferred, 1 refused again). 2 when the shop or order is unknown or not failed.
    """
    common = Common(config, (shop_name,), False, log_format, verbose, debug)

    def job(runtime: Any, shops: Any, bars: Any, out: Any) -> Any:
        from rackshop.sync.orders import request_retry, sync_orders

        row = request_retry(runtime.store(), shops[0].name, order_name)
        return sync_orders(runtime, shops, order_names=(str(row["order_name"]),), progress=bars)

    _run(common, _job_body(job))


@app.command("demo")
def demo_cmd(
    seed: Annotated[int, typer.Option("--seed", help="Seed of the sandbox data.")] = 1,
    shops: Annotated[int, typer.Option("--shops", min=1, max=8, help="Number of shops.")] = 2,
    products: Annotated[int, typer.Option("--products", min=8, help="Catalogue size.")] = 40,
    orders: Annotated[int, typer.Option("--orders", min=0, help="Orders per shop.")] = 12,
    keep: Annotated[Path | None, typer.Option(
        "--keep", metavar="DIR", help="Write the config, secrets and state here and keep them "
        "(default: a temporary folder, removed afterwards).", show_default=False)] = None,
    log_format: LogFormatOpt = None,
    verbose: VerboseOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Run every job against local, seeded Shopify and Rackbeat simulators.

    Starts both twins on 127.0.0.1, seeds shops, products, stock, customers and orders, writes a
    config pointing at them, and runs check and every job, printing what each did. Touches
    nothing outside this machine.
    """
    common = Common(None, (), False, log_format, verbose, debug)

    def body(c: Common) -> ExitCode:
        import tempfile

        from rackshop.sandbox.demo import DemoStep, run_demo

        out, err = console.make_consoles()

        def show(step: DemoStep) -> None:
            title = f"{step.name}  (exit {int(step.exit_code)} {step.exit_code.name})"
            console.print_table(out, title, step.columns, step.rows, caption=step.note or None)

        with tempfile.TemporaryDirectory(prefix="rackshop-demo-") as tmp:
            workdir = keep or Path(tmp)
            console.print_line(err, f"starting the sandbox (seed {seed}, {shops} shops, "
                               f"{products} products, {orders} orders per shop) in {workdir}")
            report = run_demo(workdir, seed=seed, shops=shops, products=products, orders=orders,
                              on_step=show)
            rows = [[api, calls["requests"], calls["reads"], calls["writes"],
                     calls["throttled"]] for api, calls in report.calls.items()]
            console.print_table(out, "API calls served by the sandbox",
                                ["api", "calls", "reads", "writes", "throttled"], rows)
            verdict = "demo finished" if report.exit_code == ExitCode.OK else \
                f"demo finished with exit code {int(report.exit_code)}"
            console.print_line(out, verdict + (f"; config kept in {report.config_path}"
                                               if keep else ""))
            return report.exit_code

    _run(common, body)


@sandbox_app.command("serve")
def sandbox_serve_cmd(
    seed: Annotated[int, typer.Option("--seed", help="Seed of the sandbox data.")] = 1,
    shops: Annotated[int, typer.Option("--shops", min=1, max=8, help="Number of shops.")] = 2,
    products: Annotated[int, typer.Option("--products", min=8, help="Catalogue size.")] = 40,
    orders: Annotated[int, typer.Option("--orders", min=0, help="Orders per shop.")] = 12,
    faults: Annotated[float, typer.Option("--faults", min=0.0, max=1.0, metavar="RATE",
                                          help="Share of requests that fail (5xx, 429, slow, "
                                          "dropped, applied-but-lost).")] = 0.0,
    shopify_port: Annotated[int, typer.Option("--shopify-port", metavar="PORT",
                                              help="Port of the Shopify twin (0: any).")] = 0,
    rackbeat_port: Annotated[int, typer.Option("--rackbeat-port", metavar="PORT",
                                               help="Port of the Rackbeat twin (0: any).")] = 0,
    time_scale: Annotated[float, typer.Option("--time-scale", min=0.01, help="Rate limits "
                                              "refill this many times faster.")] = 1.0,
    write_config: Annotated[Path | None, typer.Option(
        "--write-config", metavar="PATH", help="Write a ready config pointing at the twins "
        "(secrets in files next to it).", show_default=False)] = None,
    rackbeat_variant: Annotated[list[str] | None, typer.Option(
        "--rackbeat-variant", metavar="NAME", help="Switch the Rackbeat twin to a documented "
        "alternative (repeatable; docs/contract.md lists them), to rehearse check --contract.",
        show_default=False)] = None,
    log_format: LogFormatOpt = None,
    verbose: VerboseOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Run the Shopify and Rackbeat simulators on 127.0.0.1 until Ctrl-C.

    Use it to rehearse a config before go-live: point rackshop at the twins with the config
    --write-config produces, run any job, and inspect the twins at /__sandbox/state.
    """
    common = Common(None, (), False, log_format, verbose, debug)

    def body(c: Common) -> ExitCode:
        import signal
        import threading

        from rackshop.errors import UsageError
        from rackshop.sandbox.rackbeat.variants import check_names
        from rackshop.sandbox.world import Sandbox

        try:
            check_names(rackbeat_variant or ())
        except ValueError as exc:
            raise UsageError(f"--rackbeat-variant: {exc}") from None
        out, err = console.make_consoles()
        sandbox = Sandbox(seed=seed, shops=shops, products=products, orders=orders,
                          faults=faults, shopify_port=shopify_port, rackbeat_port=rackbeat_port,
                          time_scale=time_scale,
                          rackbeat_variants=tuple(rackbeat_variant or ())).start()
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            rows = [["shopify", f"{sandbox.shopify.url}/shops/<shop>/admin/api/2026-07/"
                     "graphql.json", ", ".join(sandbox.shop_names)],
                    ["rackbeat", f"{sandbox.rackbeat.url}/api/", ""],
                    ["admin", f"{sandbox.shopify.url}/__sandbox/state", "and "
                     f"{sandbox.rackbeat.url}/__sandbox/state"]]
            console.print_table(out, "sandbox running", ["twin", "url", "shops"], rows)
            if write_config:
                path = sandbox.write_config(write_config)
                console.print_line(out, f"config written to {path}; try: rackshop check "
                                   f"--config {path}")
            console.print_line(err, "press Ctrl-C to stop")
            out.file.flush()
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            sandbox.stop()
        return ExitCode.OK

    _run(common, body)


class SimulateFormat(StrEnum):
    table = "table"
    json = "json"


@sandbox_app.command("simulate")
def sandbox_simulate_cmd(
    config: Annotated[Path | None, typer.Option(
        "--config", "-c", metavar="PATH", help="Rehearse this config: its shops, locations and "
        "settings, served by the twins (secrets and URLs are replaced; nothing leaves this "
        "machine). Default: the demo world.", show_default=False)] = None,
    days: Annotated[int, typer.Option("--days", min=1, max=60,
                                      help="Simulated days (invariants checked after each).")] = 3,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the events: the same seed and "
                                      "days give the same events, byte for byte.")] = 1,
    shops: Annotated[int, typer.Option("--shops", min=1, max=8,
                                       help="Shops of the demo world.")] = 3,
    faults: Annotated[float, typer.Option(
        "--faults", min=0.0, max=1.0, metavar="RATE", help="Background fault rate on both twins; "
        "above 0 also fault windows, a revoked token, overlapping and killed passes.")] = 0.0,
    fmt: Annotated[SimulateFormat, typer.Option(
        "--format", help="table (for people) or json (one document on stdout).")] =
        SimulateFormat.table,
    keep: Annotated[Path | None, typer.Option(
        "--keep", metavar="DIR", help="Keep the config, state store and event log here.",
        show_default=False)] = None,
    log_format: LogFormatOpt = None,
    verbose: VerboseOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Rehearse days of orders, stock and product changes against local twins, checking
    every invariant after each simulated day.

    Runs the jobs on the README's cron timetable in simulated time, with seeded events between
    the passes (orders, refunds, stock moves, hand edits, outages), and prints invariants x days
    with violation counts. Exit 0 only when every invariant held on every day, else 1.
    """
    common = Common(None, (), False, log_format, verbose, debug)

    def body(c: Common) -> ExitCode:
        import json
        import tempfile

        from rackshop.sandbox.simulate import SimOptions, run_simulation

        out, err = console.make_consoles()
        opts = SimOptions(seed=seed, days=days, shops=shops, faults=faults, config=config)
        with tempfile.TemporaryDirectory(prefix="rackshop-simulate-") as tmp:
            workdir = keep or Path(tmp)
            with console.progress_bars(err, enabled=_bars(c, err)) as bars:
                report = run_simulation(opts, workdir, bars)
        if fmt == SimulateFormat.json or c.log_format == LogFormat.json:
            out.file.write(json.dumps(report.as_json(), default=str, ensure_ascii=False) + "\n")
        else:
            console.print_table(out, "simulation", ["", "value"], report.summary_rows())
            columns, rows = report.table()
            console.print_table(out, "violations per invariant and day", columns, rows)
            for first in report.first:
                console.print_table(
                    out, f"first violation of '{first.invariant}': seed {first.seed}, "
                    f"day {first.day}, {first.record}", ["what"],
                    [[first.detail], *([f"event {e}"] for e in first.events)])
            verdict = "every invariant held" if report.ok else \
                f"{report.total_violations} violation(s); rerun with --seed {seed} --days {days}"
            console.print_line(out, verdict + (f"; files kept in {workdir}" if keep else ""))
        return ExitCode.OK if report.ok else ExitCode.PARTIAL

    _run(common, body)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except RackshopError as exc:  # pragma: no cover - _run handles these; belt and braces
        _, err = console.make_consoles()
        console.print_error(err, exc)
        sys.exit(int(exc.exit_code))
