"""Benchmark: what carrying changes after transfer costs, in calls, against the twins.

Places N orders per kind of Rackbeat state, transfers them, then measures:

* a pass with **no changes**, with ``orders.after_transfer = "report"`` (the behaviour before
  changes were synced) and with ``"sync"``: the calls must be equal (an unchanged order is
  compared with the journal, nothing more is read);
* a pass carrying one change per order, per kind: a cancelled booked order (reopen, delete), a
  partly refunded booked order (reopen, line change, book), a partly refunded invoiced order
  (a credit note), as Shopify and Rackbeat calls per changed order;
* the pass after: nothing written.

    python bench/after_transfer.py               # 20 orders per kind
    python bench/after_transfer.py --orders 100
    python bench/after_transfer.py --json       # one JSON object (bench/measure.py)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.measure import document, measure  # noqa: E402
from rackshop.config import load_config  # noqa: E402
from rackshop.runtime import Runtime  # noqa: E402
from rackshop.sandbox.shopify import orders as twin_orders  # noqa: E402
from rackshop.sandbox.world import Sandbox  # noqa: E402
from rackshop.sync.orders import sync_orders  # noqa: E402
from tests.helpers.shopify_orders import Line, OrderSpec, place, variant_ids  # noqa: E402

A, B = "BOX/12-Rød", "ÆBLE-1-M"
SCALE = 100.0


def _runtime(base: Any, **orders: Any) -> Runtime:
    shops = tuple(dataclasses.replace(s, orders=dataclasses.replace(s.orders, **orders))
                  if s.name == "dk" else s for s in base.shops)
    return Runtime(dataclasses.replace(base, shops=shops))


def _pass(sandbox: Sandbox, runtime: Runtime) -> dict[str, Any]:
    with measure(sandbox, SCALE, child=False) as m:
        result = sync_orders(runtime, runtime.config.select(["dk"]))
    counts = result.shops[0].counts
    return {"shopify": m.shopify["requests"], "shopify_writes": m.shopify["writes"],
            "rackbeat": m.rackbeat["requests"], "rackbeat_writes": m.rackbeat["writes"],
            "carried": counts.get("changes_carried", 0), "held": counts.get("held", 0),
            "figures": m.figures()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=20, help="orders per kind (default 20)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    n = args.orders
    rows: list[tuple[str, dict[str, Any], int]] = []
    with Sandbox(seed=3, shops=1, products=12, orders=0, time_scale=SCALE) as sandbox, \
            tempfile.TemporaryDirectory() as tmp:
        base = load_config(sandbox.write_config(Path(tmp) / "rackshop.toml"))
        twin = sandbox.shopify_app
        ids = variant_ids(twin, "dk")
        kinds: dict[str, list[dict[str, Any]]] = {}
        for kind, process_to in (("cancel booked", "booked"), ("refund booked", "booked"),
                                 ("refund invoiced", "invoiced")):
            kinds[kind] = [place(twin, "dk", OrderSpec(
                [Line(A, 3, "782.50"), Line(B, 1, "995.00")], shipping="49.00",
                email=f"buyer{i % 17}@example.com"), ids=ids) for i in range(n)]
            runtime = _runtime(base, process_to=process_to, transfer_on="paid")
            sync_orders(runtime, runtime.config.select(["dk"]))
            runtime.close()
        for mode in ("report", "sync"):
            runtime = _runtime(base, after_transfer=mode, transfer_on="paid")
            rows.append((f"no changes, after_transfer = {mode}", _pass(sandbox, runtime), 3 * n))
            runtime.close()
        shop = twin.shop("dk")
        for kind, orders in kinds.items():
            for o in orders:
                if kind == "cancel booked":
                    twin_orders.cancel(shop, o["id"], refund=True, restock=True)
                else:
                    twin_orders.refund(shop, o["id"], lines={A: 1}, restock=True)
            process_to = "invoiced" if "invoiced" in kind else "booked"
            runtime = _runtime(base, process_to=process_to, transfer_on="paid")
            rows.append((f"{kind}: one change per order", _pass(sandbox, runtime), n))
            runtime.close()
        runtime = _runtime(base, transfer_on="paid")
        rows.append(("the pass after", _pass(sandbox, runtime), 3 * n))
        runtime.close()
    if args.json:
        passes = {label: {**c["figures"], "orders": orders, "carried": c["carried"],
                          "held": c["held"]} for label, c, orders in rows}
        headline = next(label for label, _, _ in rows if label.startswith("refund invoiced"))
        print(json.dumps(document(SCALE, passes, headline, orders_per_kind=n), indent=2))
        return
    print(f"{'pass':<42} {'orders':>6} {'Shopify':>8} {'/order':>7} {'Rackbeat':>9} "
          f"{'/order':>7} {'writes S/R':>11} {'carried':>8} {'held':>5}")
    for label, c, orders in rows:
        print(f"{label:<42} {orders:>6} {c['shopify']:>8} {c['shopify'] / orders:>7.2f} "
              f"{c['rackbeat']:>9} {c['rackbeat'] / orders:>7.2f} "
              f"{c['shopify_writes']:>5}/{c['rackbeat_writes']:<5} {c['carried']:>8} "
              f"{c['held']:>5}")


if __name__ == "__main__":
    main()
