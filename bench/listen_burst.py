"""Benchmark: a burst of webhook deliveries against ``rackshop listen`` (loopback only).

The listener runs as a process of its own (so its memory and CPU are its own) against the twins.
A bounded loop sends ``--rate`` deliveries a second for ``--seconds`` seconds to 127.0.0.1: signed
Shopify ``orders/paid`` deliveries for ``--orders`` real orders of the Shopify twin (each order
delivered many times under new webhook ids, and a share sent twice under the same id, as
Shopify's retries are), and Rackbeat ``item.stock_updated`` events for the seeded SKUs. Then it
waits for the queue to drain and checks the outcome.

    python bench/listen_burst.py                       # 200/s for 10 s: the issue's figure
    python bench/listen_burst.py --rate 500 --seconds 5
    python bench/listen_burst.py --json                # one JSON object (bench/measure.py)

Prints a table: answers by outcome, answer latency (Shopify allows 5 s), the queue's depth,
rows processed and how often each was taken, orders transferred (each must be exactly once),
the time to drain, and the listener's memory (resident set, sampled) and CPU.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.measure import document, measure  # noqa: E402
from rackshop.config import write_config  # noqa: E402
from rackshop.listen.queue import DurableQueue  # noqa: E402
from rackshop.sandbox.world import WEBHOOK_SECRET, Sandbox  # noqa: E402
from rackshop.shopify.webhooks import sign  # noqa: E402
from rackshop.store import Store  # noqa: E402
from tests.helpers.shopify_orders import Line, OrderSpec, place, variant_ids  # noqa: E402

HOOK_TOKEN = "bench-rackbeat-webhook-token-0123456789"
LISTENER = """
import sys
from pathlib import Path
from rackshop.config import load_config
from rackshop.listen.server import serve
from rackshop.runtime import Runtime
serve(Runtime(load_config(Path(sys.argv[1]))), "127.0.0.1", 0, polls=False,
      debounce_seconds=float(sys.argv[2]), ready=lambda h, p: print(p, flush=True))
"""
SKUS = [("BOX/12-Rød", "782.50", 25), ("ÆBLE-1-M", "995.00", 25), ("TEE #3", "654.08", 12),
        ("MUG 350 ML", "507.00", 0)]


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in KiB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            key, value = line.split(":", 1)
            out[key] = int(value.split()[0])
    return out


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=int, default=200, help="deliveries a second (200)")
    parser.add_argument("--seconds", type=int, default=10, help="length of the burst (10)")
    parser.add_argument("--orders", type=int, default=20, help="distinct orders (20)")
    parser.add_argument("--clients", type=int, default=32, help="sending threads (32)")
    parser.add_argument("--scale", type=float, default=50.0, help="twins' time scale (50)")
    parser.add_argument("--debounce", type=float, default=1.0,
                        help="seconds Rackbeat events wait to batch (1)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    total = args.rate * args.seconds

    with Sandbox(seed=3, shops=2, products=12, orders=0, time_scale=args.scale) as sandbox, \
            tempfile.TemporaryDirectory() as tmp:
        twin = sandbox.shopify_app
        ids = variant_ids(twin, "dk")
        orders = []
        for i in range(args.orders):
            lines = [Line(sku, 1 + (i + k) % 3, price, rate)
                     for k, (sku, price, rate) in enumerate(SKUS[: 1 + i % len(SKUS)])]
            orders.append(place(twin, "dk", OrderSpec(lines, email=f"buyer{i % 7}@example.com"),
                                ids=ids))
        skus = sorted(v for v in ids)
        data = sandbox.config_dict(Path(tmp) / "secrets", Path(tmp) / "state.sqlite3")
        token = Path(tmp) / "secrets" / "rackbeat-webhook-token"
        token.write_text(HOOK_TOKEN + "\n", encoding="utf-8")
        token.chmod(0o600)
        data["rackbeat"]["webhook_token"] = {"file": str(token)}
        data["listen"] = {"host": "127.0.0.1"}
        config = Path(tmp) / "rackshop.toml"
        write_config(data, config)

        proc = subprocess.Popen([sys.executable, "-c", LISTENER, str(config),
                                 str(args.debounce)], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True,
                                env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert proc.stdout is not None
        url = f"http://127.0.0.1:{int(proc.stdout.readline())}"
        time.sleep(0.5)  # let it settle before the first sample
        rss_start = proc_status(proc.pid)["VmRSS"]
        cpu_start = proc_cpu(proc.pid)

        # What to send: Shopify order deliveries (a tenth of them repeats of an earlier
        # delivery id) and Rackbeat stock events, interleaved.
        plan: list[tuple[str, Any]] = []
        fresh: list[tuple[int, str]] = []  # (order index, webhook id) of first deliveries
        for i in range(total):
            if i % 10 == 9 and fresh:
                plan.append(("shopify", fresh[-1]))  # the last delivery once more
            elif i % 2:
                fresh.append((len(fresh) % len(orders), f"w-{i}"))
                plan.append(("shopify", fresh[-1]))
            else:
                plan.append(("rackbeat", skus[i // 2 % len(skus)]))

        samples: list[tuple[float, int, int]] = []
        stop_sampling = threading.Event()

        def sample() -> None:
            session = requests.Session()
            session.trust_env = False
            while not stop_sampling.is_set():
                try:
                    pending = session.get(f"{url}/healthz", timeout=5).json()["queue"]["pending"]
                except requests.RequestException:
                    pending = -1
                samples.append((time.monotonic(), proc_status(proc.pid)["VmRSS"], pending))
                stop_sampling.wait(0.25)

        local = threading.local()
        latencies: list[float] = []
        outcomes: collections.Counter[str] = collections.Counter()
        lock = threading.Lock()

        def send(i: int, start: float) -> None:
            time.sleep(max(0.0, start + i / args.rate - time.monotonic()))
            session = getattr(local, "session", None)
            if session is None:
                session = local.session = requests.Session()
                session.trust_env = False
            kind, what = plan[i]
            t0 = time.perf_counter()
            try:
                if kind == "shopify":
                    n, hook = what
                    order = orders[n]
                    body = json.dumps({"id": int(order["id"].rsplit("/", 1)[-1]),
                                       "admin_graphql_api_id": order["id"],
                                       "name": order["name"]}).encode()
                    answer = session.post(f"{url}/webhooks/shopify/dk", data=body, timeout=5,
                                          headers={"X-Shopify-Topic": "orders/paid",
                                                   "X-Shopify-Hmac-Sha256":
                                                       sign(body, WEBHOOK_SECRET),
                                                   "X-Shopify-Webhook-Id": hook})
                else:
                    answer = session.post(f"{url}/webhooks/rackbeat", timeout=5, json={
                        "item": what, "item_type": "product", "type": "stock"}, headers={
                        "Rackbeat-Webhook-Token": HOOK_TOKEN,
                        "Rackbeat-Webhook-Event": "item.stock_updated"})
                result = answer.json().get("result") if answer.status_code == 200 else \
                    f"HTTP {answer.status_code}"
            except requests.RequestException as exc:
                result = f"error {type(exc).__name__}"
            took = time.perf_counter() - t0
            with lock:
                latencies.append(took)
                outcomes[str(result)] += 1

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        # What the listener's work cost the twins, from the first delivery until drained; the
        # deliveries go out in real time, so the time is taken as measured (scale 1).
        with measure(sandbox, 1.0, child=False) as measured:
            start = time.monotonic()
            with ThreadPoolExecutor(args.clients) as pool:
                list(pool.map(lambda i: send(i, start), range(total)))
            sent_for = time.monotonic() - start
            drained_at = None
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                if samples and samples[-1][2] == 0 and samples[-1][0] > start + sent_for:
                    drained_at = samples[-1][0]
                    break
                time.sleep(0.1)
        stop_sampling.set()
        sampler.join(5)
        cpu = proc_cpu(proc.pid) - cpu_start
        hwm = proc_status(proc.pid)["VmHWM"]
        measured.cpu_s, measured.peak_rss_mb = cpu, round(hwm / 1024, 1)
        rss_end = proc_status(proc.pid)["VmRSS"]
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        proc.stdout.close()

        queue = DurableQueue(Store(Path(tmp) / "state.sqlite3"), limit=10)
        rows = queue.rows()
        failures = [(f["key"], f["reason"]) for f in queue.store.failures("sync-orders")]
        queue.close()
        refs = collections.Counter(o["other_reference"]
                                   for o in sandbox.rackbeat_app.snapshot()["orders"])

    ms = sorted(x * 1000 for x in latencies)

    def pct(p: float) -> float:
        return ms[min(len(ms) - 1, int(p / 100 * len(ms)))]

    accepted = outcomes["queued"] + outcomes["merged"]
    attempts = collections.Counter(r["attempts"] for r in rows)
    states = collections.Counter(r["state"] for r in rows)
    by_second: dict[int, int] = {}
    for t, rss, _ in samples:
        by_second[int(t - start)] = max(by_second.get(int(t - start), 0), rss)
    table = [
        ("deliveries sent", f"{total} ({args.rate}/s for {args.seconds} s; achieved "
                            f"{total / sent_for:.0f}/s), {args.clients} client threads"),
        ("answered 200", f"{sum(outcomes[k] for k in ('queued', 'merged', 'duplicate'))} "
                         f"(queued {outcomes['queued']}, merged {outcomes['merged']}, "
                         f"duplicate {outcomes['duplicate']})"),
        ("answered otherwise", str(sum(v for k, v in outcomes.items()
                                       if k not in ("queued", "merged", "duplicate")))
         + (f" {dict(outcomes)}" if set(outcomes) - {"queued", "merged", "duplicate"} else "")),
        ("latency p50 / p95 / p99 / max", f"{pct(50):.1f} / {pct(95):.1f} / {pct(99):.1f} / "
                                          f"{ms[-1]:.1f} ms (Shopify allows 5000 ms)"),
        ("latency mean", f"{statistics.mean(ms):.1f} ms"),
        ("queue depth, max", str(max((p for _, _, p in samples), default=0))),
        ("queue rows", f"{len(rows)} ({dict(states)}); deliveries they stand for "
                       f"{sum(r['deliveries'] for r in rows)} = accepted {accepted}"),
        ("times each row was taken", str(dict(sorted(attempts.items())))),
        ("orders transferred", f"{len(refs)} of {args.orders}; most copies of one: "
                               f"{max(refs.values(), default=0)}"),
        ("orders failed (journalled)", "; ".join(f"{k}: {r}" for k, r in failures) or "none"),
        ("drained after last send", f"{drained_at - (start + sent_for):.1f} s"
         if drained_at else "NOT DRAINED within 300 s"),
        ("listener RSS start / peak / end", f"{rss_start / 1024:.1f} / {hwm / 1024:.1f} / "
                                            f"{rss_end / 1024:.1f} MiB"),
        ("listener RSS by second (max)", ", ".join(f"{s}s:{v / 1024:.0f}"
                                                   for s, v in sorted(by_second.items())
                                                   if s <= args.seconds + 2)),
        ("listener CPU", f"{cpu:.2f} s ({cpu / total * 1000:.2f} ms per delivery, receiving "
                         "and processing)"),
    ]
    ok = (accepted + outcomes["duplicate"] == total and drained_at is not None
          and set(attempts) == {1} and states.get("done", 0) == len(rows)
          and len(refs) == args.orders and max(refs.values(), default=0) == 1)
    if args.json:
        burst = {**measured.figures(), "ok": ok, "answered": dict(outcomes),
                 "latency_ms": {k: round(v, 2) for k, v in (("p50", pct(50)), ("p95", pct(95)),
                                                             ("p99", pct(99)), ("max", ms[-1]))},
                 "queue_depth_max": max((p for _, _, p in samples), default=0),
                 "drained_after_s": round(drained_at - (start + sent_for), 2)
                 if drained_at else None, "orders_transferred": len(refs),
                 "listener_rss_start_mb": round(rss_start / 1024, 1),
                 "listener_rss_end_mb": round(rss_end / 1024, 1)}
        print(json.dumps(document(args.scale, {"burst": burst}, "burst", rate=args.rate,
                                  wall_is="real seconds: deliveries are sent in real time",
                                  seconds=args.seconds, deliveries=total, orders=args.orders),
                         indent=2))
        sys.exit(0 if ok else 1)
    width = max(len(k) for k, _ in table)
    print(f"\nrackshop listen: burst of webhook deliveries, loopback\n{'-' * (width + 60)}")
    for key, value in table:
        print(f"{key:<{width}}  {value}")
    print(f"\nverdict: {'OK' if ok else 'FAILED'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
