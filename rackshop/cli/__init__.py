"""The command line: the only package that imports typer; one module per command group.

It parses options, loads the config, calls the core, renders the result through
:mod:`rackshop.console`, and maps every :class:`~rackshop.errors.RackshopError` to its exit code in
one place (:func:`run`). Without ``--debug`` no traceback is ever printed.
"""

from __future__ import annotations

import sys

from rackshop import console
from rackshop.cli import check, config, init_sync, jobs, listen, orders, sandbox, status
from rackshop.cli.common import app
from rackshop.errors import RackshopError

# Every command and group, in the order `rackshop --help` lists them.
app.command("check")(check.check_cmd)
app.command("status")(status.status_cmd)
app.command("sync-orders")(jobs.sync_orders_cmd)
app.command("sync-products")(jobs.sync_products_cmd)
app.command("sync-stock")(jobs.sync_stock_cmd)
app.command("sync-fulfillments")(jobs.sync_fulfillments_cmd)
app.command("init-sync")(init_sync.init_sync_cmd)
app.command("listen")(listen.listen_cmd)
app.command("demo")(sandbox.demo_cmd)
app.add_typer(sandbox.sandbox_app, name="sandbox")
app.add_typer(listen.webhooks_app, name="webhooks")
app.add_typer(orders.orders_app, name="orders")
app.add_typer(config.config_app, name="config")


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except RackshopError as exc:  # pragma: no cover - run handles these; belt and braces
        _, err = console.make_consoles()
        console.print_error(err, exc)
        sys.exit(int(exc.exit_code))
