"""sync-products and init-sync keep every field the shop has (issue 19, cases 3 and 4): going
live carries barcode, product type (as the Rackbeat group of that name), weight and untaxed
prices into Rackbeat; a Rackbeat-master pass afterwards never clears a value Rackbeat has never
held; an untaxed variant carries no VAT in either direction."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import tomli_w

from rackshop.config import load_config
from rackshop.errors import ExitCode
from rackshop.runtime import Runtime
from rackshop.sync.initial import apply_init_sync, preview_init_sync
from rackshop.sync.products_pass import ProductsReport
from tests.e2e.test_sync_products import RB_MASTER, Env, counts


def set_products(env: Env, shop: str, products: dict[str, Any]) -> None:
    data = tomllib.loads(env.config_path.read_text(encoding="utf-8"))
    for s in data["shops"]:
        if s["name"] == shop:
            s["products"] = products
    env.config_path.write_text(tomli_w.dumps(data), encoding="utf-8")


def go_live(env: Env, tmp_path: Path) -> None:
    runtime = Runtime(load_config(env.config_path))
    try:
        shop = runtime.config.shops[0]
        with preview_init_sync(runtime, shop, skip_inventory=True) as preview:
            result = apply_init_sync(runtime, shop, preview, report_path=tmp_path / "r.csv")
        assert result.exit_code == ExitCode.OK, result
    finally:
        runtime.close()


def test_go_live_then_rackbeat_master_erases_nothing(tmp_path: Path) -> None:
    env = Env(tmp_path, {"dk": {"products": {"master": "shopify", "default_group": 1000}}})
    try:
        env.shopify.bulk_polls_to_complete = 1
        env.product("dk", "Kabel", [{"sku": "KABEL-1", "price": "125.00",
                                     "barcode": "05701234567892", "weight": 0.2}],
                    product_type="Tilbehør")
        env.product("dk", "Honning", [{"sku": "HON-1", "price": "112.00",
                                       "barcode": "5700000000011"}],
                    product_type="fødevarer")
        env.product("dk", "Gavekort", [{"sku": "GAVE-200", "price": "200.00",
                                        "taxable": False}], product_type="Gavekort")
        go_live(env, tmp_path)
        kabel, hon, gave = env.item("KABEL-1"), env.item("HON-1"), env.item("GAVE-200")
        assert kabel is not None and hon is not None and gave is not None
        # Carried: barcode, weight, the group the product type names (else default_group).
        assert (kabel["barcode"], kabel["group_id"], kabel["sales_price"]) == (
            "05701234567892", 1000, 100.0)
        assert kabel["physical"]["weight"] == 0.2
        assert (hon["barcode"], hon["group_id"], hon["sales_price"]) == (
            "5700000000011", 1100, 100.0)  # at its own group's 12 %
        assert gave["sales_price"] == 200.0  # untaxed: no VAT in its price

        # Rackbeat becomes master: nothing the shop has is erased or altered.
        set_products(env, "dk", {k: v for k, v in RB_MASTER.items() if k != "create_missing"})
        before = env.catalogue("dk")
        mark = env.mark()
        report = ProductsReport()
        result = env.run(report=report)
        assert result.exit_code == ExitCode.OK
        cat = env.catalogue("dk")
        assert cat["KABEL-1"][1]["barcode"] == "05701234567892"
        assert cat["KABEL-1"][0]["productType"] == "Tilbehør"  # the shop's own type is kept
        assert cat["GAVE-200"][1]["price"] == "200.00"  # not 250.00
        assert cat["HON-1"][1]["price"] == "112.00"
        writes = env.shopify_writes(mark)
        # Only the product type "fødevarer" gets the group's spelling; nothing else is written.
        assert writes == {"mutation productUpdate": 1}, writes
        assert cat["HON-1"][0]["productType"] == "Fødevarer"
        assert {k: cat[k] for k in ("KABEL-1", "GAVE-200")} == {
            k: before[k] for k in ("KABEL-1", "GAVE-200")}
        assert any(r[1] == "KABEL-1" and r[5] == "note" and "Tilbehør" in r[4]
                   for r in report.rows())
        mark = env.mark()
        again = env.run()
        assert env.shopify_writes(mark) == {} and counts(again, "dk").get("writes", 0) == 0
    finally:
        env.close()


def test_an_empty_rackbeat_field_clears_only_what_rackbeat_held(tmp_path: Path) -> None:
    env = Env(tmp_path, {"dk": {"products": RB_MASTER}})
    try:
        env.rackbeat.add_product("MUG-1", "Krus", 80.00, 1000)
        env.product("dk", "Krus", [{"sku": "MUG-1", "price": "100.00",
                                    "barcode": "5700000000350"}], product_type="Varer")
        env.run()
        # Rackbeat never held that barcode: its empty barcode does not clear it.
        assert env.catalogue("dk")["MUG-1"][1]["barcode"] == "5700000000350"
        # Rackbeat gets a barcode of its own: it is pushed, and Rackbeat owns the field now...
        env.rb_put("MUG-1", {"barcode": "5700000000999"})
        env.run()
        assert env.catalogue("dk")["MUG-1"][1]["barcode"] == "5700000000999"
        # ...so clearing it in Rackbeat clears it in Shopify.
        env.rb_put("MUG-1", {"barcode": ""})
        mark = env.mark()
        env.run()
        assert env.shopify_writes(mark) == {"mutation productVariantsBulkUpdate": 1}
        assert env.catalogue("dk")["MUG-1"][1]["barcode"] is None
    finally:
        env.close()


def test_untaxed_variant_carries_no_vat_both_ways(tmp_path: Path) -> None:
    env = Env(tmp_path, {"dk": {"products": RB_MASTER}})
    try:
        env.rackbeat.add_product("GAVE-1", "Gavekort", 200.00, 1000)
        env.product("dk", "Gavekort", [{"sku": "GAVE-1", "price": "200.00", "taxable": False}])
        mark = env.mark()
        env.run()
        assert env.catalogue("dk")["GAVE-1"][1]["price"] == "200.00"  # was 250.00
        # Only the empty product type gets the group's name; the price is not touched.
        assert env.shopify_writes(mark) == {"mutation productUpdate": 1}
        env.rb_put("GAVE-1", {"sales_price": 300})
        env.run()
        assert env.catalogue("dk")["GAVE-1"][1]["price"] == "300.00"
        # The merchant makes it taxable: from now on VAT is added.
        p, v = env.catalogue("dk")["GAVE-1"]
        env.set_variant("dk", p["id"], v["id"], taxable=True)
        env.run()
        assert env.catalogue("dk")["GAVE-1"][1]["price"] == "375.00"
    finally:
        env.close()


def test_go_live_creates_groups_for_product_types_when_allowed(tmp_path: Path) -> None:
    env = Env(tmp_path, {"dk": {"products": {"master": "shopify", "default_group": 1000,
                                             "create_groups": True}}})
    try:
        env.shopify.bulk_polls_to_complete = 1
        env.product("dk", "Kabel", [{"sku": "KABEL-1", "price": "125.00"}],
                    product_type="Tilbehør")
        env.product("dk", "Stik", [{"sku": "STIK-1", "price": "25.00"}],
                    product_type="tilbehør")
        env.product("dk", "Honning", [{"sku": "HON-1", "price": "112.00"}],
                    product_type="Fødevarer")
        runtime = Runtime(load_config(env.config_path))
        try:
            shop = runtime.config.shops[0]
            with preview_init_sync(runtime, shop, skip_inventory=True) as preview:
                # One new group for the type no group has (whatever its spelling), after 1200.
                assert preview.new_groups == {1201: {"name": "Tilbehør", "vat_domestic": 25,
                                                     "has_inventory": True}}
                assert ("product groups to create in Rackbeat", "1201 Tilbehør") in \
                    preview.summary()
                result = apply_init_sync(runtime, shop, preview, report_path=tmp_path / "r.csv")
        finally:
            runtime.close()
        assert result.exit_code == ExitCode.OK
        assert result.shops[0].counts["groups_created"] == 1
        kabel, stik, hon = env.item("KABEL-1"), env.item("STIK-1"), env.item("HON-1")
        assert kabel is not None and stik is not None and hon is not None
        assert (kabel["group_id"], stik["group_id"], hon["group_id"]) == (1201, 1201, 1100)
        # Rackbeat as master afterwards: the types are the groups' names, nothing to write
        # but the one spelling ("tilbehør" -> "Tilbehør").
        set_products(env, "dk", {k: v for k, v in RB_MASTER.items() if k != "create_missing"})
        mark = env.mark()
        env.run()
        assert env.shopify_writes(mark) == {"mutation productUpdate": 1}
        assert env.catalogue("dk")["STIK-1"][0]["productType"] == "Tilbehør"
    finally:
        env.close()
