"""Smaller cases of issue 19: the shipping item and other non-stock items are never created as
tracked Shopify products; a name longer than Rackbeat allows is shortened with a warning row
instead of being refused on every pass (sync-products and init-sync)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import tomli_w

from rackshop.config import load_config
from rackshop.errors import ExitCode
from rackshop.runtime import Runtime
from rackshop.sync.initial import apply_init_sync, preview_init_sync
from rackshop.sync.products_pass import ProductsReport
from tests.e2e.test_sync_products import RB_MASTER, SF_MASTER, Env, counts

LONG_TITLE = "Håndlavet " + "meget lang titel " * 14  # 248 characters
VARIANT = "Ekstra stor / Mørkeblå med hvide striber"


def test_shipping_and_non_stock_items_are_not_created_in_shopify(tmp_path: Path) -> None:
    env = Env(tmp_path, {"dk": {"products": RB_MASTER}})
    try:
        with env.config_path.open("rb") as f:
            data = tomllib.load(f)
        data["shops"][0]["orders"] = {"enabled": False, "shipping_item": "FRAGT"}
        env.config_path.write_text(tomli_w.dumps(data), encoding="utf-8")
        env.rackbeat.add_product_group(9000, "Fragt og gebyrer", has_inventory=False)
        env.rackbeat.add_product("FRAGT", "Fragt", 49.00, 1000)  # the shipping item
        env.rackbeat.add_product("GEBYR", "Ekspeditionsgebyr", 20.00, 9000)  # non-stock
        env.rackbeat.add_product("VARE-1", "Vare", 80.00, 1000)
        report = ProductsReport()
        result = env.run(report=report)
        cat = env.catalogue("dk")
        assert "FRAGT" not in cat and "GEBYR" not in cat
        assert cat["VARE-1"][1]["inventoryItem"]["tracked"] is True
        c = counts(result, "dk")
        assert c["created"] == 1 and c["skipped_non_stock"] == 2
        reasons = {r[1]: r[4] for r in report.rows() if r[5] == "skip"}
        assert "shipping item" in reasons["FRAGT"] and "keeps no inventory" in reasons["GEBYR"]
        mark = env.mark()
        env.run()
        assert env.shopify_writes(mark) == {}
    finally:
        env.close()


def test_a_long_name_is_shortened_with_a_warning(tmp_path: Path) -> None:
    env = Env(tmp_path, {"dk": {"products": SF_MASTER}})
    try:
        env.product("dk", LONG_TITLE, [{"sku": "LONG-S", "price": "10.00", "options": ["S"]},
                                       {"sku": "LONG-L", "price": "10.00",
                                        "options": [VARIANT]}], options=["Størrelse"])
        report = ProductsReport()
        result = env.run(report=report)
        assert result.exit_code == ExitCode.OK
        item = env.item("LONG-L")
        assert item is not None and len(item["name"]) == 255 and item["name"].endswith("…")
        assert counts(result, "dk")["names_shortened"] == 1
        assert [r[1] for r in report.rows() if r[5] == "note" and "shortened" in r[4]] == [
            "LONG-L"]
        mark = env.mark()
        again = env.run()
        assert again.exit_code == ExitCode.OK and env.rackbeat_writes(mark) == {}
    finally:
        env.close()


def test_init_sync_completes_with_a_long_name(tmp_path: Path) -> None:
    env = Env(tmp_path, {"dk": {"products": {"master": "shopify", "default_group": 1000}}})
    try:
        env.shopify.bulk_polls_to_complete = 1
        env.product("dk", LONG_TITLE, [{"sku": "LONG-L", "price": "10.00",
                                        "options": [VARIANT]},
                                       {"sku": "LONG-S", "price": "10.00", "options": ["S"]}],
                    options=["Størrelse"])
        runtime = Runtime(load_config(env.config_path))
        try:
            shop = runtime.config.shops[0]
            with preview_init_sync(runtime, shop, skip_inventory=True) as preview:
                assert preview.counts["names_shortened"] == 1
                assert any("shortened" in w for w in preview.warnings)
                result = apply_init_sync(runtime, shop, preview,
                                         report_path=tmp_path / "r.csv")
        finally:
            runtime.close()
        assert result.exit_code == ExitCode.OK  # it completes (it was refused on every run)
        item = env.item("LONG-L")
        assert item is not None and len(item["name"]) == 255
        assert env.item("LONG-S") is not None
    finally:
        env.close()
