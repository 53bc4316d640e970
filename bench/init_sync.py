"""Benchmark: ``init-sync`` of one shop of N variants against the twins with real rate limits.

The world (``tests/helpers/init_world.py``): N variants in 1-3-variant products over two Shopify
locations, with variants without SKU, duplicate SKUs, untracked variants, negative and zero stock,
and every seventh SKU already in Rackbeat. The twins enforce Shopify's leaky bucket (standard
plan: 100 points/s, 2,000 bucket) and Rackbeat's 480 requests per minute, with time scaled by
``--scale`` (twin and client both run on the scaled clock: the client's limiter, pacing and
backoff too; the table multiplies times back to real-world seconds). The import runs as a
separate process (preview, then apply, as ``init-sync --yes``), so its CPU time and peak memory
are the client's alone. Peak memory is the process's own ``VmHWM``: ``RUSAGE_CHILDREN``'s
``ru_maxrss`` also counts this process's pages (the twins' data) that the child held between
``fork`` and ``exec``, so it grows with the world whatever the client does.

    python bench/init_sync.py                          # 2,000 variants (about a minute)
    python bench/init_sync.py --variants 10000         # the issue's size (a few minutes)
    python bench/init_sync.py --variants 1000 10000    # peak memory stays flat with size
    python bench/init_sync.py --json                   # one JSON object (bench/measure.py)
    python bench/init_sync.py --workers 1              # [http] workers: one at a time (default 4)

Per size it prints: calls to each API per variant, writes, 429/THROTTLED seen, wall time against
the lower bound the rate limits impose, client CPU per variant and peak memory.
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

from bench.measure import document, measure  # noqa: E402
from rackshop.config.schema import HttpTable  # noqa: E402
from rackshop.sandbox.world import Sandbox  # noqa: E402
from tests.helpers.init_world import build_init_world, write_init_config  # noqa: E402

#: ``[http] workers`` when the config does not set it
DEFAULT_WORKERS: int = HttpTable.model_fields["workers"].default


def run(variants: int, scale: float, workers: int = DEFAULT_WORKERS) -> dict[str, Any]:
    """One import of ``variants`` variants with ``workers`` ([http] workers); returns the
    measurements."""
    with Sandbox(seed_data=False, shops=1, time_scale=scale) as sandbox, \
            tempfile.TemporaryDirectory() as tmp:
        t0 = time.monotonic()
        stats = build_init_world(sandbox, variants)
        seeded = time.monotonic() - t0
        cfg = write_init_config(sandbox, Path(tmp) / "rackshop.toml", scaled_client=True,
                                http={"workers": workers})
        with measure(sandbox, scale) as m:
            proc = subprocess.run(
                [sys.executable, "-m", "tests.helpers.init_world", str(cfg), "dk",
                 str(Path(tmp) / "report.csv"), "--scale", str(scale), "--memory"],
                capture_output=True, text=True, check=False,
                env={**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": tmp})
        m.child_done(proc.stderr)
        report = Path(tmp) / "report.csv"
        report_lines = len(report.read_text(encoding="utf-8").splitlines()) \
            if report.exists() else 0
    figures = m.figures()
    return {"variants": variants, "stats": stats, "seeded": seeded,
            "code": proc.returncode,
            "stderr": proc.stderr, "wall": m.wall_s, "cpu": m.cpu_s,
            "rss_mb": m.peak_rss_mb or 0.0, "sh": m.shopify, "rb": m.rackbeat,
            "bound": figures["bound_s"], "rb_bound": figures["rackbeat_bound_s"],
            "sh_bound": figures["shopify_bound_s"], "report_lines": report_lines,
            "figures": figures}


def table(m: dict[str, Any], scale: float) -> None:
    n = m["variants"]
    sh, rb = m["sh"], m["rb"]
    writes = {k: v for k, v in rb["by_label"].items() if not k.startswith("GET")}
    bulk = sh["by_label"].get("mutation bulkOperationRunQuery", 0)
    rows = [
        ("exit code", f"{m['code']}", "0 = completed"),
        ("Rackbeat calls", f"{rb['requests']}", f"{rb['requests'] / n:.2f} per variant"),
        ("Rackbeat writes", f"{rb['writes']}", ", ".join(f"{k} {v}" for k, v in writes.items())),
        ("Rackbeat reads", f"{rb['reads']}", "items, stock report, locations, group, re-check"),
        ("Shopify calls", f"{sh['requests']}",
         f"{sh['requests'] / n:.4f} per variant ({bulk} bulk queries started)"),
        ("Shopify cost drawn", f"{sh['cost']:.0f}", "points"),
        ("429 / THROTTLED seen", f"{rb['throttled'] + sh['throttled']}",
         f"Rackbeat {rb['throttled']}, Shopify {sh['throttled']}"),
        ("wall time (real-time equivalent)", f"{m['wall']:.0f} s",
         f"{m['wall'] / n * 1000:.0f} ms per variant"),
        ("rate-limit lower bound", f"{m['bound']:.0f} s",
         f"Rackbeat {m['rb_bound']:.0f} s at 480/min, Shopify {m['sh_bound']:.0f} s"),
        ("wall / lower bound", f"{m['wall'] / m['bound']:.2f}" if m["bound"] else "n/a", ""),
        ("client CPU", f"{m['cpu']:.1f} s",
         f"{m['cpu'] / n * 1000:.2f} ms per variant (in a scaled run it counts x{scale:g} "
         "against the wall time)"),
        ("client peak memory", f"{m['rss_mb']:.0f} MB", "VmHWM of the import process"),
        ("report file", f"{m['report_lines'] - 1} rows", "products, stock, notes"),
    ]
    width = max(len(r[0]) for r in rows)
    s = m["stats"]
    print(f"init-sync: {n} variants ({s['no_sku']} without SKU, {s['duplicates']} duplicate "
          f"SKUs, {s['in_rackbeat']} already in Rackbeat), time scale {scale:g} "
          f"(world seeded in {m['seeded']:.1f} s)")
    for name, value, note in rows:
        print(f"  {name:<{width}}  {value:>10}  {note}")
    if m["code"] != 0:
        print(m["stderr"][-2000:], file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", type=int, nargs="+", default=[2000],
                        help="variants in the shop (several: one run each; default 2000)")
    parser.add_argument("--scale", type=float, default=20.0, help="time scale (default 20)")
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS,
                        help="[http] workers: products and adjustments side by side "
                        f"(default {DEFAULT_WORKERS}, the config's)")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object (the largest size at the top level)")
    args = parser.parse_args()
    results = []
    for n in args.variants:
        m = run(n, args.scale, args.workers)
        if not args.json:
            table(m, args.scale)
        results.append(m)
    if args.json:
        passes = {str(m["variants"]): {"exit": m["code"], **m["figures"],
                                       "cpu_ms_per_variant": round(
                                           m["cpu"] / m["variants"] * 1000, 3)}
                  for m in results}
        print(json.dumps(document(args.scale, passes, str(max(args.variants)),
                                  variants=max(args.variants), workers=args.workers), indent=2))
        return
    if len(results) > 1:
        print("peak memory by size: " + ", ".join(
            f"{m['variants']}: {m['rss_mb']:.0f} MB" for m in results))


if __name__ == "__main__":
    main()
