"""init-sync end to end on the twins: the preview is exact, and nothing is written before apply."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from rackshop.config import load_config
from rackshop.errors import ConfigError, ExitCode, SafetyStopError, UsageError
from rackshop.runtime import Runtime
from rackshop.sandbox.world import Sandbox
from rackshop.store import Store
from rackshop.sync.initial import InitSyncDoneError, apply_init_sync, preview_init_sync
from rackshop.sync.initial_apply import REPORT_COLUMNS
from rackshop.sync.initial_preview import PERMANENT_WARNING
from tests.helpers.init_world import build_init_world, rackbeat_state, write_init_config

BULK = "mutation bulkOperationRunQuery"


class InitWorld:
    """Empty twins filled with the init world, a config for shop dk and a runtime."""

    def __init__(self, sandbox: Sandbox, tmp: Path, variants: int, **config: Any) -> None:
        self.sandbox = sandbox
        self.tmp = tmp
        sandbox.shopify_app.bulk_polls_to_complete = 1  # no poll waits in tests
        self.stats = build_init_world(sandbox, variants)
        self.config_path = write_init_config(sandbox, tmp / "rackshop.toml", **config)
        self.runtime = Runtime(load_config(self.config_path))
        self.shop = self.runtime.config.shops[0]

    def fresh(self) -> Runtime:
        """A new runtime, as a new process would build it."""
        self.runtime.close()
        self.runtime = Runtime(load_config(self.config_path))
        self.shop = self.runtime.config.shops[0]
        return self.runtime

    def marks(self) -> tuple[int, int]:
        return self.sandbox.shopify.log.mark(), self.sandbox.rackbeat.log.mark()

    def calls(self, marks: tuple[int, int]) -> tuple[dict[str, Any], dict[str, Any]]:
        return (self.sandbox.shopify.log.counters(marks[0]),
                self.sandbox.rackbeat.log.counters(marks[1]))

    def assert_wrote_nothing(self, marks: tuple[int, int]) -> None:
        """No write to Rackbeat; none to Shopify but starting bulk *queries* (reads)."""
        sh, rb = self.calls(marks)
        assert rb["writes"] == 0, rb["by_label"]
        writes = {k: v for k, v in sh["by_label"].items() if k.startswith("mutation")}
        assert set(writes) <= {BULK}, writes


def _world(tmp_path: Path, variants: int, **config: Any) -> Iterator[InitWorld]:
    with Sandbox(seed_data=False, shops=1, time_scale=1000.0) as sandbox:
        w = InitWorld(sandbox, tmp_path, variants, **config)
        try:
            yield w
        finally:
            w.runtime.close()


@pytest.fixture
def small(tmp_path: Path) -> Iterator[InitWorld]:
    yield from _world(tmp_path, 60)


# -- the 2,000-variant import ---------------------------------------------------------------------


def test_2000_variants_rackbeat_ends_exactly_as_the_preview_announced(tmp_path: Path) -> None:
    for w in _world(tmp_path, 2000):
        before = rackbeat_state(w.sandbox)
        marks = w.marks()
        with preview_init_sync(w.runtime, w.shop) as preview:
            w.assert_wrote_nothing(marks)
            sh, rb = w.calls(marks)
            # a handful of reads whatever the size: two bulk operations, 1,000 items a page
            assert sh["requests"] <= 10 and rb["requests"] <= 8, (sh["by_label"], rb["by_label"])
            c = preview.counts
            assert c["variants"] == w.stats["variants"] == 2000
            assert c["without_sku"] == w.stats["no_sku"] > 0
            assert c["duplicate_skus"] == w.stats["duplicates"] > 0
            assert c["duplicate_variants"] == 2 * w.stats["duplicates"]
            assert c["linked"] + c["duplicate_skus"] >= w.stats["in_rackbeat"] - 3
            assert c["negative_quantities"] > 0 and c["stock_kept"] > 0
            assert c["stock_not_imported"] > 0  # the BOM, the item without inventory, untracked
            assert preview.warnings[0] == PERMANENT_WARNING
            assert not preview.resumed and preview.generation == 1
            creates = list(preview.products("create"))
            stock = list(preview.stock())
            registers = [s for s in stock if s["action"] == "register"]
            assert len(creates) == c["to_create"] > 1000
            assert len(registers) == c["stock_register"] > 1000
            by_loc = {t.location: t for t in preview.locations}
            for loc in (1, 2):
                mine = [s for s in registers if s["location"] == loc]
                assert by_loc[loc].adjustments == len(mine)
                assert by_loc[loc].units == sum(s["after"] for s in mine)
            summary = dict(preview.summary())
            assert summary["products to create in Rackbeat"] == str(c["to_create"])
            assert summary["stock to register at Rackbeat location 1 Hovedlager"].startswith(
                f"{by_loc[1].adjustments} adjustments, {by_loc[1].units} units")
            rows = preview.rows(limit=3)
            assert Counter(r[0] for r in rows)["create"] == 3

            report = tmp_path / "init-sync-dk.csv"
            result = apply_init_sync(w.runtime, w.shop, preview, report_path=report)
        assert result.exit_code == ExitCode.OK, result.shops[0].failures[:5]
        counts = result.shops[0].counts
        assert counts["products_created"] == len(creates)
        assert counts["stock_registered"] == len(registers)
        assert counts["units_registered"] == sum(int(s["after"] - s["before"])
                                                 for s in registers)
        after = rackbeat_state(w.sandbox)

        # products: exactly those announced were added, with the announced fields
        assert set(after["items"]) == set(before["items"]) | {p["number"] for p in creates}
        for number, item in before["items"].items():
            assert after["items"][number] == item, number
        for p in creates:
            body = p["payload"]
            kind, name, price, group, description, weight, unit = after["items"][p["number"]]
            assert (kind, name, group) == ("product", body["name"], body["group"])
            assert price == Decimal(str(body["sales_price"]))
            assert description == body["description"]
            assert (weight, unit) == (body["physical"]["weight"], body["physical"]["weight_unit"])

        # stock: every announced "after", everything else untouched
        expected = dict(before["stock"])
        for s in stock:
            expected[(s["number"], s["location"])] = s["after"]
        assert after["stock"] == {k: v for k, v in expected.items() if v}
        # one booked adjustment per registration, no draft left behind
        added = Counter(after["booked"]) - Counter(before["booked"])
        assert added == Counter({(s["number"], s["location"]): 1 for s in registers})
        assert after["drafts"] == 0
        # written with suppress_webhooks: Rackbeat's apps were not triggered
        w.sandbox.rackbeat_app.wait_for_webhooks(1.0)

        # the report lists everything, with what happened and why
        with open(report, encoding="utf-8", newline="") as fh:
            lines = list(csv.DictReader(fh))
        assert tuple(lines[0]) == REPORT_COLUMNS
        outcomes = Counter((r["record"], r["outcome"]) for r in lines)
        assert outcomes[("product", "created")] == len(creates)
        assert outcomes[("product", "linked")] == c["linked"]
        assert outcomes[("product", "skipped")] == c["without_sku"] + c["duplicate_skus"]
        assert outcomes[("stock", "registered")] == len(registers)
        assert outcomes[("stock", "kept")] == c["stock_kept"]
        assert all(r["reason"] for r in lines if r["outcome"] in ("skipped", "kept"))

        # a second init-sync refuses, before any call
        marks = w.marks()
        with pytest.raises(InitSyncDoneError) as refused:
            preview_init_sync(w.fresh(), w.shop)
        assert isinstance(refused.value, UsageError)
        assert refused.value.exit_code == ExitCode.SAFETY_STOP
        assert "--again" in str(refused.value)
        assert w.calls(marks)[1]["requests"] == 0 and w.calls(marks)[0]["requests"] == 0

        # with --again it runs, finds nothing left to do, and writes nothing
        marks = w.marks()
        with preview_init_sync(w.runtime, w.shop, again=True) as again:
            assert again.generation == 2
            assert again.counts.get("to_create", 0) == 0
            assert again.counts.get("stock_register", 0) == 0
            assert not again.writes_anything
            assert apply_init_sync(w.runtime, w.shop, again).exit_code == ExitCode.OK
        assert w.calls(marks)[1]["writes"] == 0
        assert rackbeat_state(w.sandbox) == after


# -- nothing is written before apply --------------------------------------------------------------


def test_dry_run_and_unconfirmed_runs_write_nothing_anywhere(small: InitWorld) -> None:
    state = small.runtime.state_path
    before = rackbeat_state(small.sandbox)
    marks = small.marks()
    # a dry run: preview only; no store is created
    with preview_init_sync(small.runtime, small.shop) as preview:
        assert preview.writes_anything and preview.products_to_create > 0
        assert preview.rows()
    small.assert_wrote_nothing(marks)
    assert not state.exists()
    # an unconfirmed run with a store that exists: it is read, never written
    Store(state).close()
    small.fresh()
    snapshot = Store(state).dump()
    marks = small.marks()
    preview = preview_init_sync(small.runtime, small.shop, overwrite_stock=True)
    preview.close()  # the user said no
    small.assert_wrote_nothing(marks)
    with Store(state) as store:
        assert store.dump() == snapshot
    assert rackbeat_state(small.sandbox) == before
    with pytest.raises(ValueError, match="closed"):
        apply_init_sync(small.runtime, small.shop, preview)


def test_skip_inventory_creates_products_and_registers_no_stock(small: InitWorld) -> None:
    before = rackbeat_state(small.sandbox)
    marks = small.marks()
    with preview_init_sync(small.runtime, small.shop, skip_inventory=True) as preview:
        assert list(preview.stock()) == []
        assert "--skip-inventory: no stock is registered" in preview.warnings
        result = apply_init_sync(small.runtime, small.shop, preview)
    assert result.exit_code == ExitCode.OK
    _, rb = small.calls(marks)
    assert not any("inventory-adjustments" in label for label in rb["by_label"])
    after = rackbeat_state(small.sandbox)
    assert after["stock"] == before["stock"] and after["booked"] == before["booked"]
    assert len(after["items"]) == len(before["items"]) + preview.products_to_create
    # completed: a second one refuses; with --again the stock comes, onto the same products
    with pytest.raises(InitSyncDoneError):
        preview_init_sync(small.fresh(), small.shop)
    with preview_init_sync(small.runtime, small.shop, again=True) as again:
        assert again.counts.get("to_create", 0) == 0
        assert again.counts["stock_register"] > 0
        assert apply_init_sync(small.runtime, small.shop, again).exit_code == ExitCode.OK


def test_apply_refuses_without_writing_when_rackbeat_changed_since_the_preview(
        small: InitWorld) -> None:
    with preview_init_sync(small.runtime, small.shop) as preview:
        new = next(p["number"] for p in preview.products("create"))
        known = {p["number"] for p in preview.products("link")}
        linked = next(s for s in preview.stock() if s["action"] == "register"
                      and s["number"] in known)
        # meanwhile, someone creates one of the products and counts stock of another
        small.sandbox.rackbeat_app.add_product(new, "Made by hand", 10.0, 1000)
        small.sandbox.rackbeat_app.set_stock(linked["number"], linked["location"], 2)
        marks = small.marks()
        with pytest.raises(SafetyStopError) as stop:
            apply_init_sync(small.runtime, small.shop, preview)
    message = str(stop.value)
    assert f"{new} now exists in Rackbeat" in message
    assert f"{linked['sku']} at Rackbeat location {linked['location']}: stock is now 2" in message
    assert "Nothing was written" in message and "fresh preview" in message
    assert small.calls(marks)[1]["writes"] == 0
    # a fresh preview takes the world as it is now, and goes through
    with preview_init_sync(small.fresh(), small.shop) as again:
        assert not again.resumed and again.generation == 1
        assert new in {p["number"] for p in again.products("link")}
        assert apply_init_sync(small.runtime, small.shop, again).exit_code == ExitCode.OK
    stock = rackbeat_state(small.sandbox)["stock"]
    assert stock[(linked["number"], linked["location"])] == 2  # theirs, kept


def test_overwrite_stock_sets_rackbeat_to_shopifys_quantity(small: InitWorld) -> None:
    with preview_init_sync(small.runtime, small.shop, overwrite_stock=True) as preview:
        overwritten = [s for s in preview.stock() if s["action"] == "register"
                       and s["before"] != 0]
        assert overwritten and not [s for s in preview.stock() if s["action"] == "keep"]
        assert apply_init_sync(small.runtime, small.shop, preview).exit_code == ExitCode.OK
    stock = rackbeat_state(small.sandbox)["stock"]
    for s in overwritten:
        assert stock.get((s["number"], s["location"]), Decimal(0)) == s["after"] == s["shopify"]


# -- configuration checked against the live systems ------------------------------------------------


@pytest.mark.parametrize(("initial", "products", "path", "text"), [
    ({}, None, "shops[0].initial.location_map", "--skip-inventory"),
    ({"location_map": {"Lager": 1, "Outlet": 2}}, None,
     'shops[0].initial.location_map["Outlet"]', "no Shopify location 'Outlet'"),
    ({"location_map": {"Lager": 7}}, None, "shops[0].initial.location_map",
     "Rackbeat has no location 7"),
    ({"location_map": {"Lager": 1}}, {"master": "off"}, "shops[0].products.default_group",
     "needs the product group"),
    ({"location_map": {"Lager": 1}}, {"master": "shopify", "default_group": 4242},
     "shops[0].products.default_group", "no product group 4242"),
])
def test_configuration_problems_name_the_key(tmp_path: Path, initial: dict[str, Any],
                                             products: dict[str, Any] | None, path: str,
                                             text: str) -> None:
    shop: dict[str, Any] = {"initial": initial}
    if products is not None:
        shop["products"] = products
    for w in _world(tmp_path, 12, shop=shop):
        marks = w.marks()
        with pytest.raises(ConfigError) as err:
            preview_init_sync(w.runtime, w.shop)
        assert err.value.problems[0].path == path, err.value
        assert text in err.value.problems[0].message
        w.assert_wrote_nothing(marks)
