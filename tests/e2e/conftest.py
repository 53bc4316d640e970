"""End-to-end fixtures: both twins running on 127.0.0.1 with a config pointing at them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from rackshop.config import Config, load_config
from rackshop.runtime import Runtime
from rackshop.sandbox.world import Sandbox


class World:
    """A running sandbox plus a loaded config and a runtime built from it."""

    def __init__(self, sandbox: Sandbox, config_path: Path) -> None:
        self.sandbox = sandbox
        self.config_path = config_path
        self.config: Config = load_config(config_path)
        self.runtime = Runtime(self.config)

    def fresh_runtime(self) -> Runtime:
        """A new runtime on the same config and store (as a new process would build)."""
        self.runtime.close()
        self.runtime = Runtime(load_config(self.config_path))
        return self.runtime

    def marks(self) -> tuple[int, int]:
        return self.sandbox.shopify.log.mark(), self.sandbox.rackbeat.log.mark()

    def writes_since(self, marks: tuple[int, int]) -> tuple[int, int]:
        return (self.sandbox.shopify.log.counters(marks[0])["writes"],
                self.sandbox.rackbeat.log.counters(marks[1])["writes"])


@pytest.fixture(autouse=True)
def eventual_consistency(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every Shopify twin of these tests lags like Shopify (search, derived totals, bulk
    operations; issue 20), in this process and in the jobs it starts as subprocesses. A value
    already set (longer lags, or 0) is kept."""
    monkeypatch.setenv("RACKSHOP_SANDBOX_CONSISTENCY",
                       os.environ.get("RACKSHOP_SANDBOX_CONSISTENCY") or "1")


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with Sandbox(seed=3, shops=2, products=12, orders=0, time_scale=50.0) as sandbox:
        path = sandbox.write_config(tmp_path / "rackshop.toml")
        w = World(sandbox, path)
        try:
            yield w
        finally:
            w.runtime.close()
