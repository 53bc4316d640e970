"""Benchmark: sync-stock on N SKUs × S shops against the twins with real rate limits.

Two passes: the full first push into empty shops, then a pass where nothing changed. The twins
enforce Shopify's leaky bucket (standard plan: 100 points/s, 2,000 bucket) and Rackbeat's 480
requests per minute, with time scaled by --scale. The wall time is measured as is (client and
twins share this machine's two cores), next to the lower bound the real rate limits impose in
real time. The job runs as a separate process, so its CPU time is the client's alone.

    python bench/stock.py                  # 2,000 SKUs × 3 shops, quick
    python bench/stock.py --skus 10000     # the figure quoted in the README
    python bench/stock.py --json           # one JSON object for scripts
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.measure import child_command, document, measure  # noqa: E402
from rackshop.sandbox.world import Sandbox  # noqa: E402


def run_pass(sandbox: Sandbox, cfg: Path, scale: float) -> dict[str, Any]:
    with measure(sandbox, scale) as m:
        proc = subprocess.run(child_command("rackshop", "sync-stock", "--config", str(cfg),
                                            "--log-format", "json"),
                              capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)
    m.child_done(proc.stderr)
    if proc.returncode != 0:
        print(proc.stderr[-3000:], file=sys.stderr)
    return {"exit": proc.returncode, "wall": m.measured_s, "cpu": m.cpu_s,
            "sh": m.shopify, "rb": m.rackbeat, "measured": m}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skus", type=int, default=2000)
    parser.add_argument("--shops", type=int, default=3)
    parser.add_argument("--scale", type=float, default=10.0, help="time scale (default 10)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    t0 = time.monotonic()
    with Sandbox(shops=args.shops, flat=args.skus, time_scale=args.scale) as sandbox, \
            tempfile.TemporaryDirectory() as tmp:
        seeded = time.monotonic() - t0
        cfg = sandbox.write_config(Path(tmp) / "rackshop.toml")
        first = run_pass(sandbox, cfg, args.scale)
        quiet = run_pass(sandbox, cfg, args.scale)

    items = args.skus * args.shops
    if args.json:
        passes = {name: {"exit": r["exit"], **r["measured"].figures(shops=args.shops),
                         "cpu_us_per_item": round(r["cpu"] / items * 1e6)}
                  for name, r in (("first", first), ("quiet", quiet))}
        print(json.dumps(document(args.scale, passes, "first", skus=args.skus,
                                  shops=args.shops), indent=2))
        return
    print(f"sync-stock: {args.skus} SKUs × {args.shops} shops, time scale {args.scale:g} "
          f"(twins seeded in {seeded:.1f} s)")
    header = f"  {'':<34}{'first push':>14}{'no change':>14}"
    print(header)
    rows = [
        ("exit code", lambda r: f"{r['exit']}"),
        ("Shopify calls", lambda r: f"{r['sh']['requests']}"),
        ("Shopify writes (mutations)", lambda r: f"{r['sh']['writes']}"),
        ("Shopify cost drawn (points)", lambda r: f"{r['sh']['cost']:.0f}"),
        ("Rackbeat calls", lambda r: f"{r['rb']['requests']}"),
        ("Rackbeat writes", lambda r: f"{r['rb']['writes']}"),
        ("429 / THROTTLED seen", lambda r: f"{r['rb']['throttled'] + r['sh']['throttled']}"),
        ("wall time (measured)", lambda r: f"{r['wall']:.1f} s"),
        ("rate-limit lower bound (real time)",
         lambda r: f"{r['measured'].figures(args.shops)['bound_s']:.1f} s"),
        ("client CPU", lambda r: f"{r['cpu']:.2f} s"),
        ("client CPU per item", lambda r: f"{r['cpu'] / items * 1e6:.0f} µs"),
        ("client peak memory", lambda r: f"{r['measured'].peak_rss_mb} MB"),
    ]
    for name, cell in rows:
        print(f"  {name:<34}{cell(first):>14}{cell(quiet):>14}")


if __name__ == "__main__":
    main()
