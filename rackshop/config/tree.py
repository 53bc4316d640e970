"""The tree a validation builds: one :class:`Node` per table, and the :class:`Ctx` it reports to.

:mod:`.validate` builds it, :mod:`.checks` reads it, :mod:`.build` turns it into dataclasses.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rackshop.config.messages import SecretNames
from rackshop.config.schema import Table
from rackshop.config.secrets import Reader
from rackshop.config.values import Secret


@dataclass
class Ctx(Reader):
    """One validation: the secret reader, plus the current time for time-dependent warnings."""

    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))


@dataclass
class Node:
    """One table of the file after validation.

    Attributes:
        schema: The table's header (``shops.orders``).
        path: Its key path (``shops[0].orders``).
        raw: What the file says.
        present: Whether the file has the table (else ``model`` holds its ``absent`` keys).
        model: The validated table, keys with problems left out; None when even that fails.
        failed: Keys with a problem (already reported).
        secrets: The secrets read for its secret keys.
    """

    schema: str
    path: str
    raw: Mapping[str, Any]
    present: bool
    model: Table | None
    failed: set[str] = field(default_factory=set)
    secrets: dict[str, Secret] = field(default_factory=dict)
    children: dict[str, Node] = field(default_factory=dict)
    items: list[Node] = field(default_factory=list)
    """The ``[[shops]]`` tables, for the top level."""
    names: SecretNames = field(default_factory=lambda: SecretNames("", ""))
    """The names its messages suggest for secrets (``SHOPIFY_DK_...``)."""
    parent: Node | None = None
    """The table it is in (a shop for ``[shops.orders]``)."""

    def has(self, key: str) -> bool:
        """The file gives ``key``."""
        return key in self.raw

    def ok(self, key: str) -> bool:
        """The key's value is valid: given and right, or left out (its default)."""
        return key not in self.failed and self.model is not None

    def get(self, key: str) -> Any:
        """The validated value (the default when left out); None when the key has a problem."""
        return getattr(self.model, key) if self.ok(key) else None

    def key(self, key: str) -> str:
        """The key path of ``key`` in this table."""
        return f"{self.path}.{key}" if self.path else key

    @property
    def valid(self) -> bool:
        """The table and every table in it have no problem."""
        return (
            self.model is not None and not self.failed
            and all(c.valid for c in self.children.values()) and all(i.valid for i in self.items)
        )


def env_stem(name: Any, index: int) -> str:
    """``DK`` for the shop named ``dk``: the part of the suggested variable names."""
    if isinstance(name, str) and name:
        stem = re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").upper()
        if stem:
            return stem
    return f"SHOP{index + 1}"
