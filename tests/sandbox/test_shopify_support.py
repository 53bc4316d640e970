"""Helpers for replaying Shopify's recorded exchanges against the twin (no tests here).

The recordings (``shared/shopify/conformance``) hold Shopify's real answers; some also hold the
documents, others only variables and responses. :func:`selection` rebuilds a selection set from
a recorded response's shape, :class:`GidMap` translates recorded ids to the twin's (learning the
pairs as responses come in), and :func:`assert_like` compares a twin answer with a recorded one:
same keys, same values, ids equal up to that translation, timestamps and cursors only checked
for shape.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from rackshop.sandbox.shopify import ShopifyTwin

SHOP = "harry-test-heelo"
_GID = re.compile(r"^gid://shopify/[A-Za-z]+/\d+(\?.*)?$")
_TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
CURSOR_KEYS = {"cursor", "startCursor", "endCursor"}


def load(conformance_dir: Path, name: str) -> Any:
    return json.loads((conformance_dir / name).read_text(encoding="utf-8"))


def twin_with(locations: tuple[str, ...] = ("Shop location",)) -> ShopifyTwin:
    twin = ShopifyTwin()
    twin.add_shop(SHOP, token="shpat_test", currency="CAD", locations=locations)
    return twin


def location_gid(twin: ShopifyTwin, name: str) -> str:
    loc = twin.shop(SHOP).location_by_name_or_gid(name)
    assert loc is not None, name
    return str(loc["id"])


class GidMap:
    """Recorded gid <-> twin gid, learned from answers and checked for consistency."""

    def __init__(self) -> None:
        self.to_twin: dict[str, str] = {}
        self.to_recorded: dict[str, str] = {}

    def pair(self, recorded: str, twin: str) -> None:
        known = self.to_twin.get(recorded)
        assert known in (None, twin), f"{recorded} was {known}, now {twin}"
        back = self.to_recorded.get(twin)
        assert back in (None, recorded), f"twin id {twin} stands for {back} and {recorded}"
        self.to_twin[recorded] = twin
        self.to_recorded[twin] = recorded

    def translate(self, value: Any) -> Any:
        """Recorded ids in variables -> the twin's ids."""
        if isinstance(value, dict):
            return {k: self.translate(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.translate(v) for v in value]
        if isinstance(value, str) and value in self.to_twin:
            return self.to_twin[value]
        return value


def _kind(gid: str) -> str:
    return gid.split("/")[3]


def assert_like(
    actual: Any,
    expected: Any,
    ids: GidMap,
    *,
    ignore: frozenset[str] = frozenset(),
    path: str = "",
) -> None:
    """Assert a twin answer matches a recorded one (see the module docstring)."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{path}: expected an object, got {actual!r}"
        want = {k for k in expected if k not in ignore}
        have = {k for k in actual if k not in ignore}
        assert want == have, f"{path}: keys {sorted(have)} != recorded {sorted(want)}"
        for k in want:
            assert_like(actual[k], expected[k], ids, ignore=ignore, path=f"{path}.{k}")
        return
    if isinstance(expected, list):
        assert isinstance(actual, list), f"{path}: expected a list, got {actual!r}"
        assert len(actual) == len(expected), (
            f"{path}: {len(actual)} items != recorded {len(expected)}"
        )
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_like(a, e, ids, ignore=ignore, path=f"{path}[{i}]")
        return
    key = path.rsplit(".", 1)[-1]
    if key in CURSOR_KEYS:
        assert (actual is None) == (expected is None), f"{path}: {actual!r} vs {expected!r}"
        return
    if isinstance(expected, str) and _GID.match(expected):
        assert isinstance(actual, str) and _GID.match(actual), f"{path}: {actual!r} is not a gid"
        assert _kind(actual) == _kind(expected), f"{path}: {actual} vs recorded {expected}"
        ids.pair(expected, actual)
        return
    if isinstance(expected, str) and _TS.match(expected):
        assert isinstance(actual, str) and _TS.match(actual), (
            f"{path}: {actual!r} is not a timestamp"
        )
        return
    assert actual == expected, f"{path}: {actual!r} != recorded {expected!r}"


def selection(
    shape: Any,
    args: dict[str, str] | None = None,
    defaults: dict[str, str] | None = None,
    skip: frozenset[str] = frozenset(),
) -> str:
    """A selection set that asks for exactly the keys of a recorded answer.

    Args:
        shape: A recorded object (or list of objects).
        args: Field name -> argument text, e.g. ``{"variants": "(first: 10)"}``. Connections
            (objects with ``nodes``/``edges``) get ``(first: 250)`` unless given; ``quantities``
            gets the names found in the answer.
        defaults: Field name -> selection for fields whose recorded value is empty or null
            (e.g. ``{"userErrors": "field message code"}``).
        skip: Fields to leave out (ones the twin does not model).
    """
    args = args or {}
    defaults = {
        "userErrors": "field message",
        "inventoryAdjustmentGroup": "id",
        "inventoryLevel": "id",
        "product": "id",
        "productSetOperation": "id",
        "productVariants": "id",
        "bulkOperation": "id",
        "webhookSubscription": "id",
        **(defaults or {}),
    }
    if isinstance(shape, list):
        merged: dict[str, Any] = {}
        for item in shape:
            if isinstance(item, dict):
                for k, v in item.items():
                    if k not in merged or merged[k] in (None, [], {}):
                        merged[k] = v
        shape = merged
    parts = []
    for key, value in shape.items():
        if key in skip:
            continue
        arg = args.get(key, "")
        inner: str | None = None
        if isinstance(value, dict) and value:
            if not arg and ("nodes" in value or "edges" in value):
                arg = "(first: 250)"
            inner = selection(value, args, defaults, skip)
        elif isinstance(value, list) and any(isinstance(v, dict) for v in value):
            if key == "quantities" and not arg:
                names = json.dumps([v["name"] for v in value if isinstance(v, dict)])
                arg = f"(names: {names})"
            inner = selection(value, args, defaults, skip)
        elif key in defaults and (value is None or value == [] or value == {}):
            inner = defaults[key]
        parts.append(f"{key}{arg} {{ {inner} }}" if inner else f"{key}{arg}")
    return " ".join(parts)


def run(
    twin: ShopifyTwin,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    version: str = "2026-04",
) -> dict[str, Any]:
    return twin.execute(SHOP, query, variables or {}, api_version=version)
