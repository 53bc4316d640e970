"""The job commands through the CLI against the sandbox: JSON output, dry runs, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from rackshop.errors import ExitCode
from rackshop.sandbox.world import Sandbox

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rackshop", *args], capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120,
                          check=False)


def test_json_mode_is_machine_readable_on_both_streams(tmp_path: Path) -> None:
    with Sandbox(seed=4, shops=2, products=12, orders=6, time_scale=50.0) as sandbox:
        cfg = str(sandbox.write_config(tmp_path / "rackshop.toml"))
        for job in ("sync-products", "sync-orders", "sync-stock"):
            proc = run(job, "--config", cfg, "--log-format", "json")
            assert proc.returncode == ExitCode.OK, proc.stderr
            summary = json.loads(proc.stdout)  # one JSON document, nothing else
            assert summary["job"] == job and summary["exit_code"] == 0
            assert {s["shop"] for s in summary["shops"]} == {"dk", "se"}
            for line in proc.stderr.splitlines():
                record = json.loads(line)
                assert {"ts", "level", "logger", "msg"} <= set(record)
        orders = json.loads(run("sync-orders", "--config", cfg, "--log-format", "json").stdout)
        assert all(s["counts"].get("transferred", 0) == 0 for s in orders["shops"])


def test_dry_runs_print_plans_and_write_nothing(tmp_path: Path) -> None:
    with Sandbox(seed=4, shops=2, products=12, orders=6, time_scale=50.0) as sandbox:
        cfg = str(sandbox.write_config(tmp_path / "rackshop.toml"))
        marks = sandbox.shopify.log.mark(), sandbox.rackbeat.log.mark()
        orders = run("sync-orders", "--config", cfg, "--dry-run", "--shop", "dk")
        assert orders.returncode == ExitCode.OK, orders.stderr
        assert "planned" in orders.stdout and "line incl VAT" in orders.stdout
        stock = run("sync-stock", "--config", cfg, "--dry-run")
        assert "stock changes (dry run)" in stock.stdout
        products = run("sync-products", "--config", cfg, "--dry-run")
        assert "product changes (dry run)" in products.stdout
        assert sandbox.shopify.log.counters(marks[0])["writes"] == 0
        assert sandbox.rackbeat.log.counters(marks[1])["writes"] == 0
        assert not (tmp_path / "rackshop-state.sqlite3").exists()
