"""The one place validated tables become the frozen dataclasses the jobs read.

Every field of a dataclass takes the key of the same name from its table (the schema's default
when the file leaves it out), or the dataclass of the sub-table of that name; secrets are the
values read for them, paths are made absolute. Nothing here decides a default.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from rackshop.config import objects as o
from rackshop.config.secrets import Reader
from rackshop.config.tree import Node
from rackshop.config.values import FrozenMap

_DATACLASSES: dict[str, type[Any]] = {
    "rackbeat": o.RackbeatConfig,
    "state": o.StateConfig,
    "log": o.LogConfig,
    "http": o.HttpConfig,
    "listen": o.ListenConfig,
    "shops": o.ShopConfig,
    "shops.orders": o.OrdersConfig,
    "shops.orders.customer": o.CustomerDefaults,
    "shops.products": o.ProductsConfig,
    "shops.stock": o.StockConfig,
    "shops.initial": o.InitialConfig,
    "shops.fulfillments": o.FulfillmentsConfig,
}

_PATHS = {("state", "path"), ("log", "file")}


def default_state_path() -> Path:
    """The state database when ``[state] path`` is not set: the platform's user state folder."""
    import platformdirs

    from rackshop.config.values import APP_NAME

    return Path(platformdirs.user_state_dir(APP_NAME)) / "state.sqlite3"


def build(root: Node, reader: Reader, source: Path | None) -> o.Config:
    """The :class:`~rackshop.config.objects.Config` of a file that has no problem."""
    tables = {key: _table(root.children[key], reader) for key in root.children}
    return o.Config(
        rackbeat=tables["rackbeat"],
        state=tables["state"],
        log=tables["log"],
        http=tables["http"],
        listen=tables["listen"],
        shops=tuple(_table(shop, reader) for shop in root.items),
        source=source,
        warnings=tuple(reader.warnings),
    )


def _table(node: Node, reader: Reader) -> Any:
    cls = _DATACLASSES[node.schema]
    assert node.model is not None
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name in node.children:
            values[f.name] = _table(node.children[f.name], reader)
        elif f.name in node.secrets:
            values[f.name] = node.secrets[f.name]
        else:
            values[f.name] = _value(node, f.name, reader)
    return cls(**values)


def _value(node: Node, key: str, reader: Reader) -> Any:
    value = getattr(node.model, key)
    if (node.schema, key) in _PATHS:
        if value is None:
            return default_state_path() if key == "path" else None
        return reader.path(value)
    if node.schema == "shops.stock" and key == "rackbeat_locations":
        return "all" if value is None else value
    if key == "location_map":
        return value if value is not None else FrozenMap()
    if isinstance(value, list):
        return tuple(value)
    return value
