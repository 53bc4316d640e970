"""``rackshop demo``: every job against freshly seeded twins, in one process, in under a minute.

The demo goes through exactly the code users run: it writes a real config (secrets in files),
loads it with :func:`rackshop.config.load_config`, builds a :class:`~rackshop.runtime.Runtime`
and calls the same job functions as the CLI. Only the servers are local.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rackshop.check import run_check
from rackshop.config import load_config
from rackshop.errors import ExitCode
from rackshop.runtime import Runtime
from rackshop.sandbox.world import Sandbox
from rackshop.sync.runner import JobResult, summary_table


@dataclass
class DemoStep:
    """One step of the demo: what ran and what it reported."""

    name: str
    exit_code: ExitCode
    columns: list[str] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    note: str = ""


@dataclass
class DemoReport:
    """Everything the demo did, for the CLI to render."""

    config_path: Path
    steps: list[DemoStep] = field(default_factory=list)
    calls: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def exit_code(self) -> ExitCode:
        worst = ExitCode.OK
        for step in self.steps:
            if step.exit_code != ExitCode.OK:
                worst = step.exit_code
        return worst


def job_step(result: JobResult) -> DemoStep:
    """A job's result as a demo step: its summary table and its failures."""
    columns, rows = summary_table(result)
    failures = [f"{s.shop} {rec}: {why}" for s in result.shops for rec, why in s.failures]
    note = ("failed: " + " | ".join(failures[:5]) + (" ..." if len(failures) > 5 else "")
            if failures else "")
    return DemoStep(result.job, result.exit_code, columns, rows, note)


def _orders(runtime: Runtime, workdir: Path) -> DemoStep:
    from rackshop.sync.orders import sync_orders

    return job_step(sync_orders(runtime, runtime.config.select(())))


def _init_sync(runtime: Runtime, workdir: Path) -> DemoStep:
    """The go-live import of the shop that is Shopify master (se), as `--yes` would run it."""
    from rackshop.sync.initial import apply_init_sync, preview_init_sync

    shop = next((s for s in runtime.config.shops if s.products.master == "shopify"),
                runtime.config.shops[0])
    with preview_init_sync(runtime, shop) as preview:
        result = apply_init_sync(runtime, shop, preview,
                                 report_path=workdir / f"init-sync-{shop.name}.csv")
    step = job_step(result)
    step.note = (step.note + " " if step.note else "") + \
        f"(shop {shop.name}; report init-sync-{shop.name}.csv)"
    return step


def _products(runtime: Runtime, workdir: Path) -> DemoStep:
    from rackshop.sync.products import sync_products

    return job_step(sync_products(runtime, runtime.config.select(())))


def _stock(runtime: Runtime, workdir: Path) -> DemoStep:
    from rackshop.sync.stock import sync_stock

    return job_step(sync_stock(runtime, runtime.config.select(())))


def _fulfillments(runtime: Runtime, workdir: Path) -> DemoStep:
    """The warehouse ships one transferred order in Rackbeat; Shopify shows it fulfilled."""
    from rackshop.sync.fulfillments import FulfillmentsReport, sync_fulfillments

    store = runtime.store()
    shop = next((s for s in runtime.config.shops if s.fulfillments.enabled), None)
    row = None if shop is None else store.conn.execute(
        "SELECT order_name, rackbeat_number FROM order_journal WHERE shop = ? AND state = "
        "'done' AND rackbeat_number IS NOT NULL ORDER BY order_name LIMIT 1",
        (shop.name,)).fetchone()
    tracking = "00370712345678901234"
    if row is not None:  # what the warehouse does in Rackbeat
        rb = runtime.rackbeat()
        number = int(row["rackbeat_number"])
        shipment = rb.request("POST", f"orders/{number}/create-shipment", body={})
        rb.request("POST", f"orders/shipments/{shipment['order_shipment']['id']}/mark-shipped",
                   body={"pick": True, "tracking_number": tracking})
    report = FulfillmentsReport()
    step = job_step(sync_fulfillments(runtime, runtime.config.select(()), report=report))
    done = [o for outcomes in report.outcomes.values() for o in outcomes
            if o.status == "fulfilled"]
    if row is not None and done:
        step.note = (step.note + " " if step.note else "") + (
            f"(shop {shop.name if shop else ''}: Rackbeat order {row['rackbeat_number']} shipped "
            f"with tracking {tracking}; Shopify order {row['order_name']} is fulfilled with it)")
    return step


_DEMO_ORDER = """
query DemoOrder($id: ID!) { order(id: $id) { id name lineItems(first: 20) {
  nodes { id currentQuantity } } } }
"""
_DEMO_CANCEL = """
mutation DemoCancel($id: ID!) { orderCancel(orderId: $id, restock: true, reason: CUSTOMER,
  refundMethod: {originalPaymentMethodsRefund: true}) {
  orderCancelUserErrors { message } } }
"""
_DEMO_REFUND = """
mutation DemoRefund($input: RefundInput!) { refundCreate(input: $input) @idempotent(key: "demo") {
  refund { id } userErrors { message } } }
"""


def _after_transfer(runtime: Runtime, workdir: Path) -> DemoStep:
    """A merchant cancels one transferred order and refunds one unit of another in Shopify;
    sync-orders carries both into Rackbeat (a reopened and deleted order, a credit note)."""
    from rackshop.sync.orders import OrdersReport, sync_orders

    store = runtime.store()
    done: list[str] = []
    for shop in runtime.config.shops:
        if not shop.orders.enabled or shop.orders.after_transfer != "sync":
            continue
        rows = store.conn.execute(
            "SELECT shopify_order_id, order_name, rackbeat_number FROM order_journal WHERE "
            "shop = ? AND state = 'done' ORDER BY order_name DESC", (shop.name,)).fetchall()
        client = runtime.shopify(shop)
        for row in rows:
            rb = runtime.rackbeat().find_one("orders", int(row["rackbeat_number"]))
            if rb is None:
                continue
            if rb.get("is_booked") and not (rb.get("is_shipped") or rb.get("is_invoiced")) \
                    and not any(d.startswith("cancelled") for d in done):
                answer = client.execute(_DEMO_CANCEL, {"id": row["shopify_order_id"]},
                                        name="DemoCancel")
                if not answer.data["orderCancel"]["orderCancelUserErrors"]:
                    done.append(f"cancelled {shop.name} {row['order_name']}")
            elif rb.get("is_invoiced") and not any(d.startswith("refunded") for d in done):
                order = client.execute(_DEMO_ORDER, {"id": row["shopify_order_id"]},
                                       name="DemoOrder").data["order"]
                line = next((li for li in order["lineItems"]["nodes"]
                             if li["currentQuantity"] > 0), None)
                if line is None:
                    continue
                answer = client.execute(_DEMO_REFUND, {"input": {
                    "orderId": order["id"], "note": "rackshop demo: one unit returned",
                    "refundLineItems": [{"lineItemId": line["id"], "quantity": 1,
                                         "restockType": "RETURN"}]}},
                    name="DemoRefund", idempotent=True)
                if not answer.data["refundCreate"]["userErrors"]:
                    done.append(f"refunded 1 unit of {shop.name} {row['order_name']}")
    report = OrdersReport()
    step = job_step(sync_orders(runtime, runtime.config.select(()), report=report))
    step.name = "sync-orders (after changes in Shopify)"
    carried = [f"{o.name}: {o.reason}" for outcomes in report.outcomes.values()
               for o in outcomes if o.status == "changed"]
    step.note = (step.note + " " if step.note else "") + (
        f"(in Shopify: {'; '.join(done) or 'nothing to change'}; in Rackbeat: "
        f"{' | '.join(carried) or 'nothing'})")
    return step


#: The jobs the demo runs, in order: (name, function(runtime, workdir) -> DemoStep). Jobs
#: register here as they are built, so the demo always runs every job that exists.
JOBS: list[tuple[str, Callable[[Runtime, Path], DemoStep]]] = [
    ("init-sync", _init_sync),
    ("sync-products", _products),
    ("sync-orders", _orders),
    ("sync-stock", _stock),
    ("sync-fulfillments", _fulfillments),
    ("after-transfer", _after_transfer),
]


def run_demo(
    workdir: Path,
    *,
    seed: int = 1,
    shops: int = 2,
    products: int = 40,
    orders: int = 12,
    time_scale: float = 20.0,
    on_step: Callable[[DemoStep], None] | None = None,
) -> DemoReport:
    """Start both twins, seed them, write a config into ``workdir`` and run every job.

    Args:
        workdir: Where the config, its secrets and the state store are written.
        seed: Seed of the sandbox data.
        shops: Number of shops.
        products: Catalogue size.
        orders: Orders per shop.
        time_scale: Rate-limit time scale of the twins (the client is paced to match).
        on_step: Called after each step (the CLI prints as it goes).

    Returns:
        The steps and the request counts per twin.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    with Sandbox(seed=seed, shops=shops, products=products, orders=orders,
                 time_scale=time_scale, consistency=True) as sandbox:
        config_path = sandbox.write_config(workdir / "rackshop.toml")
        report = DemoReport(config_path)
        config = load_config(config_path)
        runtime = Runtime(config)
        try:
            check = run_check(runtime, config.select(()), offline=False)
            step = DemoStep("check", check.exit_code, ["target", "check", "status", "detail"],
                            [[r.target, r.what, r.status, r.detail] for r in check.rows])
            report.steps.append(step)
            if on_step:
                on_step(step)
            for _name, job in JOBS:
                step = job(runtime, workdir)
                report.steps.append(step)
                if on_step:
                    on_step(step)
        finally:
            runtime.close()
        for label, server in (("shopify", sandbox.shopify), ("rackbeat", sandbox.rackbeat)):
            report.calls[label] = server.log.counters()
    return report
