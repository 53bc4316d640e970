"""Run a simulation: the twins, the timetable, the events, the quiet points, the checks.

One simulated day is: every event of the day applied at its moment, and between them the jobs
on the README's cron timetable (:data:`~rackshop.sandbox.simulate.clock.CRON`), each pass with the
simulated clock as its ``now``. Jobs run **in-process** (the same functions the CLI calls, with a
:class:`~rackshop.runtime.Runtime` built from the written config) because that is tens of times
faster than a process per pass; only a *killed* pass (``ops.kill``) runs as a real
``python -m rackshop <job>`` subprocess, killed with SIGKILL after the event's delay. Two
overlapping jobs (``ops.overlap``) run in two threads with a runtime each, as two cron entries
would.

At the end of each day comes the quiet point: faults off, tokens restored, and every job run
twice (every ``sync-stock`` pass compares with Shopify's levels, so hand edits are repaired
by the first round). The second round's writes are counted in the twins' request logs, then
the invariants (:mod:`.invariants`) are checked against the twins' state.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rackshop.config import Config, load_config, write_config
from rackshop.errors import ExitCode, LockHeldError, RackshopError, exit_code_for
from rackshop.runtime import Runtime
from rackshop.sandbox.simulate.apply import Applier
from rackshop.sandbox.simulate.clock import DAY, SimClock, timetable
from rackshop.sandbox.simulate.events import Catalogue, Event, event_log, generate, log_digest
from rackshop.sandbox.simulate.invariants import JobRun, ShopView, World, check_all
from rackshop.sandbox.simulate.report import FirstViolation, SimReport
from rackshop.sync.runner import ProgressSink

log = logging.getLogger("rackshop.simulate")

#: Seconds the client waits for an answer in the simulation, and how long a ``slow`` fault
#: holds its answer (longer: a slow answer is a timeout, as the issue's fault list means).
CLIENT_TIMEOUT = 1.0
SLOW_SECONDS = 1.1


@dataclass
class SimOptions:
    """What to simulate.

    Attributes:
        seed: Seed of the events (and of the demo world's data).
        days: Simulated days; the invariants are checked after each.
        shops: Shops of the demo world (ignored with ``config``).
        faults: Background fault rate on both twins; above 0 also fault windows, a revoked
            token, overlapping and killed passes.
        products: Size of the demo world's catalogue.
        orders_per_day: Orders per shop and day (default the generator's rate).
        config: A user's config: its shops and settings, served by the twins.
        day_seconds: Length of a simulated "day" (tests shorten it to a few hours).
        time_scale: Rate-limit time scale of the twins.
        kills: Allow killed passes (they need a subprocess each).
    """

    seed: int = 1
    days: int = 3
    shops: int = 3
    faults: float = 0.0
    products: int = 40
    orders_per_day: float | None = None
    config: Path | None = None
    day_seconds: int = DAY
    time_scale: float = 200.0
    kills: bool = True


class _NoProgress:
    """No progress bar (tests, scripts): the runner reports to a sink that ignores it."""

    def start(self, phase: str, total: int | None) -> None: ...
    def advance(self, n: int = 1) -> None: ...
    def finish(self) -> None: ...


def catalogue_of(sandbox: Any) -> tuple[Catalogue, dict[str, set[str]]]:
    """What the generator may pick from, and each shop's SKUs already on several variants."""
    rb = sandbox.rackbeat_app.snapshot()
    shops = sandbox.shopify_app.snapshot()["shops"]
    shop_skus: dict[str, list[str]] = {}
    dups: dict[str, set[str]] = {}
    for name, state in sorted(shops.items()):
        products = {p["id"] for p in state["products"]}
        counts: dict[str, int] = {}
        for v in state["variants"]:
            if v.get("sku") and v.get("productId") in products:
                counts[v["sku"]] = counts.get(v["sku"], 0) + 1
        shop_skus[name] = sorted(s for s, n in counts.items() if n == 1)
        dups[name] = {s.casefold() for s, n in counts.items() if n > 1}
    rb_skus = sorted(str(i["number"]) for i in rb["products"] if i.get("inventory_enabled"))
    locations = sorted(int(loc["number"]) for loc in rb["locations"])
    boms = sorted(str(i["number"]) for i in rb["lots"])
    return Catalogue(shop_skus, rb_skus, locations, boms), dups


class Simulation:
    """One run; :func:`run_simulation` is the way in."""

    def __init__(self, opts: SimOptions, workdir: Path, progress: ProgressSink | None) -> None:
        self.opts = opts
        self.workdir = workdir
        self.progress: ProgressSink = progress or _NoProgress()
        self.clock = SimClock()
        self.report = SimReport(opts.seed, opts.days, [], opts.faults)
        self.events: list[Event] = []
        self.day_runs: list[JobRun] = []
        self.lock_expected: set[str] = set()

    # -- set-up ---------------------------------------------------------------------------------

    def _config(self, sandbox: Any) -> Path:
        path = (self.workdir / "rackshop.toml").resolve()
        data = sandbox.config_dict(path.parent / "rackshop-secrets",
                                   path.parent / "rackshop-state.sqlite3")
        data["rackbeat"]["timeout_seconds"] = CLIENT_TIMEOUT
        if self.opts.config is not None:
            from rackshop.sandbox.simulate.userconfig import merge_user_config

            data = merge_user_config(self.opts.config, data)
        write_config(data, path)
        return path

    def _runtime(self, config: Config) -> Runtime:
        scale = self.opts.time_scale
        return Runtime(config, sleep=lambda s: time.sleep(min(max(s, 0.0) / scale, 0.05)))

    # -- jobs -------------------------------------------------------------------------------------

    def run_job(self, runtime: Runtime, job: str) -> JobRun:
        """One pass of ``job`` in-process, as its CLI command would run it."""
        from rackshop.sync.fulfillments import sync_fulfillments
        from rackshop.sync.orders import sync_orders
        from rackshop.sync.products import sync_products
        from rackshop.sync.stock import sync_stock

        shops = runtime.config.select(())
        self.report.passes += 1
        try:
            if job == "sync-orders":
                result = sync_orders(runtime, shops, now=self.clock.now)
            elif job == "sync-stock":
                result = sync_stock(runtime, shops, now=self.clock.now)
            elif job == "sync-fulfillments":
                result = sync_fulfillments(runtime, shops, now=self.clock.now)
            else:
                result = sync_products(runtime, shops, now=self.clock.now)
        except LockHeldError as exc:
            return JobRun(job, int(ExitCode.LOCKED), errors=[("", exc.message)])
        except RackshopError as exc:
            return JobRun(job, int(exit_code_for(exc)), errors=[("", exc.message)])
        except Exception as exc:  # a bug: reported as a violation, the simulation goes on
            log.debug("job %s crashed", job, exc_info=True)
            return JobRun(job, int(ExitCode.INTERNAL), crashed=f"{type(exc).__name__}: {exc}")
        return JobRun(job, int(result.exit_code),
                      failures=[(s.shop, rec, why) for s in result.shops
                                for rec, why in s.failures],
                      errors=[(s.shop, s.error) for s in result.shops if s.error])

    def _record(self, run: JobRun) -> None:
        key = f"{run.job} exit {run.exit_code}" + (" (killed)" if run.killed else "")
        self.report.exits[key] = self.report.exits.get(key, 0) + 1
        self.day_runs.append(run)

    def _overlap(self, config: Config, runtime: Runtime, jobs: list[str]) -> None:
        """Two jobs at once, each with its own runtime (as two cron entries)."""
        other = self._runtime(config)
        results: list[JobRun] = []

        def second() -> None:
            results.append(self.run_job(other, jobs[1]))

        thread = threading.Thread(target=second, name="simulate-overlap")
        thread.start()
        try:
            first = self.run_job(runtime, jobs[0])
        finally:
            thread.join()
            other.close()
        self.report.overlaps += 1
        for run in (first, *results):
            run.expected = (int(ExitCode.LOCKED),)
            self._record(run)

    def _kill(self, config: Config, config_path: Path, job: str, after_ms: int) -> None:
        """A real ``rackshop <job>`` process, killed with SIGKILL ``after_ms`` into its pass.

        The pass has begun when the process holds a job lock (its PID is written in the lock
        file, ``<state>.locks/``); the delay counts from then, so the kill lands in the work and
        not in Python's start-up.
        """
        proc = subprocess.Popen(
            [sys.executable, "-m", "rackshop", job, "--config", str(config_path),
             "--log-format", "json"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        locks = Path(f"{config.state.path}.locks")
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            if any(str(proc.pid) in _read(p) for p in locks.glob("*.lock")):
                break
            time.sleep(0.01)
        try:
            proc.wait(timeout=after_ms / 1000)
            killed = False
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            killed = True
        self.report.passes += 1
        self.report.kills += int(killed)
        code = proc.returncode if proc.returncode >= 0 else -int(proc.returncode)
        # A run that finished before the kill came is an ordinary run of the CLI: its exit code
        # counts, but its failures went to a log this process does not parse.
        self._record(JobRun(job, code, killed=True))

    # -- the run ---------------------------------------------------------------------------

    def run(self) -> SimReport:
        from rackshop.sandbox.world import Sandbox

        started = time.perf_counter()
        opts = self.opts
        self.workdir.mkdir(parents=True, exist_ok=True)
        shops = opts.shops
        if opts.config is not None:
            from rackshop.sandbox.simulate.userconfig import user_shop_names

            shops = len(user_shop_names(opts.config))
        sandbox = Sandbox(seed=opts.seed, shops=shops, products=opts.products, orders=4,
                          time_scale=opts.time_scale, wall_clock=self.clock)
        if opts.config is not None:
            from rackshop.sandbox.simulate.userconfig import rename_shops

            rename_shops(sandbox, user_shop_names(opts.config), opts.config)
        for server in (sandbox.shopify, sandbox.rackbeat):
            server.faults.slow_seconds = SLOW_SECONDS
        with sandbox:
            config_path = self._config(sandbox)
            config = load_config(config_path)
            self.report.shops = [s.name for s in config.shops]
            catalogue, dups = catalogue_of(sandbox)
            end = opts.days * opts.day_seconds
            stream = generate(opts.seed, opts.days, catalogue, faults=opts.faults,
                              orders_per_day=opts.orders_per_day)
            # The log is the whole stream of the seed and days; a shortened day (tests) runs
            # only its first hours, and without kills the ops.kill events are passed over.
            self.report.event_digest = log_digest(stream)
            (self.workdir / "events.jsonl").write_text(event_log(stream), encoding="utf-8")
            self.events = [e for e in stream if e.at % DAY < opts.day_seconds
                           and (opts.kills or e.kind != "ops.kill")]
            self.report.events = len(self.events)
            applier = Applier(sandbox, base_fault_rate=opts.faults)
            runtime = self._runtime(config)
            try:
                self.progress.start("simulated hours", end // 3600)
                for day in range(opts.days):
                    self._day(day, sandbox, config, config_path, runtime, applier, dups)
                self.progress.finish()
            finally:
                runtime.close()
            self.report.skipped_events = len(applier.skipped)
            for name, server in (("shopify", sandbox.shopify), ("rackbeat", sandbox.rackbeat)):
                counters = server.log.counters()
                self.report.api[name] = {k: counters[k]
                                         for k in ("requests", "writes", "throttled")}
        self.report.runtime_seconds = time.perf_counter() - started
        return self.report

    def _day(self, day: int, sandbox: Any, config: Config, config_path: Path, runtime: Runtime,
             applier: Applier, dups: dict[str, set[str]]) -> None:
        span = self.opts.day_seconds
        start = day * span
        # events keep their time of day; a shortened day only keeps its first hours
        todays = [(start + e.at % DAY, e) for e in self.events if e.day - 1 == day]
        ticks = timetable(start, start + span)
        self.day_runs = []
        applier.resume()
        queue: list[tuple[int, int, Any]] = [(at, 0, ev) for at, ev in todays]
        queue += [(t.at, 1, t.job) for t in ticks]
        queue.sort(key=lambda q: (q[0], q[1]))
        hour = start // 3600
        for at, kind, what in queue:
            # A slow answer's write lands in real time: let it land before time moves on, as
            # it would in the minutes between two real cron passes.
            sandbox.shopify.wait_idle()
            sandbox.rackbeat.wait_idle()
            self.clock.advance_to(at)
            applier.expire(at)
            while hour < at // 3600:
                hour += 1
                self.progress.advance(1)
            if kind == 1:
                self._record(self.run_job(runtime, what))
            elif what.kind == "ops.overlap":
                self._overlap(config, runtime, list(what.args["jobs"]))
            elif what.kind == "ops.kill":
                self._kill(config, config_path, what.args["job"], int(what.args["after_ms"]))
            else:
                applier.apply(what, at)
        while hour < (start + span) // 3600:
            hour += 1
            self.progress.advance(1)
        self._quiet_point(day, sandbox, config, runtime, applier, dups, start + span)

    def _quiet_point(self, day: int, sandbox: Any, config: Config, runtime: Runtime,
                     applier: Applier, dups: dict[str, set[str]], at: int) -> None:
        applier.quiet()
        jobs = ("sync-products", "sync-orders", "sync-fulfillments", "sync-stock")
        self.clock.advance_to(at)
        for job in jobs:
            self._record(self.run_job(runtime, job))
        self.clock.advance_to(at + 60)
        marks = (sandbox.shopify.log.mark(), sandbox.rackbeat.log.mark())
        before = {o["number"] for o in sandbox.rackbeat_app.snapshot()["orders"]}
        for job in jobs:
            self._record(self.run_job(runtime, job))
        writes: dict[str, int] = {}
        for order in sandbox.rackbeat_app.snapshot()["orders"]:
            if order["number"] not in before:  # name what the second round created
                key = f"rackbeat order {order['number']} for {order.get('other_reference')}"
                writes[key] = 1
        for label, server, mark in (("shopify", sandbox.shopify, marks[0]),
                                    ("rackbeat", sandbox.rackbeat, marks[1])):
            for entry in server.log.entries(mark):
                if entry.access == "write":
                    key = f"{label} {entry.label}"
                    writes[key] = writes.get(key, 0) + 1
        world = world_of(sandbox, config, runtime, self.day_runs, writes, dups)
        found = check_all(world)
        for name, violations in found.items():
            self.report.violations[name].append(len(violations))
            if violations and not any(f.invariant == name for f in self.report.first):
                v = violations[0]
                touched = list(dict.fromkeys(applier.touched.get(v.record, [])))
                by_seq = {e.seq: e for e in self.events}
                self.report.first.append(FirstViolation(
                    name, self.opts.seed, day + 1, v.record, v.detail,
                    [by_seq[s].describe() for s in touched[:20] if s in by_seq]))
        self.report.completed_days = day + 1
        self.clock.advance_to(at + 120)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def world_of(sandbox: Any, config: Config, runtime: Runtime, runs: list[JobRun],
             writes: dict[str, int], dups: dict[str, set[str]]) -> World:
    """The invariants' view: both twins' state, the shops' settings, what needs attention."""
    shop_states = sandbox.shopify_app.snapshot()["shops"]
    views = []
    for shop in config.shops:
        if not shop.enabled:
            continue
        stock = shop.stock
        master = shop.products.master
        fields = tuple(shop.products.fields if master == "rackbeat"
                       else shop.products.shopify_fields if master == "shopify" else ())
        views.append(ShopView(
            name=shop.name, state=shop_states.get(shop.name, {}), master=master,
            fields=fields, prices_include_tax=shop.prices_include_tax,
            orders_enabled=shop.orders.enabled,
            transfer_on=shop.orders.transfer_on, include_test=shop.orders.include_test_orders,
            stock_enabled=stock.enabled,
            stock_targets={t.shopify_location: t.rackbeat_locations for t in stock.targets},
            buffer=stock.buffer,
            currency_rate=getattr(shop.products, "currency_rate", None),
            price_rounding=str(getattr(shop.products, "price_rounding", "cent")),
            fulfillments_enabled=shop.fulfillments.enabled))
    attention = {(f["shop"], f["key"]): f["reason"] for f in runtime.store().failures()}
    return World(rackbeat=sandbox.rackbeat_app.snapshot(), shops=views,
                 rackbeat_includes_vat=config.rackbeat.prices_include_vat,
                 attention=attention, runs=list(runs), quiet_writes=writes,
                 seeded_duplicates=dups)


def run_simulation(opts: SimOptions, workdir: Path,
                   progress: ProgressSink | None = None) -> SimReport:
    """Run ``opts.days`` simulated days in ``workdir`` and check the invariants after each.

    Args:
        opts: What to simulate.
        workdir: Where the config, its secrets and the state store are written.
        progress: Receives ``start``/``advance``/``finish`` per simulated hour.

    Returns:
        The report; ``report.ok`` when every invariant held every day.
    """
    sim = Simulation(opts, workdir, progress)
    quiet: Callable[[], None] | None = None
    rackshop_log = logging.getLogger("rackshop")
    if rackshop_log.getEffectiveLevel() < logging.ERROR:
        level = rackshop_log.level
        rackshop_log.setLevel(logging.CRITICAL)  # the jobs' own logs would drown the bar

        def quiet() -> None:
            rackshop_log.setLevel(level)
    try:
        return sim.run()
    finally:
        if quiet:
            quiet()
