"""init-sync registers only stock that exists nowhere in Rackbeat for the shop (issue 23, case 1).

On the sandbox's own world (dk: Lager <- 1, Butik <- 2 with its child 21; se: every location):

* units in the child location 21 are Rackbeat's, though location 2 itself holds none: neither the
  go-live nor ``--again`` after sync-stock registers them a second time at 2;
* a second shop's go-live imports products and links, not stock, unless ``--stock-for SKU``.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from rackshop.errors import ExitCode
from rackshop.sandbox.world import Sandbox
from rackshop.sync.initial import apply_init_sync, preview_init_sync
from rackshop.sync.stock import sync_stock
from tests.e2e.conftest import World

ITEMS = """query($q: String!) { productVariants(first: 250, query: $q) {
  nodes { sku inventoryItem { id } } } }"""


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with Sandbox(seed=3, shops=2, products=12, orders=0, time_scale=50.0) as sandbox:
        sandbox.shopify_app.bulk_polls_to_complete = 1
        w = World(sandbox, sandbox.write_config(tmp_path / "rackshop.toml"))
        try:
            yield w
        finally:
            w.runtime.close()


def items(world: World, shop: str) -> dict[str, str]:
    """SKU -> inventory item gid, for SKUs held by one variant."""
    nodes = world.sandbox.shopify_app.execute(shop, ITEMS, {"q": "sku:*"})["data"][
        "productVariants"]["nodes"]
    seen: dict[str, list[str]] = {}
    for n in nodes:
        if n["sku"]:
            seen.setdefault(n["sku"], []).append(n["inventoryItem"]["id"])
    return {sku: ids[0] for sku, ids in seen.items() if len(ids) == 1}


def location(world: World, shop: str, name: str) -> str:
    return next(gid for gid, loc in world.sandbox.shopify_app.shop(shop).locations.items()
                if loc["name"] == name)


def set_rackbeat(world: World, sku: str, per_location: dict[int, float]) -> None:
    for loc in (1, 2, 21):
        world.sandbox.rackbeat_app.set_stock(sku, loc, per_location.get(loc, 0))


def set_shopify(world: World, shop: str, sku: str, item: str, per_location: dict[str, int]
                ) -> None:
    for name, qty in per_location.items():
        world.sandbox.shopify_app.set_available(shop, item, location(world, shop, name), qty)


def rackbeat_at(world: World, sku: str, loc: int) -> float:
    return float(world.sandbox.rackbeat_app.stock(sku, loc)["stock_quantity"])


def stock_rows(preview: Any, sku: str) -> list[dict[str, Any]]:
    return [r for r in preview.stock() if r["sku"] == sku]


def go_live(world: World, shop: str, tmp: Path, **options: Any) -> tuple[Any, Any]:
    runtime = world.fresh_runtime()
    cfg = runtime.config.shop(shop)
    with preview_init_sync(runtime, cfg, **options) as preview:
        kept = {s: stock_rows(preview, s) for s in {r["sku"] for r in preview.stock()}}
        result = apply_init_sync(runtime, cfg, preview, report_path=tmp / f"{shop}.csv")
    return kept, result


def test_child_location_stock_is_not_registered_again(world: World, tmp_path: Path) -> None:
    dk = items(world, "dk")
    back_room, fresh = sorted(dk)[:2]
    # 5 units in the back room (21, under Butik 2); Shopify's Butik shows them
    set_rackbeat(world, back_room, {21: 5})
    set_shopify(world, "dk", back_room, dk[back_room], {"Lager": 0, "Butik": 5})
    # an item Rackbeat holds nowhere: its Shopify stock is imported
    set_rackbeat(world, fresh, {})
    set_shopify(world, "dk", fresh, dk[fresh], {"Lager": 4, "Butik": 0})

    rows, result = go_live(world, "dk", tmp_path)
    assert result.exit_code in (ExitCode.OK, ExitCode.PARTIAL), result.shops[0].failures
    [row] = [r for r in rows[back_room] if r["location"] == 2]
    assert row["action"] == "keep"
    assert "Rackbeat already has 5; not imported" in row["reason"]
    assert rackbeat_at(world, back_room, 2) == 0 and rackbeat_at(world, back_room, 21) == 5
    assert [(r["location"], r["action"], Decimal(str(r["after"]))) for r in rows[fresh]] == [
        (1, "register", Decimal(4))]
    assert rackbeat_at(world, fresh, 1) == 4
    report = (tmp_path / "dk.csv").read_text(encoding="utf-8")
    assert "Rackbeat already has 5; not imported" in report

    # sync-stock shows the back room at Butik; a second go-live (--again) adds nothing
    assert sync_stock(world.fresh_runtime(), world.runtime.config.select(["dk"])).exit_code \
        == ExitCode.OK
    rows, _ = go_live(world, "dk", tmp_path, again=True)
    assert all(r["action"] != "register" for r in rows.get(back_room, []))
    assert all(r["action"] != "register" for r in rows.get(fresh, []))
    assert rackbeat_at(world, back_room, 2) == 0 and rackbeat_at(world, fresh, 1) == 4


def test_second_shop_imports_products_not_stock(world: World, tmp_path: Path) -> None:
    se = items(world, "se")
    from_rackbeat, asked, other = sorted(se)[:3]
    # 12 units at location 2, shown in se's Lager (se shows every location)
    set_rackbeat(world, from_rackbeat, {2: 12})
    set_shopify(world, "se", from_rackbeat, se[from_rackbeat], {"Lager": 12})
    for sku in (asked, other):  # Rackbeat has none anywhere; se's Lager has 4 of each
        set_rackbeat(world, sku, {})
        set_shopify(world, "se", sku, se[sku], {"Lager": 4})
    # dk is live: sync-stock pushes to it
    assert sync_stock(world.runtime, world.config.select(["dk"])).exit_code == ExitCode.OK

    rows, result = go_live(world, "se", tmp_path, stock_for=[asked, from_rackbeat])
    assert result.exit_code in (ExitCode.OK, ExitCode.PARTIAL), result.shops[0].failures
    assert [r["action"] for r in rows[from_rackbeat]] == ["keep"]
    assert "Rackbeat already has 12; not imported" in rows[from_rackbeat][0]["reason"]
    assert [r["action"] for r in rows[other]] == ["keep"]
    assert "shop dk is live already" in rows[other][0]["reason"]
    assert f"--stock-for {other}" in rows[other][0]["reason"]
    assert [(r["location"], r["action"]) for r in rows[asked]] == [(1, "register")]
    assert rackbeat_at(world, from_rackbeat, 1) == 0  # not 12 more
    assert rackbeat_at(world, other, 1) == 0
    assert rackbeat_at(world, asked, 1) == 4


# -- preflight (case 5) and --shop (case 6) ------------------------------------------------------


def cli_run(world: World, *args: str) -> tuple[int, str]:
    from typer.testing import CliRunner

    from rackshop import cli

    out = CliRunner().invoke(cli.app, ["init-sync", "--config", str(world.config_path), *args])
    assert "Traceback" not in out.output
    return out.exit_code, out.output


def test_unwritable_report_refuses_before_writing_anything(world: World, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the report's folder should be\n", encoding="utf-8")
    marks = world.marks()
    code, text = cli_run(world, "--shop", "dk", "--yes", "--report", str(blocker / "r.csv"))
    assert code == ExitCode.STATE, text
    assert "cannot be written" in text and "nothing was imported" in text
    assert world.writes_since(marks)[1] == 0  # not one Rackbeat write
    assert world.sandbox.shopify.log.counters(marks[0])["requests"] == 0  # refused before reading
    from rackshop.status import collect_status
    assert not [r for r in collect_status(world.runtime, {"dk"})["runs"]
                if r["job"] == "init-sync"]


def test_default_report_goes_to_the_state_folder(world: World, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    code, text = cli_run(world, "--shop", "dk", "--yes")
    assert code in (ExitCode.OK, ExitCode.PARTIAL), text
    assert not list(cwd.iterdir())
    reports = list(world.runtime.state_path.parent.glob("init-sync-dk-*.csv"))
    assert len(reports) == 1 and str(reports[0].name) in text.replace("\n", "")


def test_help_and_behaviour_agree_on_shop(world: World) -> None:
    code, text = cli_run(world, "--help")
    assert code == 0
    flat = " ".join(text.split())
    assert "every enabled shop" not in flat
    assert "required: init-sync imports one shop at a time" in flat
    code, text = cli_run(world, "--dry-run")
    assert code == ExitCode.USAGE and "--shop" in text
