"""`rackshop listen` and `rackshop webhooks register | list | remove`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer

from rackshop import console
from rackshop.cli.common import Common, common_options, load, run
from rackshop.errors import ExitCode

webhooks_app = typer.Typer(help="Create, list and remove the webhook subscriptions that "
                           "`rackshop listen` receives.", no_args_is_help=True)


@common_options(shop=None)
def listen_cmd(
    common: Common,
    host: Annotated[str | None, typer.Option("--host", metavar="ADDRESS", help="Address to "
                                             "listen on (default listen.host, 127.0.0.1).",
                                             show_default=False)] = None,
    port: Annotated[int | None, typer.Option("--port", metavar="PORT", help="Port (default "
                                             "listen.port, 8787).", show_default=False)] = None,
) -> None:
    """Receive Shopify and Rackbeat webhooks: orders into Rackbeat and stock to every shop in
    seconds, with sync-orders and sync-stock running on a timetable as the safety net.

    Every delivery is verified (Shopify HMAC, Rackbeat token) and written to a durable queue in
    the state store before it is acknowledged. Runs until SIGTERM or Ctrl-C. Put a TLS proxy in
    front of it (see the README); GET /healthz is for monitoring.
    """
    def body(c: Common) -> ExitCode:
        from rackshop.listen.server import serve
        from rackshop.runtime import Runtime

        cfg = load(c)
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

    run(common, body)


def _webhooks(action: str) -> Callable[[Common], ExitCode]:
    def body(c: Common) -> ExitCode:
        from rackshop.listen import webhooks_admin
        from rackshop.runtime import Runtime

        cfg = load(c)
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
@common_options()
def webhooks_register_cmd(common: Common) -> None:
    """Create the subscriptions listen.public_url needs (Shopify per shop trigger, Rackbeat
    stock/product events); keeps what already exists."""
    run(common, _webhooks("register"))


@webhooks_app.command("list")
@common_options()
def webhooks_list_cmd(common: Common) -> None:
    """List every subscription of the shops and the Rackbeat account, rackshop's marked."""
    run(common, _webhooks("list"))


@webhooks_app.command("remove")
@common_options()
def webhooks_remove_cmd(common: Common) -> None:
    """Delete rackshop's subscriptions (those pointing at listen.public_url), nothing else."""
    run(common, _webhooks("remove"))
