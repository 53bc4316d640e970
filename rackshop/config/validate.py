"""Validating a parsed file against the schema, table by table, collecting every problem.

Each table is validated on its own (its sub-tables apart), so a mistake in ``[shops.orders]``
never hides one in ``[shops.stock]``. A key with a problem is left out and the table validated
again, so the rules between keys (:mod:`.checks`) still run on the keys that are right, and a
wrong value is reported once, not again as "missing".
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from rackshop.config import checks
from rackshop.config.fields import describe
from rackshop.config.messages import SecretNames, header, problems, table_models, table_of
from rackshop.config.schema import ConfigFile, SecretRef, ShopTable, Table
from rackshop.config.tree import Ctx, Node, env_stem

TABLES = table_models()

def validate_table(
    ctx: Ctx, model: type[Table], raw: Mapping[str, Any], path: str, names: SecretNames,
    *, resolve: bool = True,
) -> Node:
    """Validate one table (not its sub-tables) and read its secrets."""
    subtables = _subtables(model)
    own = {k: v for k, v in raw.items() if k not in subtables}
    node = Node(model.header, path, raw, True, None, names=names)
    try:
        node.model = model.model_validate(own)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        ctx.problems.extend(problems(errors, model, model.header, path, names))
        node.failed = {str(e["loc"][0]) for e in errors if e["loc"]}
        try:
            node.model = model.model_validate(
                {k: v for k, v in own.items() if k not in node.failed})
        except ValidationError:
            node.model = None
    if node.model is not None:
        _read_secrets(ctx, node, model, resolve)
    return node


def _subtables(model: type[Table]) -> list[str]:
    """The keys of ``model`` that are tables of their own, in schema order."""
    return [
        name for name, info in model.model_fields.items()
        if table_of(info.annotation) not in (None, SecretRef)
    ]


def _read_secrets(ctx: Ctx, node: Node, model: type[Table], resolve: bool) -> None:
    for key, info in model.model_fields.items():
        if table_of(info.annotation) is not SecretRef or not node.ok(key):
            continue
        ref = node.get(key)
        if ref is None:
            continue
        secret = ctx.secret(ref.env, ref.file, node.key(key), resolve=resolve)
        if secret is None:
            node.failed.add(key)
        else:
            node.secrets[key] = secret


def subtable(
    ctx: Ctx, parent: Node, key: str, names: SecretNames, *, resolve: bool = True
) -> Node:
    """The sub-table ``key`` of ``parent``, validated (its own defaults when left out)."""
    model = TABLES[f"{parent.schema}.{key}" if parent.schema else key]
    path = parent.key(key)
    if key not in parent.raw:
        node = Node(model.header, path, {}, False, model.model_validate(model.absent))
    elif not isinstance(raw := parent.raw[key], dict):
        ctx.problem(
            path, f"expected a table (a {header(model.header)} section), got {describe(raw)}")
        parent.failed.add(key)
        return Node(model.header, path, {}, True, None, failed={"*"}, parent=parent)
    else:
        node = validate_table(ctx, model, raw, path, names, resolve=resolve)
    node.parent = parent
    for child in _subtables(model):
        node.children[child] = subtable(ctx, node, child, names, resolve=resolve)
    checks.run(ctx, node)
    return node


def validate_file(ctx: Ctx, data: Any) -> Node | None:
    """Validate a whole parsed document; every problem lands in ``ctx.problems``."""
    if not isinstance(data, Mapping):
        ctx.problem("", f"expected a TOML document (a table), got {describe(data)}")
        return None
    root = validate_table(ctx, ConfigFile, data, "", SecretNames("", ""))
    rackbeat_names = SecretNames("RACKBEAT", "rackbeat")
    # [[shops]] is a list of tables, each validated as its own (below).
    for key in (k for k in _subtables(ConfigFile) if k != "shops"):
        if key == "rackbeat" and key not in data:
            checks.missing_rackbeat(ctx)
            root.failed.add(key)
            continue
        root.children[key] = subtable(ctx, root, key, rackbeat_names)
    raw_shops = checks.shop_list(ctx, data)
    root.failed |= {"shops"} if raw_shops is None else set()
    for i, raw in enumerate(raw_shops or ()):
        path = f"shops[{i}]"
        if not isinstance(raw, dict):
            ctx.problem(path, f"expected a [[shops]] table, got {describe(raw)}")
            root.failed.add("shops")
            continue
        shop = _validate_shop(ctx, raw, path, i)
        shop.parent = root
        root.items.append(shop)
    checks.across_shops(ctx, root)
    return root


def _validate_shop(ctx: Ctx, raw: Mapping[str, Any], path: str, index: int) -> Node:
    stem = env_stem(raw.get("name"), index)
    names = SecretNames(f"SHOPIFY_{stem}", stem.lower().replace("_", "-"))
    enabled = raw.get("enabled", True)
    # A disabled shop may still be being set up: its secrets are checked for shape, not read.
    resolve = enabled if isinstance(enabled, bool) else True
    shop = validate_table(ctx, ShopTable, raw, path, names, resolve=resolve)
    checks.run(ctx, shop)
    for key in _subtables(ShopTable):
        shop.children[key] = subtable(ctx, shop, key, names, resolve=resolve)
    checks.across_tables(ctx, shop)
    return shop


def base_dir_of(source: Path | None) -> Path:
    """The folder relative paths in a file are relative to."""
    return source.parent if source is not None else Path.cwd()
