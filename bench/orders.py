"""Benchmark: sync-orders on N orders over S shops against the twins with real rate limits.

The twins enforce Shopify's leaky bucket (standard plan: 100 points/s, 2,000 bucket) and
Rackbeat's 480 requests per sliding minute, with time scaled by --scale: twin and client both
run on the scaled clock (``bench/scaled_run.py``: the client's limiter, cost bucket, pacing and
backoff count twin seconds, and its limit is the real 480 a minute, as in ``bench/init_sync.py``),
so the measured times are real-time figures divided by ``scale``; the table reports them
multiplied back. The job runs as a separate process, so its CPU time is the client's alone; in a
scaled run it counts ``scale`` times against the wall time (``--scale 1`` runs in real time).

    python bench/orders.py                   # 200 orders, quick
    python bench/orders.py --orders 1000     # the figure quoted in the README
    python bench/orders.py --json            # one JSON object (bench/measure.py)
    python bench/orders.py --orders 500 --scale 1   # real time (Rackbeat's window binds)
    python bench/orders.py --workers 1       # [http] workers: one order at a time (default 4)
    python bench/orders.py --latency 0.1     # every answer of both twins 100 ms later

Prints a table: calls per order to each API, writes, 429/THROTTLED answers seen, wall time
against the lower bound the rate limits impose, and client CPU per order.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import tomli_w

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.measure import child_command, document, measure  # noqa: E402
from rackshop.config.schema import HttpTable  # noqa: E402
from rackshop.sandbox.world import Sandbox  # noqa: E402
from tests.helpers.shopify_orders import Line, OrderSpec, place, variant_ids  # noqa: E402

SKUS = [("BOX/12-Rød", "782.50", 25), ("ÆBLE-1-M", "995.00", 25), ("TEE #3", "654.08", 12),
        ("MUG 350 ML", "507.00", 0)]

#: ``[http] workers`` when the config does not set it
DEFAULT_WORKERS: int = HttpTable.model_fields["workers"].default


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=200, help="orders in all (default 200)")
    parser.add_argument("--shops", type=int, default=2)
    parser.add_argument("--scale", type=float, default=20.0, help="time scale (default 20)")
    parser.add_argument("--process-to", default="booked",
                        choices=["draft", "booked", "shipped", "invoiced", "shipped_invoiced"])
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS,
                        help="[http] workers: orders worked on side by side "
                        f"(default {DEFAULT_WORKERS}, the config's)")
    parser.add_argument("--latency", type=float, default=0.0,
                        help="seconds (real-world, divided by --scale) every answer of both "
                        "twins takes; on loopback they answer in about a millisecond, a real "
                        "API in 50-300 ms (default 0)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    with Sandbox(seed=3, shops=args.shops, products=12, orders=0,
                 time_scale=args.scale) as sandbox, tempfile.TemporaryDirectory() as tmp:
        t0 = time.monotonic()
        for s, shop in enumerate(sandbox.shop_names):
            ids = variant_ids(sandbox.shopify_app, shop)
            for i in range(args.orders // len(sandbox.shop_names)):
                lines = [Line(sku, 1 + (i + k) % 3, price, rate)
                         for k, (sku, price, rate) in enumerate(SKUS[: 1 + (i + s) % 4])]
                place(sandbox.shopify_app, shop, OrderSpec(
                    lines, shipping="49.00" if i % 3 == 0 else None,
                    email=f"buyer{i % 97}@example.com"), ids=ids)
        placed = time.monotonic() - t0
        cfg = sandbox.write_config(Path(tmp) / "rackshop.toml")
        data = tomllib.loads(cfg.read_text(encoding="utf-8"))
        for shop in data["shops"]:
            shop["orders"].update({"transfer_on": "created", "process_to": args.process_to})
        data.setdefault("http", {})["workers"] = args.workers
        # the client runs on the twins' scaled clock (bench/scaled_run.py): the real limit
        data["rackbeat"]["requests_per_minute"] = 480
        cfg.write_text(tomli_w.dumps(data), encoding="utf-8")
        if args.latency:
            # the twins' "slow" fault on every answer, short of any client timeout
            for twin in (sandbox.shopify, sandbox.rackbeat):
                twin.faults.configure_json({"slow_seconds": args.latency / args.scale,
                                            "rules": [{"kinds": ["slow"], "rate": 1.0}]})
        # The job's output goes to files, as a scheduled job's log does: through a pipe, the
        # job's log writes wait whenever this process (busy serving the twins) is slow to read.
        with open(Path(tmp) / "job.out", "w+", encoding="utf-8") as out, \
                open(Path(tmp) / "job.err", "w+", encoding="utf-8") as err:
            with measure(sandbox, args.scale) as m:
                code = subprocess.run(child_command("bench.scaled_run", "--scale",
                                                    str(args.scale), "sync-orders", "--config",
                                                    str(cfg), "--log-format", "json"),
                                      stdout=out, stderr=err, check=False,
                                      env={**os.environ, "PYTHONPATH": str(ROOT)}).returncode
            err.seek(0)
            stderr = err.read()
        m.child_done(stderr)

    n = args.orders - args.orders % len(sandbox.shop_names)
    sh, rb = m.shopify, m.rackbeat
    # Shopify's bucket is per shop; the shops share the process's time, so the bound is the
    # total cost drawn beyond the full buckets, at the restore rate.
    figures = m.figures(shops=len(sandbox.shop_names), serial_shops=True)
    wall, cpu, bound = m.wall_s, m.cpu_s, figures["bound_s"]
    rb_bound, sh_bound = figures["rackbeat_bound_s"], figures["shopify_bound_s"]
    steady = figures["rackbeat_steady_s"]
    if args.json:
        figures.update(exit=code, cpu_ms_per_order=round(cpu / n * 1000, 2))
        print(json.dumps(document(args.scale, {"sync-orders": figures}, "sync-orders",
                                  orders=n, shops=len(sandbox.shop_names),
                                  process_to=args.process_to, workers=args.workers,
                                  latency_s=args.latency), indent=2))
        if code != 0:
            print(stderr[-2000:], file=sys.stderr)
        return
    rows = [
        ("orders transferred", f"{n}", f"exit code {code}"),
        ("Rackbeat calls", f"{rb['requests']}", f"{rb['requests'] / n:.2f} per order"),
        ("Rackbeat writes", f"{rb['writes']}", f"{rb['writes'] / n:.2f} per order"),
        ("Shopify calls", f"{sh['requests']}", f"{sh['requests'] / n:.2f} per order"),
        ("Shopify writes", f"{sh['writes']}", f"{sh['writes'] / n:.2f} per order"),
        ("Shopify cost drawn", f"{sh['cost']:.0f}", f"{sh['cost'] / n:.1f} points per order"),
        ("429 / THROTTLED seen", f"{rb['throttled'] + sh['throttled']}",
         f"Rackbeat {rb['throttled']}, Shopify {sh['throttled']}"),
        ("wall time (real-time equivalent)", f"{wall:.0f} s", f"{wall / n * 1000:.0f} ms/order"),
        ("rate-limit lower bound", f"{bound:.0f} s",
         f"Rackbeat {rb_bound:.0f} s at 480 a sliding minute, Shopify {sh_bound:.0f} s at "
         "100 points/s"),
        ("wall / lower bound", f"{wall / bound:.2f}" if bound else "n/a", ""),
        ("wall / steady-rate figure", f"{wall / steady:.2f}" if steady else "n/a",
         f"{steady:.0f} s: Rackbeat's requests beyond 480 at 8/s, which a window never allows"),
        ("client CPU", f"{cpu:.2f} s", f"{cpu / n * 1000:.1f} ms per order"),
        ("client peak memory", f"{m.peak_rss_mb} MB", "the job's process (VmHWM)"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"sync-orders: {n} orders, {len(sandbox.shop_names)} shops, process_to "
          f"{args.process_to}, {args.workers} worker(s), latency {args.latency:g} s, time scale "
          f"{args.scale:g} (orders placed in {placed:.1f} s)")
    for name, value, note in rows:
        print(f"  {name:<{width}}  {value:>10}  {note}")
    if code != 0:
        print(stderr[-2000:], file=sys.stderr)


if __name__ == "__main__":
    main()
