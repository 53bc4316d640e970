"""sync-products: a product's identity is the link between a Rackbeat item (its id) and a
Shopify variant (its id), not the SKU (issue 19, cases 1 and 2). A SKU edited in Shopify is put
back or carried into Rackbeat's number; a number renamed in Rackbeat renames the linked SKU; no
second product is ever made for a linked item."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rackshop.config import load_config
from rackshop.errors import ExitCode
from rackshop.runtime import Runtime
from rackshop.sync.products_pass import ProductsReport
from tests.e2e.test_sync_products import (
    RB_MASTER,
    SF_MASTER,
    Env,
    counts,
    seed_rackbeat_master,
    seed_shopify_master,
)


@pytest.fixture
def rb_master(tmp_path: Path) -> Iterator[Env]:
    env = Env(tmp_path, {"dk": {"products": RB_MASTER}})
    try:
        seed_rackbeat_master(env)
        yield env
    finally:
        env.close()


def mapped_skus(env: Env) -> dict[str, str]:
    """SKU -> variant id of the store's SKU index (what sync-stock writes to)."""
    runtime = Runtime(load_config(env.config_path))
    try:
        return {r["sku"]: r["variant_id"] for r in runtime.store().dump()["mappings"]}
    finally:
        runtime.close()


def products_titled(env: Env, title: str) -> int:
    return sum(1 for p, _ in env.catalogue("dk").values() if p["title"] == title)


# -- Rackbeat is master ----------------------------------------------------------------------


def test_sku_edited_in_shopify_is_put_back_and_never_duplicated(rb_master: Env) -> None:
    env = rb_master
    env.run()
    p, v = env.catalogue("dk")["MUG 350 ML"]
    env.set_variant("dk", p["id"], v["id"], inventoryItem={"sku": "MUG-350"})
    mark = env.mark()
    result = env.run()
    # Rackbeat is master: the linked variant gets Rackbeat's number back (one write).
    assert result.exit_code == ExitCode.OK
    assert env.shopify_writes(mark) == {"mutation productVariantsBulkUpdate": 1}
    cat = env.catalogue("dk")
    assert "MUG-350" not in cat and cat["MUG 350 ML"][1]["id"] == v["id"]
    assert mapped_skus(env)["MUG 350 ML"] == v["id"] and "MUG-350" not in mapped_skus(env)
    # The next change of the item in Rackbeat updates that listing; nothing is created.
    env.rb_put("MUG 350 ML", {"sales_price": 90.00})
    mark = env.mark()
    result = env.run()
    assert counts(result, "dk").get("created", 0) == 0
    assert env.shopify_writes(mark) == {"mutation productVariantsBulkUpdate": 1}
    cat = env.catalogue("dk")
    assert cat["MUG 350 ML"][1]["id"] == v["id"] and cat["MUG 350 ML"][1]["price"] == "112.50"
    assert products_titled(env, "Krus 350 ml – blå") == 1


def test_sku_edited_and_item_changed_in_the_same_pass(rb_master: Env) -> None:
    env = rb_master
    env.run()
    p, v = env.catalogue("dk")["BOX/12"]
    env.set_variant("dk", p["id"], v["id"], inventoryItem={"sku": "BOX-12"})
    env.rb_put("BOX/12", {"sales_price": 120.00})
    mark = env.mark()
    result = env.run()
    assert counts(result, "dk").get("created", 0) == 0
    assert "mutation productSet" not in env.shopify_writes(mark)
    cat = env.catalogue("dk")
    assert "BOX-12" not in cat
    assert (cat["BOX/12"][1]["id"], cat["BOX/12"][1]["price"]) == (v["id"], "150.00")


def test_number_renamed_in_rackbeat_renames_the_linked_sku(rb_master: Env) -> None:
    env = rb_master
    env.run()
    _, v = env.catalogue("dk")["HONNING-1"]
    env.rb_put("HONNING-1", {"number": "HONNING-500"})
    mark = env.mark()
    result = env.run()
    assert result.exit_code == ExitCode.OK
    assert counts(result, "dk").get("created", 0) == 0
    assert env.shopify_writes(mark) == {"mutation productVariantsBulkUpdate": 1}
    cat = env.catalogue("dk")
    assert "HONNING-1" not in cat and cat["HONNING-500"][1]["id"] == v["id"]
    skus = mapped_skus(env)
    assert skus["HONNING-500"] == v["id"] and "HONNING-1" not in skus
    # And back: the same listing again, nothing else.
    env.rb_put("HONNING-500", {"number": "HONNING-1"})
    mark = env.mark()
    env.run()
    assert env.shopify_writes(mark) == {"mutation productVariantsBulkUpdate": 1}
    assert env.catalogue("dk")["HONNING-1"][1]["id"] == v["id"]
    mark = env.mark()
    env.run()
    assert env.shopify_writes(mark) == {}


# -- Shopify is master -----------------------------------------------------------------------


def test_sku_edited_in_shopify_master_is_a_failure_without_rename(tmp_path: Path) -> None:
    env = Env(tmp_path, {"dk": {"products": SF_MASTER}})
    try:
        seed_shopify_master(env)
        env.run()
        tee = env.item("TEE #3")
        assert tee is not None
        p, v = env.catalogue("dk")["TEE #3"]
        env.set_variant("dk", p["id"], v["id"], inventoryItem={"sku": "TEE-3"})
        for _ in range(2):  # reported on every pass until resolved; never a second item
            mark = env.mark()
            report = ProductsReport()
            result = env.run(report=report)
            assert result.exit_code != ExitCode.OK
            assert counts(result, "dk")["failed"] == 1
            assert env.rackbeat_writes(mark) == {}
            assert env.item("TEE-3") is None
            failed = [r for r in report.rows() if r[5] == "failed"]
            assert [r[1] for r in failed] == ["TEE-3"]
            assert "rename_numbers" in failed[0][4] and "'TEE #3'" in failed[0][4]
        # Putting the SKU back resolves it.
        env.set_variant("dk", p["id"], v["id"], inventoryItem={"sku": "TEE #3"})
        result = env.run()
        assert result.exit_code == ExitCode.OK
    finally:
        env.close()


def test_sku_edited_in_shopify_master_renames_the_item_when_allowed(tmp_path: Path) -> None:
    env = Env(tmp_path, {"dk": {"products": {**SF_MASTER, "rename_numbers": True}}})
    try:
        seed_shopify_master(env)
        env.run()
        tee = env.item("TEE #3")
        assert tee is not None
        p, v = env.catalogue("dk")["TEE #3"]
        env.set_variant("dk", p["id"], v["id"], inventoryItem={"sku": "TEE-3"}, price="125.00")
        mark = env.mark()
        result = env.run()
        assert result.exit_code == ExitCode.OK
        assert counts(result, "dk")["renamed"] == 1
        assert env.rackbeat_writes(mark) == {"PUT /products/{number}": 1}
        renamed = env.item("TEE-3")
        assert renamed is not None and renamed["id"] == tee["id"]
        assert renamed["sales_price"] == 111.61  # 125.00 less its group's 12 % VAT
        assert env.item("TEE #3") is None
        mark = env.mark()
        env.run()
        assert env.rackbeat_writes(mark) == {}
    finally:
        env.close()


# -- round trips -----------------------------------------------------------------------------


def test_a_change_and_its_reverse_in_each_direction_leave_nothing_behind(tmp_path: Path) -> None:
    env = Env(tmp_path, {"dk": {"products": {**RB_MASTER, "include_boms": False}},
                         "se": {"products": {**SF_MASTER, "rename_numbers": True}}})
    try:
        env.shopify.shop("se").currency = "SEK"
        env.product("se", "Krus", [{"sku": "MUG-1", "price": "100.00",
                                    "barcode": "5700000000350"}])
        env.run()
        item0, cat0 = env.item("MUG-1"), env.catalogue("dk")
        assert item0 is not None and cat0["MUG-1"][1]["price"] == "65.00"
        p, v = env.catalogue("se")["MUG-1"]
        # Shopify (se, master) changes price and SKU, then puts both back.
        env.set_variant("se", p["id"], v["id"], price="130.00", inventoryItem={"sku": "MUG-2"})
        env.run()
        moved = env.item("MUG-2")
        assert moved is not None and moved["id"] == item0["id"] and moved["sales_price"] == 67.6
        assert env.catalogue("dk")["MUG-2"][1]["id"] == cat0["MUG-1"][1]["id"]
        env.set_variant("se", p["id"], v["id"], price="100.00", inventoryItem={"sku": "MUG-1"})
        env.run()
        back = env.item("MUG-1")
        assert back is not None and back["id"] == item0["id"]
        assert back["sales_price"] == item0["sales_price"] and env.item("MUG-2") is None
        assert env.catalogue("dk") == cat0
        # The name is changed by hand in Rackbeat. The item is se's (Shopify master for it):
        # se's pass puts its own name back, and dk (Rackbeat master) follows Rackbeat, so
        # within two passes every side shows se's name again.
        env.rb_put("MUG-1", {"name": "Stort krus"})
        env.run()
        env.run()
        assert env.item("MUG-1")["name"] == "Krus"  # type: ignore[index]
        assert env.catalogue("dk") == cat0
        mark = env.mark()
        env.run()
        assert env.shopify_writes(mark) == {} and env.rackbeat_writes(mark) == {}
    finally:
        env.close()
