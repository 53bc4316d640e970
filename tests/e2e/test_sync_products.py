"""sync-products end to end against both twins: both directions, every field of the receiving
side, SKUs with ``/``, ``#`` and spaces, unicode names, BOMs, barred items, multi-variant
products, variants without SKU, duplicate SKUs, a two-shop conflict; a second pass writes
nothing; a one-field change is one narrow write; echoes cost nothing; dry runs write nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests

from rackshop.config import load_config, write_config
from rackshop.errors import ExitCode
from rackshop.runtime import Runtime
from rackshop.sandbox.base import FaultRule
from rackshop.sandbox.seed import shop_token
from rackshop.sandbox.world import RACKBEAT_TOKEN, Sandbox
from rackshop.sync.products import sync_products
from rackshop.sync.products_pass import ProductsReport
from rackshop.sync.products_read import Tuning
from rackshop.sync.runner import JobResult

ALL_PRODUCTS = """{ products(first: 100) { nodes {
  id title status descriptionHtml productType tags
  options { name values }
  variants(first: 20) { nodes { id sku title price barcode taxable
    inventoryItem { id tracked inventoryLevels(first: 5) { nodes { location { name } } } } } }
} } }"""


class Env:
    """Twins without seed data, a config pointing at them, and helpers to run and inspect."""

    def __init__(self, tmp_path: Path, shops: dict[str, dict[str, Any]]) -> None:
        self.sandbox = Sandbox(shops=len(shops), time_scale=50.0, seed_data=False).start()
        self.shopify = self.sandbox.shopify_app
        self.rackbeat = self.sandbox.rackbeat_app
        cfg = self.sandbox.config_dict(tmp_path / "secrets", tmp_path / "state.sqlite3")
        for shop, (name, spec) in zip(cfg["shops"], shops.items(), strict=True):
            assert shop["name"] == name
            shop["prices_include_tax"] = spec.get("taxes_included", True)
            shop["products"] = spec["products"]
            shop["stock"] = {"enabled": True, "shopify_location": "Lager",
                             "rackbeat_locations": [1]}
            shop.pop("initial", None)
            self.shopify.add_shop(name, token=shop_token(name),
                                  taxes_included=shop["prices_include_tax"],
                                  locations=("Lager", "Butik"))
        self.state_path = tmp_path / "state.sqlite3"
        self.config_path = tmp_path / "rackshop.toml"
        self.cfg = cfg
        write_config(cfg, self.config_path)
        self.rackbeat.add_location(1, "Hovedlager", is_default=True)
        self.rackbeat.add_product_group(1000, "Varer", vat_domestic=25.0)
        self.rackbeat.add_product_group(1100, "Fødevarer", vat_domestic=12.0)
        self.rackbeat.add_product_group(1200, "Bøger", vat_domestic=0.0)

    def close(self) -> None:
        self.sandbox.stop()

    def set_rackbeat(self, **values: Any) -> None:
        """Change keys of the config's [rackbeat] table (``timeout_seconds``...)."""
        self.cfg["rackbeat"].update(values)
        write_config(self.cfg, self.config_path)

    # -- running -----------------------------------------------------------------------------

    def run(self, *, dry_run: bool = False, shops: tuple[str, ...] = (),
            report: ProductsReport | None = None, tuning: Tuning | None = None) -> JobResult:
        config = load_config(self.config_path)
        runtime = Runtime(config)
        try:
            return sync_products(runtime, config.select(shops), dry_run=dry_run, report=report,
                                 tuning=tuning)
        finally:
            runtime.close()

    def mark(self) -> tuple[int, int]:
        return self.sandbox.shopify.log.mark(), self.sandbox.rackbeat.log.mark()

    def shopify_writes(self, mark: tuple[int, int]) -> dict[str, int]:
        entries = self.sandbox.shopify.log.entries(mark[0])
        out: dict[str, int] = {}
        for e in entries:
            if e.access == "write":
                out[e.label] = out.get(e.label, 0) + 1
        return out

    def rackbeat_writes(self, mark: tuple[int, int]) -> dict[str, int]:
        out: dict[str, int] = {}
        for e in self.sandbox.rackbeat.log.entries(mark[1]):
            if e.access == "write":
                out[e.label] = out.get(e.label, 0) + 1
        return out

    # -- Shopify -----------------------------------------------------------------------------

    def product(self, shop: str, title: str, variants: list[dict[str, Any]], **kw: Any) -> str:
        return self.shopify.create_product(shop, title=title, variants=variants, **kw)

    def gql(self, shop: str, query: str, variables: dict[str, Any] | None = None
            ) -> dict[str, Any]:
        body = self.shopify.execute(shop, query, variables)
        assert not body.get("errors"), body
        data: dict[str, Any] = body["data"]
        return data

    def catalogue(self, shop: str) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
        """SKU -> (product, variant) of every variant with a SKU (last one wins)."""
        out = {}
        for p in self.gql(shop, ALL_PRODUCTS)["products"]["nodes"]:
            for v in p["variants"]["nodes"]:
                if v["sku"]:
                    out[v["sku"]] = (p, v)
        return out

    def set_variant(self, shop: str, product_id: str, variant_id: str, **fields: Any) -> None:
        payload = self.gql(shop, """mutation($p: ID!, $v: [ProductVariantsBulkInput!]!) {
          productVariantsBulkUpdate(productId: $p, variants: $v) { userErrors { message } } }""",
                           {"p": product_id, "v": [{"id": variant_id, **fields}]})
        assert not payload["productVariantsBulkUpdate"]["userErrors"]

    def set_product(self, shop: str, product_id: str, **fields: Any) -> None:
        payload = self.gql(shop, """mutation($p: ProductUpdateInput!) {
          productUpdate(product: $p) { userErrors { message } } }""",
                           {"p": {"id": product_id, **fields}})
        assert not payload["productUpdate"]["userErrors"]

    # -- Rackbeat ----------------------------------------------------------------------------

    def item(self, number: str) -> dict[str, Any] | None:
        with self.rackbeat.lock:
            found = self.rackbeat.account.find_item(number)
            return None if found is None else dict(self.rackbeat.account.item_json(found))

    def rb_put(self, number: str, body: dict[str, Any]) -> None:
        resp = requests.put(f"{self.sandbox.rackbeat.url}/api/products/{quote(number, safe='')}",
                            json=body, headers={"Authorization": f"Bearer {RACKBEAT_TOKEN}"},
                            timeout=10)
        assert resp.status_code == 200, resp.text


def counts(result: JobResult, shop: str) -> dict[str, int]:
    return next(s for s in result.shops if s.shop == shop).counts


# -- Rackbeat -> Shopify -------------------------------------------------------------------------

RB_MASTER = {"master": "rackbeat", "create_missing": True, "include_boms": True,
             "barred": "draft", "new_product_status": "active"}


def seed_rackbeat_master(env: Env) -> None:
    rb = env.rackbeat
    rb.add_product("BOX/12", "Gaveæske med 12", 100.00, 1000, barcode="5700000000012",
                   description="Æske med 12 stk.\nFlot & solid", stock={1: 5})
    rb.add_product("TEE #3", "T-shirt #3", 159.20, 1000, description="Bomuld", stock={1: 7})
    rb.add_product("MUG 350 ML", "Krus 350 ml – blå", 79.96, 1000, barcode="5700000000350",
                   description="Stentøj")
    rb.add_product("HONNING-1", "Honning 500 g", 44.64, 1100, description="Dansk")
    rb.add_product("BOG-1", "Kogebog", 199.00, 1200, description="Opskrifter")
    rb.add_product("SOK-R", "Uldsokker - Rød", 80.00, 1000, description="Uld")
    rb.add_product("SOK-B", "Uldsokker - Blå", 84.00, 1000, description="Uld")
    rb.add_product("BARRED-1", "Udgået vare", 10.00, 1000, is_barred=True)
    rb.add_product("NEW-1", "Ny vare ÆØÅ", 12.50, 1000, barcode="5700000000099",
                   description="Helt ny")
    rb.add_product("BARRED-NEW", "Udgået ny", 5.00, 1000, is_barred=True)
    rb.add_product("DUP-1", "Dobbelt", 40.00, 1000)
    rb.add_lot("KIT-1", "Gavesæt", 300.00, 1000, {"BOX/12": 1, "TEE #3": 2})

    v = {"tracked": True, "stock": {"Lager": 3}}
    env.product("dk", "Gammel æske", [{"sku": "BOX/12", "price": "99.00", **v}],
                description_html="<p>gammel</p>", tags=["keep-me"])
    env.product("dk", "T-shirt #3", [{"sku": "tee #3", "price": "199.00", **v}],
                description_html="<p>Bomuld</p>", product_type="Varer")
    env.product("dk", "Krus 350 ml – blå", [{"sku": "MUG 350 ML", "price": "99.95",
                                            "barcode": "5700000000350", **v}],
                description_html="<p>Stentøj</p>", product_type="Varer")
    env.product("dk", "Honning 500 g", [{"sku": "HONNING-1", "price": "0.00", **v}],
                description_html="<p>Dansk</p>", product_type="Fødevarer")
    env.product("dk", "Kogebog", [{"sku": "BOG-1", "price": "199.00", "taxable": False, **v}],
                description_html="<p>Gammel</p>", product_type="Bøger")
    env.product("dk", "Uldsokker", [{"sku": "SOK-R", "price": "1.00", "options": ["Rød"], **v},
                                    {"sku": "SOK-B", "price": "1.00", "options": ["Blå"], **v}],
                options=["Farve"], description_html="<p>Uld</p>", product_type="Varer")
    env.product("dk", "Udgået vare", [{"sku": "BARRED-1", "price": "12.50", **v}],
                product_type="Varer")
    env.product("dk", "Dobbelt A", [{"sku": "DUP-1", "price": "1.00", **v}])
    env.product("dk", "Dobbelt B", [{"sku": "DUP-1", "price": "1.00", **v}])
    env.product("dk", "Gavekort", [{"sku": "", "price": "100.00"}])
    env.product("dk", "Kun i Shopify", [{"sku": "SHOP-ONLY", "price": "10.00", **v}])


@pytest.fixture
def rb_master(tmp_path: Path) -> Iterator[Env]:
    env = Env(tmp_path, {"dk": {"products": RB_MASTER}})
    try:
        seed_rackbeat_master(env)
        yield env
    finally:
        env.close()


def test_rackbeat_to_shopify_every_field(rb_master: Env) -> None:
    env = rb_master
    before = env.catalogue("dk")
    mark = env.mark()
    report = ProductsReport()
    # The first pass reads the catalogue with a bulk operation (forced here: it is small).
    result = env.run(report=report, tuning=Tuning(bulk_threshold=0))
    assert result.exit_code == ExitCode.OK
    c = counts(result, "dk")
    assert c["created"] == 2 and c["updated"] == 7 and c["unchanged"] == 1
    assert c["skipped_duplicate_sku"] == 1
    writes = env.shopify_writes(mark)
    writes.pop("mutation bulkOperationRunQuery", None)  # a read, whether the log counts it or not
    assert any(e.label == "mutation bulkOperationRunQuery"
               for e in env.sandbox.shopify.log.entries(mark[0]))
    assert writes == {"mutation productUpdate": 3,
                      "mutation productVariantsBulkUpdate": 4, "mutation productSet": 2,
                      "mutation publishablePublish": 2}
    assert env.rackbeat_writes(mark) == {}

    cat = env.catalogue("dk")
    p, v = cat["BOX/12"]
    assert (p["title"], p["productType"], p["status"], v["price"], v["barcode"]) == (
        "Gaveæske med 12", "Varer", "ACTIVE", "125.00", "5700000000012")
    assert p["descriptionHtml"] == "<p>Æske med 12 stk.</p><p>Flot &amp; solid</p>"
    assert p["tags"] == ["keep-me"]  # not a PIM: tags untouched

    assert "tee #3" not in cat  # the SKU now has Rackbeat's spelling
    p, v = cat["TEE #3"]
    assert (p["title"], v["price"], v["barcode"], p["productType"]) == (
        "T-shirt #3", "199.00", None, "Varer")
    assert v["id"] == before["tee #3"][1]["id"]  # the same variant, not a new one

    assert cat["MUG 350 ML"] == before["MUG 350 ML"]  # already in sync: untouched
    assert cat["HONNING-1"][1]["price"] == "50.00"  # 44.64 + 12 % = 49.9968
    p, v = cat["BOG-1"]
    assert (p["descriptionHtml"], v["price"]) == ("<p>Opskrifter</p>", "199.00")  # 0 % VAT

    # Multi-variant: variant fields synced (one call for both), product fields left alone.
    p, v = cat["SOK-R"]
    assert (p["title"], v["price"], cat["SOK-B"][1]["price"]) == ("Uldsokker", "100.00",
                                                                  "105.00")
    assert p["options"] == before["SOK-R"][0]["options"]
    assert len(p["variants"]["nodes"]) == 2
    notes = [r for r in report.rows() if r[1] == "SOK-R" and r[5] == "note"]
    assert notes and "2 variants" in notes[0][4]

    assert cat["BARRED-1"][0]["status"] == "DRAFT"  # barred = "draft"
    assert "BARRED-NEW" not in cat  # barred items are not created
    # Duplicates, variants without SKU and Shopify-only products are untouched.
    dups = [pv for pv in env.gql("dk", ALL_PRODUCTS)["products"]["nodes"]
            if pv["title"].startswith("Dobbelt")]
    assert [d["variants"]["nodes"][0]["price"] for d in dups] == ["1.00", "1.00"]
    assert cat["SHOP-ONLY"] == before["SHOP-ONLY"]

    # Created: single-variant, tracked, stocked at the shop's location, status from the config.
    p, v = cat["NEW-1"]
    assert (p["title"], p["status"], p["productType"], v["price"], v["barcode"]) == (
        "Ny vare ÆØÅ", "ACTIVE", "Varer", "15.63", "5700000000099")  # 15.625 half up
    assert p["descriptionHtml"] == "<p>Helt ny</p>"
    assert v["inventoryItem"]["tracked"] is True
    assert [n["location"]["name"] for n in v["inventoryItem"]["inventoryLevels"]["nodes"]] == [
        "Lager"]
    p, v = cat["KIT-1"]  # the BOM (include_boms)
    assert (p["title"], v["price"], p["options"]) == ("Gavesæt", "375.00",
                                                      [{"name": "Title",
                                                        "values": ["Default Title"]}])

    # The store maps every unique SKU (duplicates and missing SKUs are not mapped).
    runtime = Runtime(load_config(env.config_path))
    try:
        skus = {r["sku"] for r in runtime.store().dump()["mappings"]}
    finally:
        runtime.close()
    assert skus == {"BOX/12", "TEE #3", "MUG 350 ML", "HONNING-1", "BOG-1", "SOK-R", "SOK-B",
                    "BARRED-1", "SHOP-ONLY", "NEW-1", "KIT-1"}

    # A second pass writes nothing, on either side.
    mark = env.mark()
    again = env.run()
    assert again.exit_code == ExitCode.OK
    assert env.shopify_writes(mark) == {} and env.rackbeat_writes(mark) == {}
    assert counts(again, "dk").get("writes", 0) == 0


def test_one_field_one_narrow_write_and_echoes_cost_nothing(rb_master: Env) -> None:
    env = rb_master
    env.run()
    # A price in Rackbeat: one productVariantsBulkUpdate, nothing else.
    env.rb_put("HONNING-1", {"sales_price": 53.57})
    mark = env.mark()
    env.run()
    assert env.shopify_writes(mark) == {"mutation productVariantsBulkUpdate": 1}
    assert env.catalogue("dk")["HONNING-1"][1]["price"] == "60.00"
    # A name: one productUpdate.
    env.rb_put("BOX/12", {"name": "Gaveæske (12 stk.)"})
    mark = env.mark()
    env.run()
    assert env.shopify_writes(mark) == {"mutation productUpdate": 1}
    assert env.catalogue("dk")["BOX/12"][0]["title"] == "Gaveæske (12 stk.)"
    # Its own writes came back as "changed products": no write.
    mark = env.mark()
    env.run()
    assert env.shopify_writes(mark) == {}
    # Stock moves in Rackbeat and Shopify bump timestamps only: no write.
    env.rackbeat.set_stock("BOX/12", 1, 42)
    p, v = env.catalogue("dk")["TEE #3"]
    env.shopify.set_available("dk", v["inventoryItem"]["id"],
                              next(iter(env.shopify.shop("dk").locations)), 9)
    mark = env.mark()
    env.run()
    assert env.shopify_writes(mark) == {} and env.rackbeat_writes(mark) == {}
    # A merchant's edit of a synced field in Shopify is put back (Rackbeat is the master).
    p, v = env.catalogue("dk")["MUG 350 ML"]
    env.set_variant("dk", p["id"], v["id"], price="80.00")
    mark = env.mark()
    env.run()
    assert env.shopify_writes(mark) == {"mutation productVariantsBulkUpdate": 1}
    assert env.catalogue("dk")["MUG 350 ML"][1]["price"] == "99.95"


def test_a_merchant_s_edit_a_moment_ago_is_put_back_though_shopify_search_lags(
        rb_master: Env) -> None:
    """Issue 20: for seconds after a write Shopify's search does not find a new product at
    all. The pass reads the products list by last change (current at once), so a price the
    merchant edits on a product made a moment ago is put back by the very next pass, and the
    pass after that writes nothing."""
    env = rb_master
    env.shopify.consistency.update({"enabled": True, "search_lag": 3600.0})
    env.rackbeat.add_product("GAVE-1", "Gavekort", 200.00, 1000)
    env.product("dk", "Gavekort", [{"sku": "GAVE-1", "price": "250.00"}])
    env.run()
    p, v = env.catalogue("dk")["GAVE-1"]
    env.set_variant("dk", p["id"], v["id"], price="80.00")
    mark = env.mark()
    env.run()
    assert env.shopify_writes(mark) == {"mutation productVariantsBulkUpdate": 1}
    assert env.catalogue("dk")["GAVE-1"][1]["price"] == "250.00"
    mark = env.mark()
    env.run()
    assert env.shopify_writes(mark) == {} and env.rackbeat_writes(mark) == {}


def _delete_product(env: Env, shop: str, product_id: str) -> None:
    env.gql(shop, "mutation($i: ProductDeleteInput!) { productDelete(input: $i) "
            "{ deletedProductId } }", {"i": {"id": product_id}})


def test_deleted_listing_is_not_recreated_by_default(rb_master: Env) -> None:
    env = rb_master
    env.run()
    p, _ = env.catalogue("dk")["HONNING-1"]
    _delete_product(env, "dk", p["id"])
    env.rb_put("HONNING-1", {"sales_price": 53.57})
    mark = env.mark()
    report = ProductsReport()
    result = env.run(report=report)
    # The item is linked to a listing the merchant deleted: that is respected (create_missing
    # is for items never linked), and the summary says so.
    assert result.exit_code == ExitCode.OK
    c = counts(result, "dk")
    assert c.get("created", 0) == 0 and c["deleted_in_shop"] == 1
    assert env.shopify_writes(mark) == {}
    assert "HONNING-1" not in env.catalogue("dk")
    rows = [r for r in report.rows() if r[1] == "HONNING-1"]
    assert rows and "recreate_deleted" in rows[0][4]
    # Nor on a later pass.
    mark = env.mark()
    env.rb_put("HONNING-1", {"sales_price": 55.00})
    env.run()
    assert env.shopify_writes(mark) == {}


def test_deleted_product_is_recreated_when_asked(tmp_path: Path) -> None:
    env = Env(tmp_path, {"dk": {"products": {**RB_MASTER, "recreate_deleted": True}}})
    try:
        seed_rackbeat_master(env)
        env.run()
        p, _ = env.catalogue("dk")["HONNING-1"]
        _delete_product(env, "dk", p["id"])
        env.rb_put("HONNING-1", {"sales_price": 53.57})
        mark = env.mark()
        result = env.run()
        # Reading the linked variant finds it gone: with recreate_deleted the product is
        # created again (never a duplicate of a live one), and the summary says so.
        assert result.exit_code == ExitCode.OK
        assert counts(result, "dk")["created"] == 1 and counts(result, "dk")["recreated"] == 1
        assert env.shopify_writes(mark) == {"mutation productSet": 1,
                                            "mutation publishablePublish": 1}
        p2, v2 = env.catalogue("dk")["HONNING-1"]
        assert p2["id"] != p["id"] and v2["price"] == "60.00"
        mark = env.mark()
        env.run()
        assert env.shopify_writes(mark) == {}
    finally:
        env.close()


def test_dry_run_lists_fields_and_writes_nothing(rb_master: Env) -> None:
    env = rb_master
    mark = env.mark()
    report = ProductsReport()
    result = env.run(dry_run=True, report=report)
    assert result.exit_code == ExitCode.OK
    assert env.shopify_writes(mark) == {} and env.rackbeat_writes(mark) == {}
    assert not env.state_path.exists()  # not even the state store
    rows = set(report.rows())
    assert ("dk", "BOX/12", "price", "99.00", "125.00", "update") in rows
    assert ("dk", "BOX/12", "title", "Gammel æske", "Gaveæske med 12", "update") in rows
    assert ("dk", "tee #3", "sku", "tee #3", "TEE #3", "update") not in rows
    assert ("dk", "TEE #3", "sku", "tee #3", "TEE #3", "update") in rows
    assert ("dk", "BARRED-1", "status", "ACTIVE", "DRAFT", "update") in rows
    assert ("dk", "NEW-1", "price", "", "15.63", "create") in rows
    assert any(r[1] == "DUP-1" and r[5] == "skip" for r in rows)
    c = counts(result, "dk")
    assert (c["would_update"], c["would_create"]) == (7, 2)
    # What the dry run listed is what a real run does.
    done = env.run()
    assert counts(done, "dk")["updated"] == 7 and counts(done, "dk")["created"] == 2


# -- Shopify -> Rackbeat -------------------------------------------------------------------------

SF_MASTER = {"master": "shopify", "default_group": 1000, "weight_unit": "kg"}


def seed_shopify_master(env: Env, shop: str = "dk") -> None:
    env.rackbeat.add_product("TEE #3", "Old tee", 1.00, 1100)
    env.rackbeat.add_product("SOCK", "Sok", 1.00, 1000)
    env.rackbeat.add_lot("KIT-1", "Gavesæt", 300.00, 1000, {"SOCK": 2})
    env.product(shop, "Gaveæske", [{"sku": "BOX/12", "price": "125.00", "weight": 500,
                                    "weight_unit": "GRAMS"}],
                description_html="<p>Æske med <strong>12</strong> stk.</p>"
                                 "<p>Flot &amp; solid</p>")
    env.product(shop, "T-shirt #3", [{"sku": "TEE #3", "price": "112.00", "weight": 0.2}],
                description_html="<p>Bomuld</p>")
    env.product(shop, "Krus 350 ml – blå", [{"sku": "MUG 350 ML", "price": "10.02",
                                            "weight": 1, "weight_unit": "POUNDS"}])
    env.product(shop, "Uldsokker", [{"sku": "SOK-R", "price": "100.00", "options": ["Rød"]},
                                    {"sku": "SOK-B", "price": "125.00", "options": ["Blå"]}],
                options=["Farve"], description_html="<ul><li>Uld</li><li>Varm</li></ul>")
    env.product(shop, "Gavekort", [{"sku": "", "price": "100.00"}])
    env.product(shop, "Dobbelt", [{"sku": "DUP-1", "price": "1.00", "options": ["A"]},
                                  {"sku": "DUP-1", "price": "1.00", "options": ["B"]}],
                options=["Variant"])
    env.product(shop, "Gave", [{"sku": "GAVE-1", "price": "50.00", "taxable": False}])
    env.product(shop, "Sæt", [{"sku": "KIT-1", "price": "999.00"}])


@pytest.fixture
def sf_master(tmp_path: Path) -> Iterator[Env]:
    env = Env(tmp_path, {"dk": {"products": SF_MASTER}})
    try:
        seed_shopify_master(env)
        yield env
    finally:
        env.close()


def test_shopify_to_rackbeat_every_field(sf_master: Env) -> None:
    env = sf_master
    mark = env.mark()
    report = ProductsReport()
    result = env.run(report=report)
    assert result.exit_code == ExitCode.OK
    c = counts(result, "dk")
    assert (c["created"], c["updated"]) == (5, 1)
    assert (c["skipped_no_sku"], c["skipped_duplicate_sku"], c["skipped_bom"]) == (1, 1, 1)
    assert env.shopify_writes(mark) == {}
    assert env.rackbeat_writes(mark) == {"POST /products": 5, "PUT /products/{number}": 1}

    def rb(number: str) -> tuple[Any, ...]:
        item = env.item(number)
        assert item is not None, number
        return (item["name"], item["description"], item["sales_price"],
                item["physical"]["weight"], item["physical"]["weight_unit"], item["group_id"])

    assert rb("BOX/12") == ("Gaveæske", "Æske med 12 stk.\nFlot & solid", 100.0, 0.5, "kg",
                            1000)
    # Existing item: updated with its own group's VAT (12 %), its group kept.
    assert rb("TEE #3") == ("T-shirt #3", "Bomuld", 100.0, 0.2, "kg", 1100)
    assert rb("MUG 350 ML") == ("Krus 350 ml – blå", "", 8.016, 0.454, "kg", 1000)
    assert rb("SOK-R") == ("Uldsokker - Rød", "Uld\nVarm", 80.0, 0.0, "kg", 1000)
    assert rb("SOK-B") == ("Uldsokker - Blå", "Uld\nVarm", 100.0, 0.0, "kg", 1000)
    assert rb("GAVE-1")[2] == 50.0  # not taxable: no tax inside the price
    assert env.item("DUP-1") is None
    assert env.item("KIT-1")["sales_price"] == 300.0  # type: ignore[index]  # a BOM: untouched
    skipped = {r[1]: r[4] for r in report.rows() if r[5] == "skip"}
    assert "DUP-1" in skipped and "KIT-1" in skipped
    assert any(k.startswith("(no SKU) Gavekort") for k in skipped)

    # A second pass writes nothing.
    mark = env.mark()
    assert env.run().exit_code == ExitCode.OK
    assert env.shopify_writes(mark) == {} and env.rackbeat_writes(mark) == {}

    # One field of one product: one PUT with that field only.
    p, _ = env.catalogue("dk")["BOX/12"]
    env.set_product("dk", p["id"], title="Gaveæske ny")
    mark = env.mark()
    env.run()
    assert env.rackbeat_writes(mark) == {"PUT /products/{number}": 1}
    put = [e for e in env.sandbox.rackbeat.log.entries(mark[1]) if e.access == "write"]
    assert put[0].path.endswith(quote("BOX/12", safe=""))
    assert rb("BOX/12")[0] == "Gaveæske ny"

    # Inventory changes in Shopify are not product changes: nothing written.
    p, v = env.catalogue("dk")["TEE #3"]
    env.shopify.set_available("dk", v["inventoryItem"]["id"],
                              next(iter(env.shopify.shop("dk").locations)), 11)
    mark = env.mark()
    env.run()
    assert env.rackbeat_writes(mark) == {}


def test_two_shopify_masters_first_shop_wins(tmp_path: Path) -> None:
    env = Env(tmp_path, {"dk": {"products": SF_MASTER},
                         "se": {"products": SF_MASTER, "taxes_included": False}})
    try:
        env.product("dk", "T-shirt dk", [{"sku": "TEE #3", "price": "125.00"}])
        env.product("se", "T-shirt se", [{"sku": "TEE #3", "price": "100.00"}])
        env.product("se", "Kun i Sverige", [{"sku": "SE-ONLY", "price": "80.00"}])
        report = ProductsReport()
        # Selected in the "wrong" order: the config order decides.
        result = env.run(report=report, shops=("se", "dk"))
        assert result.exit_code == ExitCode.OK
        assert env.item("TEE #3")["name"] == "T-shirt dk"  # type: ignore[index]
        assert env.item("SE-ONLY")["sales_price"] == 80.0  # type: ignore[index]
        assert counts(result, "se")["conflicts"] == 1
        assert ("se", "TEE #3", "name", "T-shirt dk", "T-shirt se", "conflict") in report.rows()
        se = next(s for s in result.shops if s.shop == "se")
        assert any(d["record"] == "TEE #3" and '"dk"' in d["reason"]
                   for d in se.details["skipped"])
        # The price agrees (125.00 with 25 % = 100.00 without), so it is no conflict.
        assert [r[2] for r in report.rows() if r[0] == "se" and r[5] == "conflict"] == ["name"]
        mark = env.mark()
        again = env.run()
        assert env.rackbeat_writes(mark) == {}
        assert counts(again, "se")["conflicts"] == 1  # still reported while it lasts
    finally:
        env.close()


def test_mixed_masters_converge_in_one_pass(tmp_path: Path) -> None:
    """A Shopify master's new product reaches a Rackbeat-master shop in the same pass."""
    env = Env(tmp_path, {"dk": {"products": RB_MASTER},
                         "se": {"products": SF_MASTER, "taxes_included": False}})
    try:
        env.rackbeat.add_product("BOX/12", "Gaveæske", 100.0, 1000)
        env.product("dk", "Gaveæske", [{"sku": "BOX/12", "price": "125.00", "tracked": True}])
        env.product("se", "Nyhed fra Sverige", [{"sku": "SE-NEW", "price": "80.00"}])
        env.run()
        p, v = env.catalogue("dk")["SE-NEW"]
        assert (p["title"], v["price"]) == ("Nyhed fra Sverige", "100.00")
        mark = env.mark()
        env.run()
        assert env.shopify_writes(mark) == {} and env.rackbeat_writes(mark) == {}
    finally:
        env.close()


def test_one_change_one_write_per_receiving_shop(tmp_path: Path) -> None:
    env = Env(tmp_path, {"dk": {"products": RB_MASTER},
                         "se": {"products": RB_MASTER, "taxes_included": False}})
    try:
        env.rackbeat.add_product("BOX/12", "Gaveæske", 100.0, 1000)
        env.rackbeat.add_product("TEE #3", "T-shirt", 50.0, 1100)
        for shop in ("dk", "se"):
            env.product(shop, "Gaveæske", [{"sku": "BOX/12", "price": "1.00", "tracked": True}])
            env.product(shop, "T-shirt", [{"sku": "TEE #3", "price": "1.00", "tracked": True}])
        env.run()
        assert env.catalogue("dk")["BOX/12"][1]["price"] == "125.00"  # with 25 % VAT
        assert env.catalogue("se")["BOX/12"][1]["price"] == "100.00"  # the shop enters net
        assert env.catalogue("se")["TEE #3"][1]["price"] == "50.00"
        env.rb_put("BOX/12", {"sales_price": 80.0})
        mark = env.mark()
        env.run()
        per_shop: dict[str, list[str]] = {}
        for e in env.sandbox.shopify.log.entries(mark[0]):
            if e.access == "write":
                per_shop.setdefault(str(e.shop), []).append(e.label)
        assert per_shop == {"dk": ["mutation productVariantsBulkUpdate"],
                            "se": ["mutation productVariantsBulkUpdate"]}
        assert env.catalogue("dk")["BOX/12"][1]["price"] == "100.00"
        assert env.catalogue("se")["BOX/12"][1]["price"] == "80.00"
    finally:
        env.close()


def test_faults_never_create_twice_and_converge(tmp_path: Path) -> None:
    """5xx, 429, dropped connections and lost answers on both twins: every pass goes on, a lost
    create is never repeated blindly, and the result is the same as without faults."""
    env = Env(tmp_path, {"dk": {"products": RB_MASTER}})
    try:
        seed_rackbeat_master(env)
        text = env.config_path.read_text(encoding="utf-8")  # fast retries for the test
        env.config_path.write_text(text + "\n[http]\nattempts = 8\nbackoff_seconds = 0.01\n"
                                   "max_backoff_seconds = 0.02\n", encoding="utf-8")
        # No slow answers here: a dropped create never lands late, so the next pass may send
        # it again at once (test_products_publish covers the create that lands late).
        text = env.config_path.read_text(encoding="utf-8")
        env.config_path.write_text(text.replace("[rackbeat]\n", "[rackbeat]\n"
                                                "lost_answer_wait_seconds = 0\n", 1),
                                   encoding="utf-8")
        # The first create's answer is lost (it was made), the second's connection drops (it
        # was not): both are failures of this pass, settled by the next one's read.
        env.sandbox.shopify.faults.configure([
            FaultRule(kinds=("lost",), times=1, match="mutation productSet"),
            FaultRule(kinds=("drop",), times=1, match="mutation productSet")])
        first = env.run()
        assert first.exit_code == ExitCode.PARTIAL
        assert sorted(r for r, _ in first.shops[0].failures) == ["KIT-1", "NEW-1"]
        assert all("no answer" in why for _, why in first.shops[0].failures)
        # Then everything at random, on both twins.
        env.sandbox.set_faults(0.3, kinds=("5xx", "429", "drop", "lost"))
        mark = env.mark()
        for _ in range(6):
            env.run()
        faults = env.sandbox.shopify.log.counters(mark[0])["faults"]
        assert sum(faults.values()) > 0 and env.sandbox.rackbeat.log.counters(mark[1])["faults"]
        env.sandbox.set_faults(0)
        final = env.run()
        assert final.exit_code == ExitCode.OK, final
        skus = [v["sku"] for p in env.gql("dk", ALL_PRODUCTS)["products"]["nodes"]
                for v in p["variants"]["nodes"]]
        assert skus.count("NEW-1") == 1 and skus.count("KIT-1") == 1
        cat = env.catalogue("dk")
        assert (cat["BOX/12"][0]["title"], cat["BOX/12"][1]["price"]) == ("Gaveæske med 12",
                                                                          "125.00")
        assert cat["NEW-1"][1]["price"] == "15.63" and cat["KIT-1"][1]["price"] == "375.00"
        assert cat["HONNING-1"][1]["price"] == "50.00"
        assert cat["TEE #3"][1]["price"] == "199.00"
        assert cat["BARRED-1"][0]["status"] == "DRAFT"
        mark = env.mark()
        env.run()
        assert env.shopify_writes(mark) == {} and env.rackbeat_writes(mark) == {}
    finally:
        env.close()


def test_lost_rackbeat_creates_are_settled_by_reading(sf_master: Env) -> None:
    env = sf_master
    text = env.config_path.read_text(encoding="utf-8")
    env.config_path.write_text(text + "\n[http]\nbackoff_seconds = 0.01\n", encoding="utf-8")
    env.sandbox.rackbeat.faults.configure([
        FaultRule(kinds=("lost",), times=1, match="POST /products"),
        FaultRule(kinds=("drop",), times=1, match="POST /products")])
    first = env.run()
    # The lost answer: the product exists, found by reading, counted as created. The dropped
    # connection: nothing was made; it fails now and is created on the next pass.
    (record, reason), = first.shops[0].failures
    assert "no answer" in reason
    assert counts(first, "dk")["created"] == 4
    second = env.run()
    assert second.exit_code == ExitCode.OK and counts(second, "dk")["created"] == 1
    assert env.item(record) is not None
    mark = env.mark()
    env.run()
    assert env.rackbeat_writes(mark) == {}


def test_a_duplicate_sku_made_unique_is_synced(rb_master: Env) -> None:
    env = rb_master
    env.run()
    nodes = env.gql("dk", ALL_PRODUCTS)["products"]["nodes"]
    a = next(p for p in nodes if p["title"] == "Dobbelt A")
    b = next(p for p in nodes if p["title"] == "Dobbelt B")
    env.set_variant("dk", b["id"], b["variants"]["nodes"][0]["id"], inventoryItem={"sku": "DUP-2"})
    mark = env.mark()
    result = env.run()
    assert result.exit_code == ExitCode.OK
    assert env.shopify_writes(mark) == {"mutation productVariantsBulkUpdate": 1,
                                        "mutation productUpdate": 1}
    p, v = env.catalogue("dk")["DUP-1"]
    assert (p["id"], p["title"], v["price"]) == (a["id"], "Dobbelt", "50.00")
    assert env.catalogue("dk")["DUP-2"][1]["price"] == "1.00"  # not a Rackbeat item


def test_shopify_master_puts_back_a_value_edited_in_rackbeat(sf_master: Env) -> None:
    """Shopify is master: a name and price changed by hand in Rackbeat are written back from
    Shopify at the next pass (before, the pass only looked at what changed in Shopify, so
    Rackbeat kept the edit for good); the pass after writes nothing."""
    env = sf_master
    assert env.run().exit_code == ExitCode.OK
    before = env.item("BOX/12")
    assert before is not None
    env.rackbeat.account.items[before["id"]].name = "Omdøbt i Rackbeat"  # a hand edit
    env.rackbeat.account.items[before["id"]].sales_price = 1.0
    env.rackbeat.account._touch(env.rackbeat.account.items[before["id"]])
    result = env.run()
    assert result.exit_code == ExitCode.OK, result.shops[0].failures
    # every item the first pass wrote is within the overlap too: read again, not written
    assert counts(result, "dk").get("rackbeat_changed", 0) >= 1
    assert counts(result, "dk").get("updated") == 1
    after = env.item("BOX/12")
    assert after is not None
    assert (after["name"], after["sales_price"]) == (before["name"], before["sales_price"])
    mark = env.mark()
    assert env.run().exit_code == ExitCode.OK
    assert env.rackbeat_writes(mark) == {}
