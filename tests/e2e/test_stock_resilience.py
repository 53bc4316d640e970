"""sync-stock killed at many points and under faults: final levels right, no batch twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from rackshop.config import load_config
from rackshop.errors import ApiUnavailableError, ExitCode
from rackshop.runtime import Runtime
from rackshop.sandbox.world import Sandbox
from rackshop.sync.stock import sync_stock
from tests.e2e.test_sync_stock import rackbeat_available, shopify_levels

ROOT = Path(__file__).resolve().parents[2]
CLOSURES = {"dk": {1}, "se": {1, 2, 21}, "no": {2, 21}}  # the flat world's stock settings


def _config(sandbox: Sandbox, tmp: Path) -> Path:
    path = sandbox.write_config(tmp / "rackshop.toml")
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    data["http"] = {"attempts": 8, "backoff_seconds": 0.01, "max_backoff_seconds": 0.05}
    data["rackbeat"]["timeout_seconds"] = 1
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return path


def _assert_levels_and_batches(sandbox: Sandbox) -> int:
    """Every shop shows its target; every batch key was applied once. Returns replays."""
    replays = 0
    for shop, closure in CLOSURES.items():
        want = rackbeat_available(sandbox, closure)
        levels = shopify_levels(sandbox, shop)
        wrong = {sku: (q, want[sku]) for (sku, _), q in levels.items()
                 if sku in want and q != want[sku]}
        assert not wrong, f"{shop}: {len(wrong)} levels off, e.g. {list(wrong.items())[:3]}"
        log = sandbox.shopify_app.snapshot()["shops"][shop]["idempotency"]
        for entry in log:
            replays += int(entry.get("replays", 0))
        keys = [e["key"] for e in log]
        assert len(keys) == len(set(keys))
    return replays


@pytest.mark.slow
def test_killed_at_20_points_then_rerun(tmp_path: Path) -> None:
    with Sandbox(shops=3, flat=1500, time_scale=100.0) as sandbox:
        cfg = _config(sandbox, tmp_path)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        cmd = [sys.executable, "-m", "rackshop", "sync-stock", "--config", str(cfg)]

        def requests() -> int:
            return sandbox.shopify.log.mark() + sandbox.rackbeat.log.mark()

        kills = 0
        for step in [2, 3, 4, 5, 6] * 4:
            target = requests() + step
            proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            while proc.poll() is None and requests() < target:
                time.sleep(0.001)
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                kills += 1
            proc.wait()
        assert kills >= 20
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        assert done.returncode == ExitCode.OK, done.stdout + done.stderr
        _assert_levels_and_batches(sandbox)
        marks = sandbox.shopify.log.mark()
        subprocess.run(cmd, env=env, capture_output=True, check=True)
        assert sandbox.shopify.log.counters(marks)["writes"] == 0


@pytest.mark.slow
def test_faults_of_every_kind(tmp_path: Path) -> None:
    with Sandbox(shops=3, flat=1200, time_scale=100.0) as sandbox:
        cfg = _config(sandbox, tmp_path)
        sandbox.shopify.faults.configure_json({"seed": 5, "slow_seconds": 1.3, "rules": [
            {"match": "mutation inventorySetQuantities", "kinds": ["lost"], "rate": 0.3},
            {"rate": 0.1}]})
        sandbox.rackbeat.faults.configure_json({"seed": 6, "slow_seconds": 1.3,
                                                "rules": [{"rate": 0.1}]})
        for _ in range(10):
            runtime = Runtime(load_config(cfg))
            try:
                result = sync_stock(runtime, runtime.config.select(()))
            except ApiUnavailableError:
                continue
            finally:
                runtime.close()
            if result.exit_code == ExitCode.OK:
                break
        injected = sandbox.shopify.faults.as_json()["injected"]
        sandbox.set_faults(0)
        assert result.exit_code == ExitCode.OK
        assert injected.get("lost", 0) >= 1, injected
        replays = _assert_levels_and_batches(sandbox)
        assert replays >= 1  # lost answers were retried with the same key, applied once


@pytest.mark.slow
@pytest.mark.parametrize("after_writes", [1, 2])
def test_killed_at_the_first_stock_write_then_rerun_sends_the_journalled_key(
        tmp_path: Path, after_writes: int) -> None:
    """SIGKILL as the first (then the second) stock write reaches Shopify: the rerun sends the
    journalled write again with its own key (Shopify applies it once), then converges."""
    import sqlite3

    with Sandbox(shops=3, flat=600, time_scale=100.0) as sandbox:
        cfg = _config(sandbox, tmp_path)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        cmd = [sys.executable, "-m", "rackshop", "sync-stock", "--config", str(cfg)]
        start = sandbox.shopify.log.mark()

        def writes() -> int:
            return sandbox.shopify.log.counters(start)["by_label"].get(
                "mutation inventorySetQuantities", 0)

        # The twin holds the answer of the write the kill waits for (it is applied and logged),
        # so the kill lands while that answer is outstanding however busy the machine is.
        killed = threading.Event()
        log_add = sandbox.shopify.log.add

        def add(entry: Any) -> None:
            log_add(entry)
            if entry.label == "mutation inventorySetQuantities" and writes() >= after_writes:
                killed.wait(5.0)

        sandbox.shopify.log.add = add  # type: ignore[method-assign]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        while proc.poll() is None and writes() < after_writes:
            time.sleep(0.0005)
        assert proc.poll() is None, "the pass ended before it was killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        killed.set()
        state = load_config(cfg).state.path
        with sqlite3.connect(state) as db:
            sent = [r[0] for r in db.execute(
                "SELECT idempotency_key FROM stock_batches WHERE state = 'sent'")]
        assert sent, "the write was journalled before it left"
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        assert done.returncode == ExitCode.OK, done.stdout + done.stderr
        _assert_levels_and_batches(sandbox)
        with sqlite3.connect(state) as db:
            states = dict(db.execute("SELECT idempotency_key, state FROM stock_batches"))
        assert all(states[k] in ("done", "refused") for k in sent), states
        twin_keys = {e["key"]: e for shop in ("dk", "se", "no")
                     for e in sandbox.shopify_app.snapshot()["shops"][shop]["idempotency"]}
        for key in sent:
            assert key in twin_keys  # sent again with the journalled key ...
            assert twin_keys[key]["replays"] <= 1  # ... and applied once
