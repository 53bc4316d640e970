"""Benchmark ``sync-products`` (Rackbeat master) against the twins with real, time-scaled limits.

Passes, on one shop:

1. **first push**: N Rackbeat products into an empty shop (``create_missing``): N creates, sent as
   two Shopify bulk mutations (creates, then publishing) above ``products.bulk_above`` (250 by
   default; ``--bulk-above 0``: one call per create and per publish, as before bulk mutations);
2. **no change**: the same again (what cron runs most of the time);
3. **2 % changed**: the price of ``--changed`` of the items changed in Rackbeat.

For each pass it prints calls per API, writes (data writes; a bulk read is started by a mutation,
counted apart), 429s/THROTTLED seen, wall time against the lower bound the rate limits impose,
calls per item and client CPU per item (the client's thread only; the twins run in-process).
The lower bound: Shopify's bucket (standard plan: 2,000 points, 100 points/s restored) must pay
for the actual cost of every call beyond what the full bucket holds; Rackbeat allows 480
requests per minute. A bulk mutation's lines draw nothing from the bucket, so a bulk first push
has (almost) no bound of its own: compare its wall time with the per-call run's bound. Shopify's
eventual consistency is on, so a bulk operation takes the time the twin models for it
(``rackshop.sandbox.shopify.consistency``: 1 s to start, 2 ms per line; a model, not a recorded
figure). The twins run
``--time-scale`` times faster than real time, and the client is paced on the same scaled clock,
so the numbers are real seconds divided by the scale; they are shown in *twin* (= real-world)
seconds.

Usage::

    python bench/products.py                # 500 items (about 10 s)
    python bench/products.py --items 5000   # the issue's size (about 1.5 minutes)
    python bench/products.py --items 5000 --bulk-above 0   # one call per product, as before
    python bench/products.py --json         # one JSON object (bench/measure.py)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.measure import document, measure  # noqa: E402
from rackshop.config import load_config, write_config  # noqa: E402
from rackshop.http import make_session  # noqa: E402
from rackshop.runtime import Runtime  # noqa: E402
from rackshop.sandbox.seed import shop_token  # noqa: E402
from rackshop.sandbox.world import RACKBEAT_TOKEN, Sandbox  # noqa: E402
from rackshop.sync.products import sync_products  # noqa: E402

RACKBEAT_PER_MINUTE = 480


@dataclass
class CostMeter:
    """Sums Shopify's ``actualQueryCost`` from every response the client sees."""

    actual: float = 0.0
    throttled: int = 0
    calls: int = 0

    def hook(self, resp: requests.Response, *args: Any, **kwargs: Any) -> None:
        if "graphql.json" not in resp.url:
            return
        self.calls += 1
        try:
            body = resp.json()
        except ValueError:
            return
        cost = (body.get("extensions") or {}).get("cost") or {}
        if cost.get("actualQueryCost") is not None:
            self.actual += float(cost["actualQueryCost"])
        if any((e.get("extensions") or {}).get("code") == "THROTTLED"
               for e in body.get("errors") or [] if isinstance(e, dict)):
            self.throttled += 1


@dataclass
class PassResult:
    name: str
    items: int
    shopify: dict[str, Any] = field(default_factory=dict)
    rackbeat: dict[str, Any] = field(default_factory=dict)
    wall: float = 0.0
    bound: float = 0.0
    cpu: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)


def build(items: int, scale: float, tmp: Path,
          bulk_above: int | None = None) -> tuple[Sandbox, Path]:
    # Eventual consistency on: bulk operations take the time the twin models for them.
    sandbox = Sandbox(shops=1, time_scale=scale, seed_data=False, consistency=True).start()
    sandbox.shopify_app.add_shop("dk", token=shop_token("dk"), taxes_included=True,
                                 locations=("Lager",))
    rb = sandbox.rackbeat_app
    rb.add_location(1, "Hovedlager", is_default=True)
    rb.add_product_group(1000, "Varer", vat_domestic=25.0)
    rb.add_product_group(1100, "Fødevarer", vat_domestic=12.0)
    for i in range(items):
        rb.add_product(f"RS-{i:05d}/{'#' if i % 7 == 0 else ''}{i % 10}",
                       f"Vare {i} – æøå", 10 + (i % 500) + (i % 100) / 100,
                       1000 if i % 3 else 1100, barcode=f"57{i:011d}" if i % 2 else None,
                       description=f"Beskrivelse {i}")
    cfg = sandbox.config_dict(tmp / "secrets", tmp / "state.sqlite3")
    shop = cfg["shops"][0]
    shop["products"] = {"master": "rackbeat", "create_missing": True,
                        "new_product_status": "active"}
    if bulk_above is not None:
        shop["products"]["bulk_above"] = bulk_above
    shop["stock"] = {"enabled": True, "shopify_location": "Lager", "rackbeat_locations": [1]}
    shop.pop("initial", None)
    # The client runs on the twins' scaled clock (below), so it is paced to the real limits.
    cfg["rackbeat"]["requests_per_minute"] = RACKBEAT_PER_MINUTE
    path = tmp / "rackshop.toml"
    write_config(cfg, path)
    return sandbox, path


def run_pass(name: str, sandbox: Sandbox, config_path: Path, items: int,
             scale: float) -> PassResult:
    meter = CostMeter()

    def session() -> requests.Session:
        s = make_session()
        s.hooks["response"].append(meter.hook)
        return s

    config = load_config(config_path)
    runtime = Runtime(config, session_factory=session,
                      clock=lambda: time.monotonic() * scale,
                      sleep=lambda seconds: time.sleep(seconds / scale))
    with measure(sandbox, scale, child=False) as m:
        try:
            result = sync_products(runtime, config.shops)
        finally:
            runtime.close()
    out = PassResult(name, items)
    out.figures = m.figures(shopify_cost=meter.actual)
    out.wall, out.cpu, out.bound = m.wall_s, m.cpu_s, out.figures["bound_s"]
    out.shopify, out.rackbeat = m.shopify, m.rackbeat
    out.shopify["throttled_seen"] = meter.throttled
    out.counts = result.shops[0].counts
    out.shopify["actual_cost"] = round(meter.actual)
    return out


def change_prices(sandbox: Sandbox, share: float, items: int) -> int:
    step = max(1, round(1 / share)) if share > 0 else items + 1
    numbers = [n for i, n in enumerate(sorted(
        it.number for it in sandbox.rackbeat_app.account.items.values())) if i % step == 0]
    url = f"{sandbox.rackbeat.url}/api/products/"
    with requests.Session() as s:
        for n in numbers:
            for _ in range(600):  # Rackbeat's window: wait until it lets the change through
                r = s.put(url + quote(n, safe=""), json={"sales_price": 1234.5},
                          headers={"Authorization": f"Bearer {RACKBEAT_TOKEN}"}, timeout=10)
                if r.status_code != 429:
                    break
                time.sleep(0.2)
            r.raise_for_status()
    return len(numbers)


def table(results: list[PassResult]) -> str:
    head = ["pass", "items", "Shopify calls", "(writes)", "(bulk reads)", "Rackbeat calls",
            "(writes)", "429/THROTTLED", "wall s", "lower bound s", "wall/bound", "calls/item",
            "CPU ms/item"]
    rows = []
    for r in results:
        calls = r.shopify["requests"] + r.rackbeat["requests"]
        throttled = r.shopify["throttled"] + r.rackbeat["throttled"] + r.shopify["throttled_seen"]
        bulk = r.shopify["by_label"].get("mutation bulkOperationRunQuery", 0)
        rows.append([
            r.name, str(r.items), str(r.shopify["requests"]), str(r.shopify["writes"]),
            str(bulk), str(r.rackbeat["requests"]), str(r.rackbeat["writes"]), str(throttled),
            f"{r.wall:.1f}", f"{r.bound:.1f}",
            f"{r.wall / r.bound:.2f}" if r.bound > 0 else "-",
            f"{calls / max(1, r.items):.3f}", f"{1000 * r.cpu / max(1, r.items):.2f}"])
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=500, help="Rackbeat products (500)")
    parser.add_argument("--changed", type=float, default=0.02,
                        help="share of items changed before the last pass (0.02)")
    parser.add_argument("--time-scale", type=float, default=10.0,
                        help="twin seconds per real second (10; much higher and the in-process "
                        "twins' own latency, multiplied by the scale, hides the rate limits)")
    parser.add_argument("--bulk-above", type=int, default=None,
                        help="products.bulk_above (default: the config's default, 250; 0 = one "
                        "call per product, as before bulk mutations)")
    parser.add_argument("--json", action="store_true", help="print one JSON object only")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.monotonic()
        sandbox, path = build(args.items, args.time_scale, Path(tmp), args.bulk_above)
        print(f"seeded {args.items} Rackbeat products in {time.monotonic() - t0:.1f}s; "
              f"time scale {args.time_scale:g}", file=sys.stderr)
        try:
            results = [run_pass("first push", sandbox, path, args.items, args.time_scale),
                       run_pass("no change", sandbox, path, args.items, args.time_scale)]
            changed = change_prices(sandbox, args.changed, args.items)
            results.append(run_pass(f"{changed} changed", sandbox, path, args.items,
                                    args.time_scale))
        finally:
            sandbox.stop()
    if args.json:
        passes = {r.name: {**r.figures, "result": r.counts,
                           "shopify_by_label": r.shopify["by_label"],
                           "cpu_ms_per_item": round(1000 * r.cpu / max(1, r.items), 3)}
                  for r in results}
        print(json.dumps(document(args.time_scale, passes, results[0].name, items=args.items,
                                  bulk_above=args.bulk_above), indent=1))
        return 0
    print(table(results))
    for r in results:
        print(f"{r.name}: Shopify {r.shopify['by_label']}; Rackbeat {r.rackbeat['by_label']}; "
              f"result {r.counts}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
