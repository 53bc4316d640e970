"""No secret value appears in any log line, error, stored row or output (issue: secrets)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from rackshop.sandbox.seed import shop_token
from rackshop.sandbox.world import RACKBEAT_TOKEN, WEBHOOK_SECRET, Sandbox
from rackshop.store import Store

ROOT = Path(__file__).resolve().parents[2]


def _run(args: list[str]) -> str:
    proc = subprocess.run([sys.executable, "-m", "rackshop", *args], capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False,
                          timeout=120)
    return proc.stdout + proc.stderr


def test_no_secret_anywhere(tmp_path: Path) -> None:
    secrets = [RACKBEAT_TOKEN, WEBHOOK_SECRET, shop_token("dk"), shop_token("se")]
    with Sandbox(seed=5, shops=2, products=12, orders=6, time_scale=50.0) as sandbox:
        cfg = sandbox.write_config(tmp_path / "rackshop.toml")
        log_file = tmp_path / "rackshop.log"
        text = cfg.read_text(encoding="utf-8")
        cfg.write_text(text + f'\n[log]\nfile = "{log_file}"\n', encoding="utf-8")
        outputs = [
            _run(["check", "--config", str(cfg), "--verbose"]),
            _run(["sync-orders", "--config", str(cfg), "--log-format", "json", "--debug"]),
            _run(["sync-orders", "--config", str(cfg), "--dry-run", "--verbose"]),
            _run(["sync-stock", "--config", str(cfg), "--log-format", "json", "--debug"]),
            _run(["sync-fulfillments", "--config", str(cfg), "--log-format", "json",
                  "--debug"]),
            _run(["check", "--contract", "--config", str(cfg), "--format", "json"]),
            _run(["status", "--config", str(cfg), "--log-format", "json"]),
            _run(["status", "--config", str(cfg)]),
        ]
        # and the failure paths: every token refused by the twins
        bad = tmp_path / "bad"
        bad.mkdir()
        for secret_file in (tmp_path / "rackshop-secrets").iterdir():
            (bad / secret_file.name).write_text(secret_file.read_text().strip() + "x\n")
        bad_cfg = tmp_path / "bad.toml"
        bad_cfg.write_text(cfg.read_text().replace(str(tmp_path / "rackshop-secrets"), str(bad)))
        outputs.append(_run(["check", "--config", str(bad_cfg), "--debug"]))
        outputs.append(_run(["sync-orders", "--config", str(bad_cfg), "--debug",
                             "--log-format", "json"]))
        outputs.append(_run(["sync-stock", "--config", str(bad_cfg), "--debug"]))
        outputs.append(_run(["sync-fulfillments", "--config", str(bad_cfg), "--debug"]))
        # an API failing on every request: the errors carry URLs and statuses, never tokens
        sandbox.set_faults(1.0, kinds=("5xx",))
        cfg.write_text(cfg.read_text() + "\n[http]\nattempts = 2\nbackoff_seconds = 0.01\n")
        outputs.append(_run(["sync-orders", "--config", str(cfg), "--verbose", "--debug"]))
        requests_log = json.dumps([server.log.as_json() for server in
                                   (sandbox.shopify, sandbox.rackbeat)])

    everything = "\n".join(outputs)
    assert "refused the credentials" in everything  # the failure paths really ran
    stored = json.dumps(Store(tmp_path / "rackshop-state.sqlite3").dump(), default=str)
    logged = log_file.read_text(encoding="utf-8")  # [log] file from the config is written
    assert "Rackbeat order" in logged
    for secret in secrets:
        for where, text in (("output", everything), ("state store", stored),
                            ("log file", logged), ("twin request log", requests_log)):
            assert secret not in text, f"a secret leaked into the {where}"
            assert secret + "x" not in text
