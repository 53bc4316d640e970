"""One shop's refused credentials stay that shop's failure (issue 23, case 2).

Shop dk's token is revoked in the Shopify twin (``POST /__sandbox/token``): every job still runs
shop se, reports dk as a failed row and exits 11 (SHOP_FAILED); ``status`` shows both shops. A
refused Rackbeat token still stops everything (one account).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from typer.testing import CliRunner

from rackshop import cli
from rackshop.errors import AuthError, ExitCode
from rackshop.sandbox.world import Sandbox
from rackshop.status import collect_status
from rackshop.sync.orders import sync_orders
from rackshop.sync.products import sync_products
from rackshop.sync.stock import sync_stock
from tests.e2e.conftest import World


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with Sandbox(seed=3, shops=2, products=12, orders=8, time_scale=50.0) as sandbox:
        w = World(sandbox, sandbox.write_config(tmp_path / "rackshop.toml"))
        try:
            yield w
        finally:
            w.runtime.close()


def revoke(world: World, shop: str) -> None:
    resp = requests.post(f"{world.sandbox.shopify.url}/__sandbox/token",
                         json={"shop": shop, "token": None}, timeout=5)
    assert resp.status_code == 200 and resp.json()["revoked"] is True


def by_shop(result: object) -> dict[str, object]:
    return {s.shop: s for s in result.shops}  # type: ignore[attr-defined]


def test_revoked_shop_fails_alone_in_sync_orders(world: World) -> None:
    revoke(world, "dk")
    result = sync_orders(world.runtime, world.config.shops)
    shops = by_shop(result)
    assert result.exit_code == ExitCode.SHOP_FAILED
    assert shops["dk"].outcome == "failed"  # type: ignore[attr-defined]
    assert "refused the credentials" in shops["dk"].error  # type: ignore[attr-defined]
    assert shops["se"].outcome != "failed"  # type: ignore[attr-defined]
    assert shops["se"].counts.get("transferred", 0) > 0  # type: ignore[attr-defined]
    se_orders = [o for o in world.sandbox.rackbeat_app.snapshot()["orders"]
                 if "se" in str(o.get("other_reference", ""))]
    assert se_orders

    status = collect_status(world.runtime, {"dk", "se"})
    runs = {(r["job"], r["shop"]): r for r in status["runs"]}
    assert runs[("sync-orders", "dk")]["outcome"] == "failed"
    assert "refused" in runs[("sync-orders", "dk")]["summary_text"]
    assert runs[("sync-orders", "se")]["outcome"] in ("ok", "partial")


def test_revoked_shop_fails_alone_in_sync_products(world: World) -> None:
    revoke(world, "dk")
    result = sync_products(world.runtime, world.config.shops)
    shops = by_shop(result)
    assert result.exit_code == ExitCode.SHOP_FAILED
    assert shops["dk"].outcome == "failed"  # type: ignore[attr-defined]
    assert shops["se"].outcome != "failed"  # type: ignore[attr-defined]


def test_revoked_shop_fails_alone_in_sync_stock(world: World) -> None:
    revoke(world, "dk")
    result = sync_stock(world.runtime, world.config.shops)
    shops = by_shop(result)
    assert shops["dk"].outcome == "failed"  # type: ignore[attr-defined]
    assert shops["se"].outcome != "failed", shops["se"].error  # type: ignore[attr-defined]


def test_every_shop_refused_is_an_auth_failure(world: World) -> None:
    revoke(world, "dk")
    revoke(world, "se")
    result = sync_orders(world.runtime, world.config.shops)
    assert result.exit_code == ExitCode.AUTH
    assert all(s.outcome == "failed" for s in result.shops)


def test_rackbeat_refusal_stops_every_shop(world: World) -> None:
    secret = world.config_path.parent / "rackshop-secrets" / "rackbeat-token"
    secret.write_text("wrong-token\n", encoding="utf-8")
    runtime = world.fresh_runtime()
    with pytest.raises(AuthError) as info:
        sync_orders(runtime, runtime.config.select(["dk"]))
    assert info.value.api == "rackbeat"
    with pytest.raises(AuthError) as info:  # stopped at the first shop: se is not tried
        sync_orders(runtime, runtime.config.shops)
    assert info.value.api == "rackbeat"
    assert {r["shop"] for r in collect_status(runtime, {"dk", "se"})["runs"]} == {"dk"}


def test_cli_exit_code_and_summary(world: World) -> None:
    revoke(world, "dk")
    out = CliRunner().invoke(cli.app, ["sync-orders", "--config", str(world.config_path)])
    assert out.exit_code == ExitCode.SHOP_FAILED, out.output
    assert "refused the credentials" in out.output
    assert "Traceback" not in out.output


def test_listener_polling_runs_the_other_shops(world: World, tmp_path: Path) -> None:
    from rackshop.listen.queue import DurableQueue
    from rackshop.listen.schedule import ORDERS, Schedule
    from rackshop.listen.worker import Worker
    from rackshop.store import Store

    revoke(world, "dk")
    queue = DurableQueue(Store(world.config.state.path), limit=10)
    schedule = Schedule({ORDERS: 300.0})
    worker = Worker(world.runtime, queue, schedule=schedule)
    try:
        worker._poll(ORDERS)
    finally:
        queue.close()
    assert schedule.status()[ORDERS]["last_outcome"] == "failed"  # retried soon
    error = worker.status()["last_error"]
    assert "shop dk" in error and "refused the credentials" in error
    se_orders = [o for o in world.sandbox.rackbeat_app.snapshot()["orders"]
                 if "se" in str(o.get("other_reference", ""))]
    assert se_orders  # se's orders reached Rackbeat all the same


# -- a narrowed app: the twin refuses what a missing scope guards, as Shopify does -----------------


def narrow(world: World, shop: str, scopes: list[str] | None) -> None:
    resp = requests.post(f"{world.sandbox.shopify.url}/__sandbox/scopes",
                         json={"shop": shop, "scopes": scopes}, timeout=5)
    assert resp.status_code == 200


FULL = ["read_products", "write_products", "read_inventory", "write_inventory", "read_locations",
        "read_orders", "write_orders", "read_publications", "write_publications"]


def test_a_shop_whose_app_lacks_write_inventory_fails_alone_naming_the_scope(
        world: World) -> None:
    narrow(world, "dk", [s for s in FULL if s != "write_inventory"])
    marks = world.marks()
    result = sync_stock(world.runtime, world.config.shops)
    shops = by_shop(result)
    assert result.exit_code == ExitCode.SHOP_FAILED
    error = shops["dk"].error  # type: ignore[attr-defined]
    assert "access denied" in error and "write_inventory" in error, error
    assert shops["se"].outcome != "failed"  # type: ignore[attr-defined]
    writes = [e for e in world.sandbox.shopify.log.entries(marks[0])
              if e.access == "write" and e.shop == "dk" and e.status == 200
              and e.note != "access denied"]
    assert writes == []  # nothing of dk's was changed
    narrow(world, "dk", None)
    again = sync_stock(world.runtime, world.config.shops)
    assert again.exit_code == ExitCode.OK, by_shop(again)


def test_a_refused_bulk_read_is_the_shops_scope_failure_not_a_retry_hint(world: World) -> None:
    narrow(world, "dk", [s for s in FULL if s not in ("read_inventory", "write_inventory")])
    result = sync_stock(world.runtime, world.config.shops)
    shops = by_shop(result)
    assert result.exit_code == ExitCode.SHOP_FAILED
    error = shops["dk"].error  # type: ignore[attr-defined]
    assert "access denied" in error and "rerun" not in error, error
    assert shops["se"].outcome != "failed"  # type: ignore[attr-defined]
