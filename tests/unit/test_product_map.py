"""The pure product transforms: VAT and rounding both ways, names, text, weights, diffs, hashes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from rackshop.config.values import SHOPIFY_FIELDS
from rackshop.sync.product_map import (
    DesiredShopify,
    PushSettings,
    desired_from_rackbeat,
    diff_for_shopify,
    product_create_input,
    product_update_input,
    rackbeat_source_hash,
    shopify_state_hash,
    variant_update_input,
)
from rackshop.sync.product_map_rackbeat import (
    diff_for_rackbeat,
    rackbeat_fields_from_variant,
    shopify_source_hash,
)
from rackshop.sync.product_state import (
    ProductState,
    RackbeatItem,
    VariantState,
    index_skus,
    product_state,
)
from rackshop.sync.product_values import (
    convert_weight,
    html_to_text,
    rackbeat_price,
    shopify_price,
    sku_key,
    text_to_html,
    variant_name,
)

D = Decimal
ALL_RB_FIELDS = ("name", "number", "sales_price", "barcode", "description", "group")
ALL_SF_FIELDS = ("name", "description", "sales_price", "weight")

# -- VAT and rounding ------------------------------------------------------------------------------

# (Rackbeat sales price, Rackbeat prices include VAT, shop prices include tax, VAT %, Shopify price)
RACKBEAT_TO_SHOPIFY = [
    # Rackbeat excludes VAT, the shop includes it: VAT added, rounded half up to cents.
    ("100.00", False, True, "25", "125.00"),
    ("99.99", False, True, "25", "124.99"),     # 124.9875
    ("0.02", False, True, "25", "0.03"),        # 0.025: half up
    ("0.05", False, True, "25", "0.06"),        # 0.0625
    ("79.96", False, True, "25", "99.95"),
    ("10.00", False, True, "12", "11.20"),
    ("79.20", False, True, "12", "88.70"),      # 88.704
    ("44.64", False, True, "12", "50.00"),      # 49.9968
    ("19.99", False, True, "0", "19.99"),
    ("8.016", False, True, "25", "10.02"),      # 6 decimals in Rackbeat
    # Both exclude / both include: the price as it is.
    ("100.00", False, False, "25", "100.00"),
    ("49.50", False, False, "12", "49.50"),
    ("125.00", True, True, "25", "125.00"),
    ("19.999", True, True, "25", "20.00"),
    # Rackbeat includes VAT, the shop excludes it: VAT removed.
    ("125.00", True, False, "25", "100.00"),
    ("50.00", True, False, "12", "44.64"),      # 44.6428...
    ("19.99", True, False, "0", "19.99"),
]


@pytest.mark.parametrize(("rb", "rb_incl", "shop_incl", "rate", "expected"), RACKBEAT_TO_SHOPIFY)
def test_shopify_price_from_rackbeat(rb: str, rb_incl: bool, shop_incl: bool, rate: str,
                                     expected: str) -> None:
    got = shopify_price(D(rb), vat_rate=D(rate), rackbeat_includes_vat=rb_incl,
                        shop_includes_tax=shop_incl)
    assert got == D(expected)
    assert got.as_tuple().exponent == -2


# (Shopify price, shop includes tax, Rackbeat includes VAT, VAT %, taxable, Rackbeat price)
SHOPIFY_TO_RACKBEAT = [
    ("125.00", True, False, "25", True, "100.00"),
    ("99.95", True, False, "25", True, "79.96"),
    ("10.02", True, False, "25", True, "8.016"),    # 8.02 would come back as 10.03
    ("11.20", True, False, "12", True, "10.00"),
    ("88.70", True, False, "12", True, "79.20"),
    ("50.00", True, False, "12", True, "44.64"),    # 44.64 * 1.12 = 49.9968 -> 50.00
    ("19.99", True, False, "0", True, "19.99"),
    ("40.00", True, False, "25", False, "40.00"),   # not taxable: no tax inside the price
    ("100.00", False, False, "25", True, "100.00"),
    ("49.50", False, False, "12", True, "49.50"),
    ("100.00", False, True, "25", True, "125.00"),  # Rackbeat keeps gross prices
    ("125.00", True, True, "25", True, "125.00"),
    ("0.03", True, False, "25", True, "0.02"),      # 0.025 -> 0.03 (half up)
    ("0.02", True, False, "25", True, "0.016"),     # 0.02 would give 0.025 -> 0.03
]


@pytest.mark.parametrize(("price", "shop_incl", "rb_incl", "rate", "taxable", "expected"),
                         SHOPIFY_TO_RACKBEAT)
def test_rackbeat_price_from_shopify(price: str, shop_incl: bool, rb_incl: bool, rate: str,
                                     taxable: bool, expected: str) -> None:
    got = rackbeat_price(D(price), vat_rate=D(rate), shop_includes_tax=shop_incl,
                         rackbeat_includes_vat=rb_incl, taxable=taxable)
    assert got == D(expected)
    # It is the fewest decimals that give the Shopify price back.
    effective = D(rate) if taxable else D(0)
    back = shopify_price(got, vat_rate=effective, rackbeat_includes_vat=rb_incl,
                         shop_includes_tax=shop_incl)
    assert back == D(price)


@pytest.mark.parametrize("rate", ["25", "12", "0", "6", "21.5"])
@pytest.mark.parametrize(("rb_incl", "shop_incl"), [(False, True), (False, False), (True, False),
                                                    (True, True)])
def test_round_trip_rackbeat_shopify_rackbeat_keeps_the_cent(rate: str, rb_incl: bool,
                                                             shop_incl: bool) -> None:
    r = D(rate)
    for cents_value in range(1, 30001, 7):  # 0.01 .. 300.00
        rb = D(cents_value) / 100
        sp = shopify_price(rb, vat_rate=r, rackbeat_includes_vat=rb_incl,
                           shop_includes_tax=shop_incl)
        back = rackbeat_price(sp, vat_rate=r, shop_includes_tax=shop_incl,
                              rackbeat_includes_vat=rb_incl)
        if rb_incl and not shop_incl and r:
            # VAT removed on the way out: Shopify's cents cannot carry every gross cent (2.73
            # and 2.74 at 6 % are both 2.58), so the way back may land one cent off; it always
            # reproduces the Shopify price.
            assert abs(back - rb) <= D("0.01"), (rb, sp, back)
            assert shopify_price(back, vat_rate=r, rackbeat_includes_vat=True,
                                 shop_includes_tax=False) == sp
        else:
            # Rackbeat -> Shopify -> Rackbeat: the same price to the cent.
            assert back == rb, (rb, sp, back)


@pytest.mark.parametrize("rate", ["25", "12", "0"])
def test_round_trip_shopify_rackbeat_shopify_is_exact(rate: str) -> None:
    r = D(rate)
    for cents_value in range(1, 30001, 3):
        sp = D(cents_value) / 100
        rb = rackbeat_price(sp, vat_rate=r, shop_includes_tax=True)
        assert shopify_price(rb, vat_rate=r, rackbeat_includes_vat=False,
                             shop_includes_tax=True) == sp
        assert len(str(rb).split(".")[-1]) <= 6


# -- names, text, weights ---------------------------------------------------------------------


@pytest.mark.parametrize(("title", "variant", "count", "expected"), [
    ("Tee", "Red / M", 2, "Tee - Red / M"),
    ("Tee", "Default Title", 1, "Tee"),
    ("Tee", "Red", 1, "Tee"),                  # one variant: the title alone
    ("  Æblemost  ", "1 l", 3, "Æblemost - 1 l"),
    ("Tee", "", 2, "Tee"),
])
def test_variant_name(title: str, variant: str, count: int, expected: str) -> None:
    assert variant_name(title, variant, count) == expected


@pytest.mark.parametrize(("markup", "text"), [
    ("<p>Uldsokker fra sandkassen. <strong>God kvalitet</strong>.</p>",
     "Uldsokker fra sandkassen. God kvalitet."),
    ("<p>One</p><p>Two &amp; three</p>", "One\nTwo & three"),
    ("Line<br>next<br/>  last  ", "Line\nnext\nlast"),
    ("<ul><li>a</li><li>b</li></ul>", "a\nb"),
    ("<style>p{}</style><p>x &lt;y&gt;</p><script>alert(1)</script>", "x <y>"),
    ("", ""),
    ("Æ&oslash;&#229;", "Æøå"),
])
def test_html_to_text(markup: str, text: str) -> None:
    assert html_to_text(markup) == text


def test_text_to_html_escapes_and_round_trips() -> None:
    text = "Æske med <12> & mere\nFlot"
    markup = text_to_html(text)
    assert markup == "<p>Æske med &lt;12&gt; &amp; mere</p><p>Flot</p>"
    assert html_to_text(markup) == text


@pytest.mark.parametrize(("value", "src", "dst", "expected"), [
    ("500", "GRAMS", "kg", "0.5"),
    ("1", "POUNDS", "kg", "0.454"),
    ("1", "OUNCES", "g", "28.35"),
    ("2.5", "KILOGRAMS", "g", "2500"),
    ("1", "KILOGRAMS", "lb", "2.205"),
    ("0", "KILOGRAMS", "kg", "0"),
    ("0.35", "kg", "kg", "0.35"),
])
def test_convert_weight(value: str, src: str, dst: str, expected: str) -> None:
    assert convert_weight(D(value), src, dst) == D(expected)


def test_convert_weight_unknown_unit() -> None:
    with pytest.raises(ValueError, match="unknown weight unit"):
        convert_weight(D(1), "STONES", "kg")


def test_sku_key_matches_like_rackbeat() -> None:
    assert sku_key(" tee #3 ") == sku_key("TEE #3") == "tee #3"
    assert sku_key(None) == sku_key("   ") == ""


# -- Shopify -> Rackbeat -------------------------------------------------------------------------


def _variant(**over: Any) -> dict[str, Any]:
    v = {"id": "gid://shopify/ProductVariant/1", "sku": "BOX/12", "title": "Default Title",
         "price": "125.00", "barcode": None, "taxable": True,
         "inventoryItem": {"id": "gid://shopify/InventoryItem/1", "tracked": True,
                           "measurement": {"weight": {"value": 500.0, "unit": "GRAMS"}}}}
    v.update(over)
    return v


def _product(**over: Any) -> dict[str, Any]:
    p = {"id": "gid://shopify/Product/1", "title": "Gaveæske",
         "descriptionHtml": "<p>Æske med <strong>12</strong> stk.</p><p>Flot &amp; solid</p>",
         "variantsCount": {"count": 1}, "status": "ACTIVE", "productType": "", "updatedAt": ""}
    p.update(over)
    return p


def test_rackbeat_fields_from_variant_single() -> None:
    body = rackbeat_fields_from_variant(_product(), _variant(), prices_include_tax=True,
                                        vat_rate=25, default_group=1000, weight_unit="kg",
                                        fields=SHOPIFY_FIELDS).payload()
    assert body == {"number": "BOX/12", "name": "Gaveæske",
                    "description": "Æske med 12 stk.\nFlot & solid", "sales_price": 100,
                    "physical": {"weight": 0.5, "weight_unit": "kg"}, "group": 1000}


def test_rackbeat_fields_from_variant_multi_and_fields() -> None:
    product = _product(title="Tee", variantsCount={"count": 3})
    variant = _variant(sku=" TEE #3-M ", title="Rød / M", price="10.02")
    body = rackbeat_fields_from_variant(product, variant, prices_include_tax=True, vat_rate=25,
                                        default_group=None, weight_unit="g",
                                        fields=("name", "sales_price", "weight")).payload()
    assert body == {"number": "TEE #3-M", "name": "Tee - Rød / M", "sales_price": 8.016,
                    "physical": {"weight": 500, "weight_unit": "g"}}


def test_rackbeat_fields_from_variant_needs_a_sku() -> None:
    with pytest.raises(ValueError, match="no SKU"):
        rackbeat_fields_from_variant(_product(), _variant(sku="  "), prices_include_tax=True,
                                     vat_rate=25, default_group=1, weight_unit="kg",
                                     fields=SHOPIFY_FIELDS)


def _rb_item(**over: Any) -> RackbeatItem:
    data = {"number": "BOX/12", "type": "product", "name": "Gaveæske",
            "description": "Æske med 12 stk.\nFlot & solid", "sales_price": 100.0,
            "barcode": "5700000000012", "is_barred": False,
            "group": {"number": 1000, "name": "Varer", "vat_domestic": 25.0},
            "physical": {"weight": 0.5, "weight_unit": "kg"}, "updated_at": ""}
    data.update(over)
    return RackbeatItem.from_json(data)


def test_diff_for_rackbeat_only_what_differs() -> None:
    wanted = rackbeat_fields_from_variant(_product(), _variant(), prices_include_tax=True,
                                          vat_rate=25, default_group=1000, weight_unit="kg",
                                          fields=ALL_SF_FIELDS)
    body, changes = diff_for_rackbeat(wanted, _rb_item())
    assert body == {} and changes == ()
    body, changes = diff_for_rackbeat(wanted, _rb_item(name="Old", sales_price=99.99,
                                                       physical={"weight": 500,
                                                                 "weight_unit": "g"}))
    assert body == {"name": "Gaveæske", "sales_price": 100}
    assert [c.field for c in changes] == ["name", "sales_price"]
    assert "group" not in body  # an existing item keeps its group


def test_rackbeat_item_from_json_float_prices() -> None:
    item = _rb_item(sales_price=614.1, group={"number": 1200, "name": "Bøger",
                                              "vat_domestic": 0.0})
    assert item.sales_price == D("614.1")
    assert item.vat_rate == D(0)  # 0 % is a rate, not "no rate"
    assert _rb_item(group={"number": 1, "name": "X"}).vat_rate is None


# -- Rackbeat -> Shopify -------------------------------------------------------------------------

SETTINGS = PushSettings(fields=ALL_RB_FIELDS, shop_prices_include_tax=True,
                        default_vat_rate=D(25), barred="draft", new_product_status="draft")


def _state(title: str = "Gaveæske", count: int = 1, **v: Any) -> tuple[ProductState,
                                                                        VariantState]:
    p = product_state({"id": "gid://shopify/Product/1", "title": title, "status": "ACTIVE",
                       "descriptionHtml": "<p>Æske med 12 stk.</p><p>Flot &amp; solid</p>",
                       "productType": "Varer", "updatedAt": ""}, [_variant(**v)],
                      variant_count=count)
    return p, p.variants[0]


def test_desired_and_diff_in_sync() -> None:
    desired = desired_from_rackbeat(_rb_item(), SETTINGS)
    p, v = _state(barcode="5700000000012")
    assert diff_for_shopify(desired, p, v).changes == ()


def test_diff_for_shopify_writes_only_what_differs() -> None:
    desired = desired_from_rackbeat(_rb_item(name="Ny titel", sales_price=80), SETTINGS)
    p, v = _state(sku="box/12", barcode="5700000000012")
    diff = diff_for_shopify(desired, p, v)
    assert [(c.field, c.old, c.new) for c in diff.changes] == [
        ("title", "Gaveæske", "Ny titel"), ("sku", "box/12", "BOX/12"),
        ("price", "125.00", "100.00")]
    assert product_update_input(p.id, diff.product_changes) == {"id": p.id, "title": "Ny titel"}
    assert variant_update_input(v.id, diff.variant_changes) == {
        "id": v.id, "inventoryItem": {"sku": "BOX/12"}, "price": "100.00"}


def test_multi_variant_products_keep_their_product_fields() -> None:
    desired = desired_from_rackbeat(_rb_item(name="Tee - Rød", sales_price=80, is_barred=True),
                                    SETTINGS)
    p, v = _state(title="Tee", count=2, barcode="5700000000012")
    diff = diff_for_shopify(desired, p, v)
    assert [c.field for c in diff.changes] == ["price"]
    assert diff.notes and "2 variants" in diff.notes[0] and "title" in diff.notes[0]


@pytest.mark.parametrize(("action", "status", "skip"), [("draft", "DRAFT", False),
                                                        ("archive", "ARCHIVED", False),
                                                        ("ignore", None, True)])
def test_barred_items(action: str, status: str | None, skip: bool) -> None:
    settings = PushSettings(fields=ALL_RB_FIELDS, barred=action)
    desired = desired_from_rackbeat(_rb_item(is_barred=True), settings)
    assert desired.status == status and desired.skip is skip
    p, v = _state(barcode="5700000000012")
    diff = diff_for_shopify(desired, p, v)
    assert [c.new for c in diff.changes] == ([status] if status else [])


def test_fields_switch_off_what_is_synced() -> None:
    settings = PushSettings(fields=("sales_price",))
    desired = desired_from_rackbeat(_rb_item(name="Other", barcode=None, description="x"),
                                    settings)
    p, v = _state(sku="box/12", barcode="123")
    assert [c.field for c in diff_for_shopify(desired, p, v).changes] == []
    assert desired.title is None and desired.barcode is None and not desired.set_sku


def test_vat_rate_falls_back_to_the_config() -> None:
    settings = PushSettings(fields=ALL_RB_FIELDS, default_vat_rate=D(12))
    desired = desired_from_rackbeat(_rb_item(group={"number": 9, "name": "X"}), settings)
    assert desired.price == D("112.00")


def test_product_create_input_is_a_create_only_product_set() -> None:
    desired = desired_from_rackbeat(_rb_item(), PushSettings(fields=ALL_RB_FIELDS,
                                                             new_product_status="active"))
    body = product_create_input(desired, ["gid://shopify/Location/1"])
    assert "id" not in body
    assert body["title"] == "Gaveæske" and body["status"] == "ACTIVE"
    assert body["productType"] == "Varer"
    assert body["descriptionHtml"] == "<p>Æske med 12 stk.</p><p>Flot &amp; solid</p>"
    (variant,) = body["variants"]
    assert variant["sku"] == "BOX/12" and variant["price"] == "125.00"
    assert variant["barcode"] == "5700000000012"
    assert variant["inventoryItem"] == {"tracked": True}
    assert variant["inventoryQuantities"] == [
        {"locationId": "gid://shopify/Location/1", "name": "available", "quantity": 0}]


# -- hashes --------------------------------------------------------------------------------------


def test_hashes_are_stable_and_see_only_synced_values() -> None:
    d1 = desired_from_rackbeat(_rb_item(), SETTINGS)
    d2 = desired_from_rackbeat(_rb_item(updated_at="2030-01-01", physical={"weight": 9}),
                               SETTINGS)
    assert rackbeat_source_hash(d1) == rackbeat_source_hash(d2)  # stock/weight: not synced
    d3 = desired_from_rackbeat(_rb_item(sales_price=101), SETTINGS)
    assert rackbeat_source_hash(d1) != rackbeat_source_hash(d3)

    p, v = _state()
    p2 = ProductState(**{**p.__dict__, "updated_at": "later", "description_html":
                         "<div>Æske med 12 stk.<br>Flot &amp; solid</div>"})
    assert shopify_state_hash(p, v, ALL_RB_FIELDS) == shopify_state_hash(p2, v, ALL_RB_FIELDS)
    v2 = VariantState(**{**v.__dict__, "price": D("125.01")})
    assert shopify_state_hash(p, v, ALL_RB_FIELDS) != shopify_state_hash(p, v2, ALL_RB_FIELDS)
    assert shopify_state_hash(p, v, ("name",)) == shopify_state_hash(p, v2, ("name",))

    kw: dict[str, Any] = {"fields": ALL_SF_FIELDS, "prices_include_tax": True,
                          "weight_unit": "kg"}
    assert shopify_source_hash(p, v, **kw) == shopify_source_hash(p2, v, **kw)
    assert shopify_source_hash(p, v, **kw) != shopify_source_hash(p, v2, **kw)


def test_index_skus_finds_duplicates_and_missing_skus() -> None:
    a = product_state({"id": "P1", "title": "A"}, [_variant(id="V1", sku="X-1"),
                                                   _variant(id="V2", sku="")])
    b = product_state({"id": "P2", "title": "B"}, [_variant(id="V3", sku="x-1 "),
                                                   _variant(id="V4", sku="Y")])
    idx = index_skus([a, b])
    assert set(idx.unique) == {"y"}
    assert [v.id for _, v in idx.duplicates["x-1"]] == ["V1", "V3"]
    assert [v.id for _, v in idx.without_sku] == ["V2"]


def test_desired_json_is_hashable_input() -> None:
    d = desired_from_rackbeat(_rb_item(), SETTINGS)
    assert isinstance(d, DesiredShopify)
    assert d.as_json()["price"] == "125.00"


# -- issue 19: rounding in another currency, ownership, names, groups ------------------------


@pytest.mark.parametrize(("value", "rounding", "out"), [
    ("81.254", "cent", "81.25"), ("81.255", "cent", "81.26"),
    ("81.49", "whole", "81.00"), ("81.50", "whole", "82.00"),
    ("81.25", "95", "80.95"), ("81.60", "95", "81.95"), ("81.45", "95", "81.95"),
    ("0.20", "95", "0.95"), ("0", "95", "0.00"),
])
def test_round_price(value: str, rounding: str, out: str) -> None:
    from rackshop.sync.product_values import round_price
    assert round_price(Decimal(value), rounding) == Decimal(out)


def test_to_shop_currency_rounds_once_and_never_for_the_base_currency() -> None:
    from rackshop.sync.product_values import to_shop_currency
    assert to_shop_currency(Decimal("65"), Decimal("0.65"), "95") == Decimal("99.95")
    assert to_shop_currency(Decimal("65.004"), Decimal(1), "whole") == Decimal("65.00")


def test_owned_fields_and_the_ownership_rule_in_the_diff() -> None:
    from rackshop.sync.product_map import (
        PushSettings,
        desired_from_rackbeat,
        diff_for_shopify,
        owned_fields,
    )
    from rackshop.sync.product_state import RackbeatItem, variant_state
    item = RackbeatItem("A-1", "product", "Krus", "", Decimal(80), None, False, 1000, "Varer",
                        Decimal(25), None, None, "")
    desired = desired_from_rackbeat(item, PushSettings(fields=("barcode", "group", "sales_price")))
    v = variant_state({"id": "gid://shopify/ProductVariant/1", "sku": "A-1", "price": "100.00",
                       "barcode": "5701234567892"})
    p = product_state({"id": "gid://shopify/Product/1", "title": "Krus", "status": "ACTIVE",
                       "productType": "Tilbehør"}, [], variant_count=1)
    assert owned_fields(desired, p, v) == ()
    diff = diff_for_shopify(desired, p, v, owned=())
    assert diff.changes == () and "Tilbehør" in diff.notes[0]  # nothing erased or replaced
    everything = diff_for_shopify(desired, p, v, owned=("barcode", "product_type"))
    assert {c.field for c in everything.changes} == {"barcode", "product_type"}
    same = product_state({"id": "gid://shopify/Product/1", "title": "Krus", "status": "ACTIVE",
                          "productType": "varer"}, [], variant_count=1)
    assert owned_fields(desired, same, v) == ("product_type",)  # the group's name, any case


def test_untaxed_variant_price_has_no_vat() -> None:
    from rackshop.sync.product_map import PushSettings, desired_from_rackbeat
    from rackshop.sync.product_state import RackbeatItem
    item = RackbeatItem("G-1", "product", "Gavekort", "", Decimal(200), None, False, 1000,
                        "Varer", Decimal(25), None, None, "")
    settings = PushSettings(fields=("sales_price",))
    assert desired_from_rackbeat(item, settings).price == Decimal("250.00")
    assert desired_from_rackbeat(item, settings, taxable=False).price == Decimal("200.00")


def test_shorten_and_group_for_type() -> None:
    from rackshop.sync.product_values import NAME_LIMIT, group_for_type, shorten
    assert shorten("Kort") == ("Kort", None)
    text, note = shorten("x" * 300)
    assert len(text) == NAME_LIMIT and text.endswith("…") and note and "300" in note
    groups = {"tilbehør": 1201}
    assert group_for_type(" TILBEHØR ", groups, 1000) == 1201
    assert group_for_type("Andet", groups, 1000) == 1000
    assert group_for_type("", groups, None) is None
