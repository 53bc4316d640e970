"""Benchmark: sync-fulfillments, calls per shipment, against the twins with real rate limits.

N paid orders are transferred (booked) into Rackbeat; the warehouse ships each in Rackbeat
(every third in two parts), with tracking; then one sync-fulfillments pass fulfils them all and
a second pass finds nothing to do. The job runs as a separate process. Calls are counted by the
twins; the time is measured as is (client and twins share this machine).

    python bench/fulfillments.py                  # 200 orders
    python bench/fulfillments.py --orders 1000 --json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import tomli_w

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.measure import child_command, document, measure  # noqa: E402
from rackshop.config import load_config  # noqa: E402
from rackshop.runtime import Runtime  # noqa: E402
from rackshop.sandbox.world import Sandbox  # noqa: E402
from rackshop.sync.orders import sync_orders  # noqa: E402
from tests.helpers.shopify_orders import Line, OrderSpec, place, variant_ids  # noqa: E402


def run_pass(sandbox: Sandbox, cfg: Path, scale: float) -> dict[str, Any]:
    with measure(sandbox, scale) as m:
        proc = subprocess.run(child_command("rackshop", "sync-fulfillments", "--config",
                                            str(cfg), "--log-format", "json"),
                              capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)
    m.child_done(proc.stderr)
    if proc.returncode != 0:
        print(proc.stderr[-3000:], file=sys.stderr)
    return {"exit": proc.returncode, "wall": m.measured_s, "sh": m.shopify, "rb": m.rackbeat,
            "measured": m}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--scale", type=float, default=20.0, help="time scale (default 20)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    with Sandbox(shops=1, products=20, orders=0, time_scale=args.scale) as sandbox, \
            tempfile.TemporaryDirectory() as tmp:
        cfg = sandbox.write_config(Path(tmp) / "rackshop.toml")
        data = tomllib.loads(cfg.read_text(encoding="utf-8"))
        data["shops"][0]["orders"].update({"transfer_on": "paid", "process_to": "booked"})
        data["shops"][0]["fulfillments"] = {"enabled": True, "tracking_company": "PostNord"}
        cfg.write_text(tomli_w.dumps(data), encoding="utf-8")
        runtime = Runtime(load_config(cfg))
        ids = variant_ids(sandbox.shopify_app, "dk")
        skus = sorted(ids)[:2]
        for _ in range(args.orders):
            place(sandbox.shopify_app, "dk", OrderSpec([Line(skus[0], 2, "100.00"),
                                                         Line(skus[1], 1, "50.00")]), ids=ids)
        sync_orders(runtime, runtime.config.shops)
        rb = runtime.rackbeat()
        shipments = 0
        for i, (number,) in enumerate(runtime.store().conn.execute(
                "SELECT rackbeat_number FROM order_journal WHERE rackbeat_number IS NOT NULL")):
            if i % 3 == 0:  # two parcels: one unit of the first line, then the rest
                order = rb.get_one("orders", number)
                first = order["lines"][0]["id"]
                made = rb.request("POST", f"orders/{number}/create-shipment",
                                  body={"lines": [{"line_id": first, "quantity": 1}]})
                rb.request("POST", f"orders/shipments/{made['order_shipment']['id']}/"
                           "mark-shipped", body={"pick": True, "tracking_number": f"A{i}"})
                shipments += 1
            made = rb.request("POST", f"orders/{number}/create-shipment", body={})
            rb.request("POST", f"orders/shipments/{made['order_shipment']['id']}/mark-shipped",
                       body={"pick": True, "tracking_number": f"B{i}"})
            shipments += 1
        runtime.close()
        first = run_pass(sandbox, cfg, args.scale)
        quiet = run_pass(sandbox, cfg, args.scale)

    figures = {name: {"exit": r["exit"], **r["measured"].figures(),
                      "shopify_calls_per_shipment": round(r["sh"]["requests"] / shipments, 2),
                      "rackbeat_calls_per_shipment": round(r["rb"]["requests"] / shipments, 3)}
               for name, r in (("first", first), ("quiet", quiet))}
    if args.json:
        print(json.dumps(document(args.scale, figures, "first", orders=args.orders,
                                  shipments=shipments), indent=2))
        return
    print(f"sync-fulfillments: {args.orders} orders, {shipments} shipments, time scale "
          f"{args.scale:g}")
    print(f"  {'':<34}{'first pass':>14}{'second pass':>14}")
    rows = [("exit", lambda f: f["exit"]), ("shopify calls", lambda f: f["calls"]["shopify"]),
            ("shopify writes", lambda f: f["writes"]["shopify"]),
            ("shopify calls per shipment", lambda f: f["shopify_calls_per_shipment"]),
            ("rackbeat calls", lambda f: f["calls"]["rackbeat"]),
            ("rackbeat calls per shipment", lambda f: f["rackbeat_calls_per_shipment"]),
            ("rackbeat writes", lambda f: f["writes"]["rackbeat"]),
            ("throttled", lambda f: sum(f["throttled"].values())),
            ("wall seconds (measured)", lambda f: f["measured_s"]),
            ("client CPU seconds", lambda f: f["cpu_s"]),
            ("client peak memory MB", lambda f: f["peak_rss_mb"])]
    for label, cell in rows:
        print(f"  {label:<34}{cell(figures['first'])!s:>14}{cell(figures['quiet'])!s:>14}")


if __name__ == "__main__":
    main()
