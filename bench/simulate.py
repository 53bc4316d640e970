"""Benchmark: ``rackshop sandbox simulate`` over many seeds, the violations it finds by kind.

Each seed is one simulation of --days days of --shops shops with --faults background faults
(fault windows, a revoked token, overlapping and killed passes included when above 0), run one
after the other in this process. The figures are what issue 22 asks for: events, passes, kills,
violations per invariant, runtime; and for every violation kind the first seed and day it showed
on, so the run can be repeated with ``rackshop sandbox simulate --seed S --days D``.

    python bench/simulate.py                          # 20 seeds x 3 days, 5 % faults
    python bench/simulate.py --seeds 3 --days 1       # a quick look
    python bench/simulate.py --json > simulate.json   # for scripts
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rackshop.sandbox.simulate import SimOptions, SimReport, run_simulation  # noqa: E402
from rackshop.sandbox.simulate.invariants import INVARIANTS  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=20, help="how many seeds (default 20)")
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--days", type=int, default=3, help="simulated days per seed (3)")
    parser.add_argument("--shops", type=int, default=3)
    parser.add_argument("--faults", type=float, default=0.05, help="fault rate (0.05)")
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    args = parser.parse_args()

    reports: list[SimReport] = []
    t0 = time.monotonic()
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        with tempfile.TemporaryDirectory(prefix="rackshop-bench-simulate-") as tmp:
            report = run_simulation(SimOptions(seed=seed, days=args.days, shops=args.shops,
                                               faults=args.faults), Path(tmp))
        reports.append(report)
        if not args.json:
            print(f"  seed {seed}: {report.events} events, {report.passes} passes, "
                  f"{report.kills} kills, {report.total_violations} violations, "
                  f"{report.runtime_seconds:.0f} s", file=sys.stderr, flush=True)
    wall = time.monotonic() - t0

    by_kind = {name: sum(sum(r.violations[name]) for r in reports) for name, _ in INVARIANTS}
    seeds_with = {name: [r.seed for r in reports if sum(r.violations[name])]
                  for name, _ in INVARIANTS}
    firsts = {}
    for r in reports:
        for f in r.first:
            firsts.setdefault(f.invariant, f)
    if args.json:
        print(json.dumps({
            "seeds": args.seeds, "days": args.days, "shops": args.shops, "faults": args.faults,
            "events": sum(r.events for r in reports), "passes": sum(r.passes for r in reports),
            "kills": sum(r.kills for r in reports), "violations": by_kind,
            "seeds_with": seeds_with, "runtime_seconds": round(wall, 1),
            "runs": [r.as_json() for r in reports]}, ensure_ascii=False, default=str))
        return
    print(f"sandbox simulate: {args.seeds} seeds x {args.days} days, {args.shops} shops, "
          f"faults {args.faults:g}")
    rows = [("events", sum(r.events for r in reports)),
            ("passes", sum(r.passes for r in reports)),
            ("kills", sum(r.kills for r in reports)),
            ("overlaps", sum(r.overlaps for r in reports)),
            ("runtime", f"{wall:.0f} s ({wall / max(1, args.seeds):.0f} s per seed)")]
    for name, value in rows:
        print(f"  {name:<28} {value}")
    print("  violations by kind:")
    for name, count in by_kind.items():
        seeds = seeds_with[name]
        print(f"    {name:<26} {count:>6}  seeds {', '.join(map(str, seeds)) or '-'}")
    for name, f in firsts.items():
        print(f"  first '{name}': seed {f.seed} day {f.day} {f.record}: {f.detail}")
        for e in f.events[:6]:
            print(f"      {e}")


if __name__ == "__main__":
    main()
