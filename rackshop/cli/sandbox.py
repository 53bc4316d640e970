"""`rackshop demo` and `rackshop sandbox serve | simulate`: the local twins.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from rackshop import console
from rackshop.cli.common import Common, LogFormat, bars_enabled, common_options, run
from rackshop.errors import ExitCode

sandbox_app = typer.Typer(help="Local Shopify and Rackbeat simulators for rehearsals and tests.",
                          no_args_is_help=True)

# The seeded world of `demo` and `sandbox serve`.
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed of the sandbox data.")]
ShopsOpt = Annotated[int, typer.Option("--shops", min=1, max=8, help="Number of shops.")]
ProductsOpt = Annotated[int, typer.Option("--products", min=8, help="Catalogue size.")]
OrdersOpt = Annotated[int, typer.Option("--orders", min=0, help="Orders per shop.")]


@common_options(config=False, shop=None)
def demo_cmd(
    common: Common,
    seed: SeedOpt = 1,
    shops: ShopsOpt = 2,
    products: ProductsOpt = 40,
    orders: OrdersOpt = 12,
    keep: Annotated[Path | None, typer.Option(
        "--keep", metavar="DIR", help="Write the config, secrets and state here and keep them "
        "(default: a temporary folder, removed afterwards).", show_default=False)] = None,
) -> None:
    """Run every job against local, seeded Shopify and Rackbeat simulators.

    Starts both twins on 127.0.0.1, seeds shops, products, stock, customers and orders, writes a
    config pointing at them, and runs check and every job, printing what each did. Touches
    nothing outside this machine.
    """
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

    run(common, body)


@sandbox_app.command("serve")
@common_options(config=False, shop=None)
def sandbox_serve_cmd(
    common: Common,
    seed: SeedOpt = 1,
    shops: ShopsOpt = 2,
    products: ProductsOpt = 40,
    orders: OrdersOpt = 12,
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
) -> None:
    """Run the Shopify and Rackbeat simulators on 127.0.0.1 until Ctrl-C.

    Use it to rehearse a config before go-live: point rackshop at the twins with the config
    --write-config produces, run any job, and inspect the twins at /__sandbox/state.
    """
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
                          time_scale=time_scale, consistency=True,
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

    run(common, body)


class SimulateFormat(StrEnum):
    table = "table"
    json = "json"


@sandbox_app.command("simulate")
@common_options(config=False, shop=None)
def sandbox_simulate_cmd(
    common: Common,
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
    products: Annotated[int, typer.Option("--products", min=12, max=2000,
                                          help="Products of the demo world's catalogue.")] = 40,
    faults: Annotated[float, typer.Option(
        "--faults", min=0.0, max=1.0, metavar="RATE", help="Background fault rate on both twins; "
        "above 0 also fault windows, a revoked token, overlapping and killed passes.")] = 0.0,
    fmt: Annotated[SimulateFormat, typer.Option(
        "--format", help="table (for people) or json (one document on stdout).")] =
        SimulateFormat.table,
    keep: Annotated[Path | None, typer.Option(
        "--keep", metavar="DIR", help="Keep the config, state store and event log here.",
        show_default=False)] = None,
) -> None:
    """Rehearse days of orders, stock and product changes against local twins, checking
    every invariant after each simulated day.

    Runs the jobs on the README's cron timetable in simulated time, with seeded events between
    the passes (orders, refunds, stock moves, hand edits, outages), and prints invariants x days
    with violation counts. Exit 0 only when every invariant held on every day, else 1.
    """
    def body(c: Common) -> ExitCode:
        import json
        import tempfile

        from rackshop.sandbox.simulate import SimOptions, run_simulation

        out, err = console.make_consoles()
        opts = SimOptions(seed=seed, days=days, shops=shops, products=products, faults=faults,
                          config=config)
        with tempfile.TemporaryDirectory(prefix="rackshop-simulate-") as tmp:
            workdir = keep or Path(tmp)
            with console.progress_bars(err, enabled=bars_enabled(c, err)) as bars:
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

    run(common, body)
