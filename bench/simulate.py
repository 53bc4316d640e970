"""Benchmark: ``rackshop sandbox simulate`` over many seeds, the violations it finds by kind.

Each seed is one simulation of --days days of --shops shops with --faults background faults
(fault windows, a revoked token, overlapping and killed passes included when above 0), run one
after the other in this process. The figures are what issue 22 asks for: events, passes, kills,
violations per invariant, runtime; and for every violation kind the first seed and day it showed
on, so the run can be repeated with ``rackshop sandbox simulate --seed S --days D``.

    python bench/simulate.py                          # 20 seeds x 3 days, 5 % faults
    python bench/simulate.py --seeds 3 --days 1       # a quick look
    python bench/simulate.py --json > simulate.json   # for scripts
    python bench/simulate.py --merge a.json b.json    # one table from runs made side by side

``cpu_s`` is the CPU time of this process and its children (the killed passes): on a busy
machine it is the figure to compare, since the wall time then mostly measures the others. The
``--json`` object carries the figures every bench has (``bench/measure.py``): ``wall_s`` is the
runtime, ``calls``, ``writes`` and ``throttled`` per API are what the twins served over every
seed; ``bound_s`` and ``ratio`` are null, since simulated days are mostly quiet time, which no
rate limit sets.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.measure import own_peak_mb  # noqa: E402
from rackshop.sandbox.simulate import SimOptions, SimReport, run_simulation  # noqa: E402
from rackshop.sandbox.simulate.invariants import INVARIANTS  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=20, help="how many seeds (default 20)")
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--days", type=int, default=3, help="simulated days per seed (3)")
    parser.add_argument("--shops", type=int, default=3)
    parser.add_argument("--faults", type=float, default=0.05, help="fault rate (0.05)")
    parser.add_argument("--products", type=int, default=40, help="demo catalogue size (40)")
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    parser.add_argument("--merge", nargs="+", metavar="FILE", type=Path,
                        help="print one table from --json results of separate runs")
    args = parser.parse_args()
    if args.merge:
        print_table(merge([json.loads(f.read_text(encoding="utf-8")) for f in args.merge]))
        return

    reports: list[SimReport] = []
    t0 = time.monotonic()
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        with tempfile.TemporaryDirectory(prefix="rackshop-bench-simulate-") as tmp:
            report = run_simulation(SimOptions(seed=seed, days=args.days, shops=args.shops,
                                               faults=args.faults, products=args.products),
                                    Path(tmp))
        reports.append(report)
        if not args.json:
            print(f"  seed {seed}: {report.events} events, {report.passes} passes, "
                  f"{report.kills} kills, {report.total_violations} violations, "
                  f"{report.runtime_seconds:.0f} s", file=sys.stderr, flush=True)
    wall = time.monotonic() - t0
    result = summary(args, [r.as_json() for r in reports], wall)
    if args.json:
        print(json.dumps(result, ensure_ascii=False, default=str))
    else:
        print_table(result)


def _cpu_and_rss() -> tuple[float, float]:
    """CPU seconds (user + system) of this process and its children, and the peak RSS in MB."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(
        resource.RUSAGE_CHILDREN)
    cpu = own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime
    return round(cpu, 1), max(own_peak_mb(), round(kids.ru_maxrss / 1024, 1))


def summary(args: argparse.Namespace, runs: list[dict[str, object]], wall: float
            ) -> dict[str, object]:
    """The --json document of one bench run."""
    cpu, rss = _cpu_and_rss()
    by_kind = {name: sum(sum(r["violations"][name]) for r in runs)  # type: ignore[index]
               for name, _ in INVARIANTS}
    return {"seeds": len(runs), "days": args.days, "shops": args.shops, "faults": args.faults,
            "products": args.products, "events": sum(r["events"] for r in runs),  # type: ignore
            "passes": sum(r["passes"] for r in runs),  # type: ignore[misc]
            "kills": sum(r["kills"] for r in runs),  # type: ignore[misc]
            "overlaps": sum(r.get("overlaps", 0) for r in runs),  # type: ignore[misc]
            "violations": by_kind,
            "seeds_with": {name: [r["seed"] for r in runs
                                  if sum(r["violations"][name])]  # type: ignore[index]
                           for name, _ in INVARIANTS},
            "runtime_seconds": round(wall, 1), "cpu_s": cpu, "peak_rss_mb": rss,
            "time_scale": SimOptions.time_scale, "wall_s": round(wall, 1),
            "bound_s": None, "ratio": None, **_api_totals(runs), "runs": runs}


def _api_totals(runs: list[dict[str, object]]) -> dict[str, dict[str, int]]:
    """calls, writes and throttled per API, summed over the runs."""
    def total(api: str, key: str) -> int:
        return sum(int(r.get("api", {}).get(api, {}).get(key, 0))  # type: ignore[attr-defined]
                   for r in runs)
    return {name: {api: total(api, key) for api in ("shopify", "rackbeat")}
            for name, key in (("calls", "requests"), ("writes", "writes"),
                              ("throttled", "throttled"))}


def merge(results: list[dict[str, object]]) -> dict[str, object]:
    """One result from several (seeds run in separate processes, side by side)."""
    runs = [run for res in results for run in res["runs"]]  # type: ignore[attr-defined]
    first = results[0]
    merged = summary(argparse.Namespace(days=first["days"], shops=first["shops"],
                                        faults=first["faults"],
                                        products=first.get("products", 40)),
                     runs, sum(float(r["runtime_seconds"]) for r in results))  # type: ignore
    merged["cpu_s"] = round(sum(float(r.get("cpu_s") or 0) for r in results), 1)  # type: ignore
    merged["peak_rss_mb"] = max(float(r.get("peak_rss_mb") or 0) for r in results)  # type: ignore
    return merged


def print_table(result: dict[str, object]) -> None:
    """The table for people."""
    seeds = int(result["seeds"])  # type: ignore[call-overload]
    runs: list[dict[str, object]] = result["runs"]  # type: ignore[assignment]
    wall = float(result["runtime_seconds"])  # type: ignore[arg-type]
    print(f"sandbox simulate: {seeds} seeds x {result['days']} days, {result['shops']} shops, "
          f"{result['products']} products, faults {result['faults']:g}")
    rows = [("events", result["events"]), ("passes", result["passes"]),
            ("kills", result["kills"]), ("overlaps", result["overlaps"]),
            ("runtime", f"{wall:.0f} s wall ({wall / max(1, seeds):.0f} s per seed), "
                        f"{result['cpu_s']} s CPU, peak RSS {result['peak_rss_mb']} MB")]
    for name, value in rows:
        print(f"  {name:<28} {value}")
    print("  violations by kind:")
    seeds_with: dict[str, list[int]] = result["seeds_with"]  # type: ignore[assignment]
    for name, count in result["violations"].items():  # type: ignore[attr-defined]
        print(f"    {name:<26} {count:>6}  seeds {', '.join(map(str, seeds_with[name])) or '-'}")
    for run in runs:
        for f in run.get("first") or []:  # type: ignore[attr-defined]
            print(f"  first '{f['invariant']}': seed {f['seed']} day {f['day']} "
                  f"{f['record']}: {f['detail']}")
            for e in f.get("events", [])[:6]:
                print(f"      {e}")


if __name__ == "__main__":
    main()
