"""Product writes: ``productCreate``, ``productUpdate``, ``productDelete``, ``productSet``,
``productVariantsBulkCreate``/``BulkUpdate`` and ``inventoryItemUpdate``, with Shopify's
userErrors (lengths, option and variant rules)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from graphql import GraphQLResolveInfo

from .catalog import (
    _handle_index,
    add_option_value,
    apply_item_input,
    ctx_of,
    delete_variant,
    does_not_exist,
    handle_owner,
    input_dict,
    money,
    new_option,
    new_product,
    new_variant,
    normalize_handle,
    option_named,
    product_by_identifier,
    product_changed,
    select_option,
    set_handle,
    shop_record,
    sorted_tags,
    unique_handle,
    unit_price_measurement,
    user_error,
)
from .metafields import set_metafield
from .state import ShopState, gid_number


def _m_product_create(
    _: Any, info: GraphQLResolveInfo, product: dict[str, Any] | None = None
) -> Any:
    shop = ctx_of(info).shop
    data = input_dict(product)
    payload: dict[str, Any] = {"product": None, "shop": shop_record(shop), "userErrors": []}
    title = (data.get("title") or "").strip()
    if not title:
        payload["userErrors"] = [user_error(["title"], "Title can't be blank")]
        return payload
    explicit = normalize_handle(data["handle"]) if (data.get("handle") or "").strip() else None
    if explicit == "":
        explicit = "product"
    errs = _length_errors(data, ["input"], explicit or normalize_handle(title))
    if explicit and handle_owner(shop, explicit) is not None:
        errs.append(
            user_error(
                ["input", "handle"],
                f"Handle '{explicit}' already in use. Please provide a new handle.",
            )
        )
    if errs:
        payload["userErrors"] = errs
        return payload
    p = new_product(
        shop,
        title=title,
        handle=explicit or unique_handle(shop, normalize_handle(title) or "product"),
        status=data.get("status") or "ACTIVE",
        published=False,  # the API publishes nothing: publishablePublish does
    )
    p["vendor"] = shop.name
    _apply_product_scalars(shop, p, data)
    options = [input_dict(o) for o in data.get("productOptions") or []]
    if options:
        pairs = []
        for i, o in enumerate(options, start=1):
            values = [input_dict(v)["name"] for v in o.get("values") or []]
            p["options"].append(new_option(shop, o["name"], o.get("position") or i, values))
            if values:
                pairs.append((o["name"], values[0]))
        new_variant(shop, p, options=pairs)
    else:
        new_variant(shop, p)
    product_changed(shop, p, created=True)
    payload["product"] = p
    return payload


def _m_product_update(
    _: Any,
    info: GraphQLResolveInfo,
    product: dict[str, Any] | None = None,
    identifier: dict[str, Any] | None = None,
) -> Any:
    shop = ctx_of(info).shop
    data = input_dict(product)
    target = None
    if identifier:
        target = product_by_identifier(shop, input_dict(identifier))
    elif data.get("id"):
        target = shop.products.get(data["id"])
    if target is None:
        return does_not_exist("Product", product=None)
    handle = None
    errs: list[dict[str, Any]] = []
    if data.get("handle") is not None:
        handle = normalize_handle(data["handle"]) or "product"
        owner = handle_owner(shop, handle)
        if owner is not None and owner["id"] != target["id"]:
            errs.append(
                user_error(
                    ["input", "handle"],
                    f"Handle '{handle}' already in use. Please provide a new handle.",
                )
            )
    if "title" in data and not (data.get("title") or "").strip():
        errs.append(user_error(["title"], "Title can't be blank"))
    errs += _length_errors(data, ["input"], handle)
    if errs:
        return {"product": None, "userErrors": errs}
    _apply_product_scalars(shop, target, data)
    if handle is not None:
        set_handle(shop, target, handle)
    product_changed(shop, target)
    return {"product": target, "userErrors": []}


def _m_product_delete(
    _: Any, info: GraphQLResolveInfo, input: dict[str, Any], synchronous: bool = True
) -> Any:
    shop = ctx_of(info).shop
    p = shop.products.get(input_dict(input).get("id", ""))
    if p is None:
        return does_not_exist("Product", deletedProductId=None, shop=shop_record(shop))
    for vg in list(p["variantIds"]):
        v = shop.variants.get(vg)
        if v is not None:
            delete_variant(shop, v)
    _handle_index(shop).pop(p["handle"], None)
    del shop.products[p["id"]]
    shop.handle_index_size = len(shop.products)
    shop.emit("products/delete", {"id": gid_number(p["id"]), "admin_graphql_api_id": p["id"]})
    return {"deletedProductId": p["id"], "shop": shop_record(shop), "userErrors": []}


def _option_pairs(raw: Any) -> list[tuple[str, str]]:
    pairs = []
    for ov in raw or []:
        ov = input_dict(ov)
        pairs.append((ov.get("optionName") or "", ov.get("name") or ""))
    return pairs


def _set_inventory_quantities(
    shop: ShopState, item: dict[str, Any], quantities: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    changed = []
    for q in quantities:
        loc = shop.locations.get(q["locationId"])
        if loc is None:
            continue
        level = item["levels"].get(loc["id"])
        if level is None:
            level = shop.new_level(item, loc)
        name = q.get("name") or "available"
        current = level["quantities"]["on_hand" if name == "on_hand" else "available"]
        if shop.change_quantity(level, name, int(q["quantity"]) - current, lags_totals=True):
            changed.append(level)
    return changed


def _m_product_set(
    _: Any,
    info: GraphQLResolveInfo,
    input: dict[str, Any],
    synchronous: bool = True,
    identifier: dict[str, Any] | None = None,
) -> Any:
    ctx = ctx_of(info)
    shop = ctx.shop
    data = input_dict(input)
    ident = input_dict(identifier)

    def fail(errs: list[dict[str, Any]]) -> dict[str, Any]:
        return {"product": None, "productSetOperation": None, "userErrors": errs}

    if ident and data.get("id") and ctx.version_at_least("2026-04"):
        return fail(
            [
                user_error(
                    ["input"],
                    "The id field is not allowed if identifier is provided.",
                    "ID_NOT_ALLOWED",
                )
            ]
        )
    target: dict[str, Any] | None = None
    if ident:
        target = product_by_identifier(shop, ident)
        if target is None and ident.get("id"):
            return fail(
                [
                    user_error(
                        ["identifier", "id"], "Product does not exist", "PRODUCT_DOES_NOT_EXIST"
                    )
                ]
            )
    elif data.get("id"):
        target = shop.products.get(data["id"])
        if target is None:
            return fail(
                [user_error(["input", "id"], "Product does not exist", "PRODUCT_DOES_NOT_EXIST")]
            )

    errs: list[dict[str, Any]] = []
    creating = target is None
    title = data.get("title")
    if creating and not (title or "").strip():
        errs.append(user_error(["input", "title"], "Title can't be blank", "INVALID_PRODUCT"))
    handle: str | None = None
    if (data.get("handle") or "").strip():
        handle = normalize_handle(data["handle"]) or "product"
    elif creating and ident.get("handle"):
        handle = normalize_handle(ident["handle"]) or "product"
    derived = handle or (normalize_handle(title) if creating and title else None)
    errs += _length_errors(data, ["input"], derived)
    if handle is not None:
        owner = handle_owner(shop, handle)
        if owner is not None and (target is None or owner["id"] != target["id"]):
            errs.append(
                user_error(
                    ["input", "handle"],
                    f"Handle '{handle}' already in use. Please provide a new handle.",
                    "HANDLE_NOT_UNIQUE",
                )
            )
    variants_in = (
        [input_dict(v) for v in data.get("variants") or []]
        if data.get("variants") is not None
        else None
    )
    options_in = (
        [input_dict(o) for o in data.get("productOptions") or []]
        if data.get("productOptions") is not None
        else None
    )
    if options_in is not None and len(options_in) > 3:
        errs.append(
            user_error(
                ["input", "productOptions"],
                "Can only specify a maximum of 3 options",
                "OPTIONS_OVER_LIMIT",
            )
        )
    if variants_in is not None:
        if len(variants_in) > 2048:
            errs.append(
                user_error(
                    ["input", "variants"],
                    "Exceeded the maximum number of variants allowed",
                    "VARIANTS_OVER_LIMIT",
                )
            )
        seen: dict[tuple[tuple[str, str], ...], int] = {}
        for i, v in enumerate(variants_in):
            key = tuple(sorted((n.lower(), val) for n, val in _option_pairs(v.get("optionValues"))))
            if key in seen:
                label = " / ".join(val for _, val in _option_pairs(v.get("optionValues")))
                errs.append(
                    user_error(
                        ["input", "variants", str(i)],
                        f"The variant '{label}' already exists. "
                        "Please change at least one option value.",
                    )
                )
            else:
                seen[key] = i
            if v.get("id") and (
                v["id"] not in shop.variants
                or target is None
                or shop.variants[v["id"]]["productId"] != target["id"]
            ):
                errs.append(
                    user_error(
                        ["input", "variants", str(i), "id"],
                        "Product variant does not exist",
                        "PRODUCT_VARIANT_DOES_NOT_EXIST",
                    )
                )
            for j, q in enumerate(v.get("inventoryQuantities") or []):
                q = input_dict(q)
                if q.get("locationId") not in shop.locations:
                    errs.append(
                        user_error(
                            [
                                "input",
                                "variants",
                                str(i),
                                "inventoryQuantities",
                                str(j),
                                "locationId",
                            ],
                            "Location does not exist",
                            "NOT_FOUND",
                        )
                    )
            for field_name in ("price", "compareAtPrice"):
                try:
                    money(v.get(field_name))
                except ValueError:
                    errs.append(
                        user_error(
                            ["input", "variants", str(i), field_name],
                            "is invalid",
                            "INVALID_VARIANT",
                        )
                    )
    if errs:
        return fail(errs)

    if creating:
        p = new_product(
            shop,
            title=title or "",
            handle=handle or unique_handle(shop, normalize_handle(title or "") or "product"),
            status=data.get("status") or "ACTIVE",
            published=False,  # the API publishes nothing: publishablePublish does
        )
        if ident.get("customId"):
            cid = input_dict(ident["customId"])
            set_metafield(shop, p, "PRODUCT", cid.get("namespace"), cid["key"], cid["value"], "id")
    else:
        assert target is not None
        p = target
        if handle is not None:
            set_handle(shop, p, handle)
    _apply_product_scalars(shop, p, data)
    if data.get("metafields") is not None:
        keep = {
            (input_dict(m).get("namespace") or "$app", input_dict(m).get("key"))
            for m in data["metafields"]
        }
        p["metafields"] = [
            m for m in p["metafields"] if (m["namespace"], m["key"]) in keep or m["type"] == "id"
        ]

    # Options: list replacement by name (ids kept for options and values that stay).
    if options_in is not None:
        new_opts = []
        for i, o in enumerate(options_in, start=1):
            existing = None
            if o.get("id"):
                existing = next((x for x in p["options"] if x["id"] == o["id"]), None)
            if existing is None and o.get("name"):
                existing = option_named(p, o["name"])
            if existing is None:
                existing = new_option(shop, o.get("name") or f"Option{i}", i, [])
            if o.get("name"):
                existing["name"] = o["name"]
            existing["position"] = o.get("position") or i
            values = [input_dict(v).get("name") for v in o.get("values") or []]
            if o.get("values") is not None:
                kept = [ov for ov in existing["optionValues"] if ov["name"] in values]
                existing["optionValues"] = kept
                for val in values:
                    if val:
                        add_option_value(shop, existing, val)
            new_opts.append(existing)
        p["options"] = new_opts

    changed_levels: list[dict[str, Any]] = []
    if variants_in is not None:
        keep_ids: list[str] = []
        for v_in in variants_in:
            pairs = _option_pairs(v_in.get("optionValues")) or [("Title", "Default Title")]
            variant = shop.variants.get(v_in["id"]) if v_in.get("id") else None
            if variant is None:
                wanted = sorted((n.lower(), val) for n, val in pairs)
                for vg in p["variantIds"]:
                    cand = shop.variants[vg]
                    have = sorted((s["name"].lower(), s["value"]) for s in cand["selectedOptions"])
                    if have == wanted and vg not in keep_ids:
                        variant = cand
                        break
            if variant is None:
                variant = new_variant(
                    shop,
                    p,
                    options=pairs,
                    stock_primary=not v_in.get("inventoryQuantities"),
                )
            else:
                variant["selectedOptions"] = [select_option(shop, p, n, v) for n, v in pairs]
            keep_ids.append(variant["id"])
            _apply_variant_input(shop, variant, v_in)
            if v_in.get("inventoryQuantities"):
                changed_levels += _set_inventory_quantities(
                    shop,
                    shop.item_of(variant),
                    [input_dict(q) for q in v_in["inventoryQuantities"]],
                )
        for vg in list(p["variantIds"]):
            if vg not in keep_ids:
                delete_variant(shop, shop.variants[vg])
        p["variantIds"] = [vg for vg in keep_ids if vg in shop.variants]
    elif creating:
        new_variant(shop, p)
    product_changed(shop, p, created=creating)
    for lv in changed_levels:
        shop.inventory_event(lv)
    if not synchronous:
        op = {
            "id": shop.new_gid("ProductSetOperation"),
            "status": "COMPLETE",
            "product": p,
            "userErrors": [],
        }
        return {"product": None, "productSetOperation": op, "userErrors": []}
    return {"product": p, "productSetOperation": None, "userErrors": []}


def _apply_variant_input(shop: ShopState, variant: dict[str, Any], data: dict[str, Any]) -> None:
    """Apply the fields of a ``ProductVariantSetInput``/``ProductVariantsBulkInput``."""
    for k in (
        "barcode",
        "taxable",
        "inventoryPolicy",
        "taxCode",
        "requiresComponents",
        "showUnitPrice",
    ):
        if k in data and data[k] is not None:
            variant[k] = data[k]
    if data.get("unitPriceMeasurement") is not None:
        variant["unitPriceMeasurement"] = unit_price_measurement(
            input_dict(data["unitPriceMeasurement"])
        )
    if "barcode" in data and data["barcode"] is None:
        variant["barcode"] = None
    if "sku" in data:
        variant["sku"] = data["sku"]
    if data.get("price") is not None:
        variant["price"] = money(data["price"])
    if "compareAtPrice" in data:
        variant["compareAtPrice"] = money(data["compareAtPrice"])
    if data.get("inventoryItem") is not None:
        apply_item_input(shop, shop.item_of(variant), input_dict(data["inventoryItem"]))
    for m in data.get("metafields") or []:
        m = input_dict(m)
        if m.get("key") and m.get("value") is not None:
            set_metafield(
                shop,
                variant,
                "PRODUCTVARIANT",
                m.get("namespace"),
                m["key"],
                m["value"],
                m.get("type"),
            )
    shop.touch(variant)


def _variant_input_errors(i: int, data: dict[str, Any], *, create: bool) -> list[dict[str, Any]]:
    """Per-variant input checks, in Shopify's order (compareAtPrice before price)."""
    errs = []
    limit = Decimal("1000000000000000000")

    def invalid(field: str, message: str = "is invalid", code: str = "INVALID_INPUT") -> None:
        errs.append(user_error(["variants", str(i), field], message, code))

    too_large = "must be less than 1000000000000000000"
    cap = data.get("compareAtPrice")
    if cap is not None:
        try:
            if Decimal(str(cap)) >= limit:
                invalid("compareAtPrice", too_large)
        except InvalidOperation:
            invalid("compareAtPrice")
    price = data.get("price")
    if price is not None:
        try:
            d = Decimal(str(price))
            if d < 0:
                invalid(
                    "price", "Price must be greater than or equal to 0", "GREATER_THAN_OR_EQUAL_TO"
                )
            elif d >= limit:
                invalid("price", too_large)
        except InvalidOperation:
            invalid("price")
    if not create and data.get("inventoryQuantities"):
        errs.append(
            user_error(
                ["variants", str(i), "inventoryQuantities"],
                "Inventory quantities can only be provided during create. To update inventory "
                "for existing variants, use inventoryAdjustQuantities.",
                "NO_INVENTORY_QUANTITIES_ON_VARIANTS_UPDATE",
            )
        )
    return errs


def _no_product() -> dict[str, Any]:
    """The answer of a bulk variant mutation whose product does not exist."""
    return {
        "product": None,
        "productVariants": None,
        "userErrors": [
            user_error(["productId"], "Product does not exist", "PRODUCT_DOES_NOT_EXIST")
        ],
    }


def _m_variants_bulk_update(
    _: Any,
    info: GraphQLResolveInfo,
    productId: str,
    variants: list[dict[str, Any]],
    allowPartialUpdates: bool = False,
) -> Any:
    shop = ctx_of(info).shop
    p = shop.products.get(productId)
    if p is None:
        return _no_product()
    errs: list[dict[str, Any]] = []
    ok: list[tuple[dict[str, Any], dict[str, Any]]] = []
    listed: list[dict[str, Any]] = []
    for i, raw in enumerate(variants):
        data = input_dict(raw)
        var_errs: list[dict[str, Any]] = []
        variant = None
        if not data.get("id"):
            var_errs.append(
                user_error(
                    ["variants", str(i), "id"],
                    "Product variant is missing ID attribute",
                    "PRODUCT_VARIANT_ID_MISSING",
                )
            )
        else:
            variant = shop.variants.get(data["id"])
            if variant is None or variant["productId"] != p["id"]:
                variant = None
                var_errs.append(
                    user_error(
                        ["variants", str(i), "id"],
                        "Product variant does not exist",
                        "PRODUCT_VARIANT_DOES_NOT_EXIST",
                    )
                )
        var_errs += _variant_input_errors(i, data, create=False)
        if variant is not None:
            listed.append(variant)
        errs += var_errs
        if variant is not None and not var_errs:
            ok.append((variant, data))
    if not errs or allowPartialUpdates:
        for variant, data in ok:
            if data.get("optionValues"):
                _set_variant_options(shop, p, variant, _option_pairs(data["optionValues"]))
            _apply_variant_input(shop, variant, data)
        if ok:
            product_changed(shop, p)
    return {"product": p, "productVariants": listed, "userErrors": errs}


def _set_variant_options(
    shop: ShopState, p: dict[str, Any], variant: dict[str, Any], pairs: list[tuple[str, str]]
) -> None:
    selected = {s["name"].lower(): s for s in variant["selectedOptions"]}
    for name, value in pairs:
        entry = select_option(shop, p, name, value)
        selected[entry["name"].lower()] = entry
    order = [o["name"].lower() for o in p["options"]]
    variant["selectedOptions"] = [selected[n] for n in order if n in selected]


def _standalone(variant: dict[str, Any]) -> bool:
    """Whether a variant is a product's standalone one (``Title: Default Title``)."""
    return [(s["name"], s["value"]) for s in variant["selectedOptions"]] == [
        ("Title", "Default Title")
    ]


def _options_not_given(p: dict[str, Any], data: dict[str, Any]) -> list[str]:
    """The product's options a new variant names no value for (``NEED_TO_ADD_OPTION_VALUES``):
    a variant of a product with options takes a value of each. A product with only the
    standalone ``Title`` option has none to give."""
    given = {n.lower() for n, _ in _option_pairs(data.get("optionValues"))}
    return [
        o["name"]
        for o in p["options"]
        if o["name"] != "Title" and o["name"].lower() not in given
    ]


def _m_variants_bulk_create(
    _: Any,
    info: GraphQLResolveInfo,
    productId: str,
    variants: list[dict[str, Any]],
    strategy: str = "DEFAULT",
) -> Any:
    shop = ctx_of(info).shop
    p = shop.products.get(productId)
    if p is None:
        return _no_product()
    errs: list[dict[str, Any]] = []
    existing = {
        tuple(sorted((s["name"].lower(), s["value"]) for s in shop.variants[vg]["selectedOptions"]))
        for vg in p["variantIds"]
    }
    for i, raw in enumerate(variants):
        data = input_dict(raw)
        errs += [{**e, "field": e["field"]} for e in _variant_input_errors(i, data, create=True)]
        key = tuple(sorted((n.lower(), v) for n, v in _option_pairs(data.get("optionValues"))))
        missing = _options_not_given(p, data)
        if missing:
            errs.append(
                user_error(
                    ["variants", str(i)],
                    f"You need to add option values for {', '.join(missing)}",
                    "NEED_TO_ADD_OPTION_VALUES",
                )
            )
        elif key in existing:
            label = " / ".join(v for _, v in _option_pairs(data.get("optionValues")))
            errs.append(
                user_error(
                    ["variants", str(i)],
                    f"The variant '{label}' already exists.",
                    "VARIANT_ALREADY_EXISTS",
                )
            )
        existing.add(key)
        for j, q in enumerate(data.get("inventoryQuantities") or []):
            if input_dict(q).get("locationId") not in shop.locations:
                errs.append(
                    user_error(
                        ["variants", str(i), "inventoryQuantities", str(j), "locationId"],
                        "Location does not exist",
                        "TRACKED_VARIANT_LOCATION_NOT_FOUND",
                    )
                )
    if errs:
        return {"product": p, "productVariants": [], "userErrors": errs}
    standalone = None
    if strategy != "PRESERVE_STANDALONE_VARIANT" and len(p["variantIds"]) == 1:
        only = shop.variants[p["variantIds"][0]]
        if _standalone(only):
            standalone = only
    if standalone is not None:
        delete_variant(shop, standalone)
        p["options"] = [o for o in p["options"] if o["name"] != "Title"]
    created = []
    changed_levels: list[dict[str, Any]] = []
    for raw in variants:
        data = input_dict(raw)
        v = new_variant(
            shop,
            p,
            options=_option_pairs(data.get("optionValues")) or None,
            stock_primary=not data.get("inventoryQuantities"),
        )
        _apply_variant_input(shop, v, data)
        quantities = [
            {
                "locationId": input_dict(q)["locationId"],
                "quantity": input_dict(q)["availableQuantity"],
                "name": "available",
            }
            for q in data.get("inventoryQuantities") or []
        ]
        changed_levels += _set_inventory_quantities(shop, shop.item_of(v), quantities)
        created.append(v)
    product_changed(shop, p)
    for lv in changed_levels:
        shop.inventory_event(lv)
    return {"product": p, "productVariants": created, "userErrors": []}


def _m_options_create(
    _: Any,
    info: GraphQLResolveInfo,
    productId: str,
    options: list[dict[str, Any]],
    variantStrategy: str = "LEAVE_AS_IS",
) -> Any:
    """``productOptionsCreate``: new options on a product; every existing variant takes each new
    option's first value (``LEAVE_AS_IS``, recorded: a product with only the standalone
    ``Default Title`` variant given Color [Red, Blue] and Size [Small, Large] answers one
    variant "Red / Small", the other values without variants, and no ``Title`` option)."""
    shop = ctx_of(info).shop
    p = shop.products.get(productId)
    if p is None:
        return {
            "product": None,
            "userErrors": [
                user_error(["productId"], "Product does not exist", "PRODUCT_DOES_NOT_EXIST")
            ],
        }
    errs = _option_create_errors(p, [input_dict(o) for o in options])
    if variantStrategy != "LEAVE_AS_IS":
        errs.append(user_error(["variantStrategy"], "Only LEAVE_AS_IS is modelled by the twin"))
    if errs:
        return {"product": p, "userErrors": errs}
    variants = [shop.variants[vg] for vg in p["variantIds"]]
    if all(_standalone(v) for v in variants):  # the standalone variant's Title option goes
        p["options"] = [o for o in p["options"] if o["name"] != "Title"]
        for v in variants:
            v["selectedOptions"] = []
    for raw in options:
        o = input_dict(raw)
        values = [input_dict(v)["name"] for v in o["values"]]
        opt = new_option(shop, o["name"], len(p["options"]) + 1, values)
        at = min(max(int(o.get("position") or opt["position"]), 1), len(p["options"]) + 1)
        p["options"].insert(at - 1, opt)
        for v in variants:
            _set_variant_options(shop, p, v, [(opt["name"], values[0])])
    for i, opt in enumerate(p["options"], start=1):
        opt["position"] = i
    for v in variants:
        _set_variant_options(shop, p, v, [])  # in the options' new order
    product_changed(shop, p)
    return {"product": p, "userErrors": []}


def _option_create_errors(p: dict[str, Any], options: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``productOptionsCreate``'s refusals, with Shopify's codes (the messages are the twin's:
    none is recorded)."""
    errs = []
    have = {o["name"].lower() for o in p["options"] if o["name"] != "Title"}
    seen: set[str] = set()
    for i, o in enumerate(options):
        name = (o.get("name") or "").strip()
        at = ["options", str(i)]
        values = [(input_dict(v).get("name") or "").strip() for v in o.get("values") or []]
        if not name:
            errs.append(user_error([*at, "name"], "Option name can't be blank",
                                   "OPTION_NAME_MISSING"))
        elif name.lower() in have:
            errs.append(user_error([*at, "name"], f"Option '{name}' already exists.",
                                   "OPTION_ALREADY_EXISTS"))
        elif name.lower() in seen:
            errs.append(user_error([*at, "name"], f"Duplicated option name '{name}'.",
                                   "DUPLICATED_OPTION_NAME"))
        seen.add(name.lower())
        if not values or not all(values):
            errs.append(user_error([*at, "values"], "New option must have at least one value.",
                                   "OPTION_VALUES_MISSING"))
        elif len({v.lower() for v in values}) < len(values):
            errs.append(user_error([*at, "values"], "Duplicated option value.",
                                   "DUPLICATED_OPTION_VALUE"))
    if len(have) + len(options) > 3:
        errs.append(user_error(["options"], "Can only specify a maximum of 3 options",
                               "OPTIONS_OVER_LIMIT"))
    return errs


def _m_item_update(_: Any, info: GraphQLResolveInfo, id: str, input: dict[str, Any]) -> Any:
    shop = ctx_of(info).shop
    item = shop.inventory_items.get(id)
    if item is None:
        return does_not_exist("Inventory item", inventoryItem=None)
    apply_item_input(shop, item, input_dict(input))
    variant = shop.variants.get(item["variantId"])
    if variant is not None:
        shop.touch(variant)
        product_changed(shop, shop.product_of(variant))
    return {"inventoryItem": item, "userErrors": []}


def _length_errors(
    data: dict[str, Any], prefix: list[str], handle: str | None
) -> list[dict[str, Any]]:
    """The 255-character limits, worded as Shopify reports them."""
    errs = []
    title = data.get("title")
    if isinstance(title, str) and len(title) > 255:
        errs.append(user_error([*prefix, "title"], "is too long (maximum is 255 characters)"))
    if handle is not None and len(handle) > 255:
        errs.append(user_error(prefix, "Handle is too long (maximum is 255 characters)"))
    vendor = data.get("vendor")
    if isinstance(vendor, str) and len(vendor) > 255:
        errs.append(user_error(prefix, "Vendor is too long (maximum is 255 characters)"))
    ptype = data.get("productType")
    if isinstance(ptype, str) and len(ptype) > 255:
        errs.append(user_error(prefix, "Product type is too long (maximum is 255 characters)"))
        errs.append(
            user_error(prefix, "Custom product type is too long (maximum is 255 characters)")
        )
    return errs


def _apply_product_scalars(shop: ShopState, p: dict[str, Any], data: dict[str, Any]) -> None:
    for src, dst in (
        ("title", "title"),
        ("descriptionHtml", "descriptionHtml"),
        ("productType", "productType"),
        ("vendor", "vendor"),
        ("templateSuffix", "templateSuffix"),
        ("requiresSellingPlan", "requiresSellingPlan"),
    ):
        if src in data and data[src] is not None:
            p[dst] = data[src]
    if "category" in data:  # a TaxonomyCategory gid, or null to clear it (taxonomy.py)
        p["category"] = data["category"]
    if data.get("status"):
        # The status never publishes: a product is on a channel only once published there.
        p["status"] = data["status"]
    if data.get("tags") is not None:
        p["tags"] = sorted_tags(data["tags"])
    if data.get("seo") is not None:
        seo = input_dict(data["seo"])
        p["seo"] = {"title": seo.get("title"), "description": seo.get("description")}
    if data.get("metafields") is not None:
        for m in data["metafields"]:
            m = input_dict(m)
            if m.get("key") and m.get("value") is not None:
                set_metafield(
                    shop, p, "PRODUCT", m.get("namespace"), m["key"], m["value"], m.get("type")
                )
