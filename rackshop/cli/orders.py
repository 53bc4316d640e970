"""`rackshop orders list | resolve | retry`: the orders that need a person.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from rackshop import console
from rackshop.cli.common import (
    Common,
    FormatOpt,
    LogFormat,
    OutputFormat,
    common_options,
    load,
    run,
)
from rackshop.cli.jobs import job_body
from rackshop.errors import ExitCode

orders_app = typer.Typer(help="Orders that need a person: list them, mark one handled by hand, "
                         "or send a refused one again.", no_args_is_help=True)

ShopArg = Annotated[str, typer.Argument(metavar="SHOP", help="The shop's name in the config.")]

OrderArg = Annotated[str, typer.Argument(
    metavar="ORDER_NAME", help="The order as Shopify names it, e.g. '#1001' (quote it for the "
    "shell), or its numeric id.")]


@orders_app.command("list")
@common_options()
def orders_list_cmd(common: Common, output: FormatOpt = None) -> None:
    """List the orders that failed, were refused, are held, stopped, half-done or waiting.

    Reads only the state store; calls no API. Kinds: refused (waits for a change, see
    `rackshop orders retry`), failed (tried again each pass), held (Rackbeat's total disagreed),
    stopped (cancelled or refunded in Shopify while half-done), half-done (resumed by the next
    pass), waiting (trigger not met). Exit code 0.
    """
    def body(c: Common) -> ExitCode:
        from rackshop.runtime import Runtime
        from rackshop.sync.orders_commands import list_orders

        cfg = load(c)
        runtime = Runtime(cfg)
        names = {s.name for s in cfg.select(c.shops)}
        try:
            rows = list_orders(runtime.open_store(create=False), names)
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

    run(common, body)


@orders_app.command("resolve")
@common_options(shop=None)
def orders_resolve_cmd(common: Common, shop_name: ShopArg, order_name: OrderArg) -> None:
    """Mark an order as handled by hand (e.g. entered in Rackbeat yourself).

    Its journal state becomes 'resolved': sync-orders no longer fails on it and sync-stock no
    longer holds its units back. Example: rackshop orders resolve dk '#1001'. Exit code 0, or
    2 when the shop or order is unknown (or the order was transferred normally).
    """
    common.shops = (shop_name,)

    def body(c: Common) -> ExitCode:
        from rackshop.runtime import Runtime
        from rackshop.sync.orders_commands import resolve_order

        cfg = load(c)
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

    run(common, body)


@orders_app.command("retry")
@common_options(shop=None)
def orders_retry_cmd(common: Common, shop_name: ShopArg, order_name: OrderArg) -> None:
    """Send a refused order to Rackbeat again now, though nothing changed.

    Runs sync-orders for that one order and prints its summary; the exit code is sync-orders'
    (0 transferred, 1 refused again). 2 when the shop or order is unknown or not failed.
    """
    common.shops = (shop_name,)

    def job(runtime: Any, shops: Any, bars: Any, out: Any) -> Any:
        from rackshop.sync.orders import sync_orders
        from rackshop.sync.orders_commands import request_retry

        row = request_retry(runtime.store(), shops[0].name, order_name)
        return sync_orders(runtime, shops, order_names=(str(row["order_name"]),), progress=bars)

    run(common, job_body(job))
