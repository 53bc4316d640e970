"""Small valid configurations for CLI and job tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tomli_w

RACKBEAT_TOKEN = "rbtok-FAKE-9f8e7d6c5b4a"
SHOPIFY_TOKEN = "shpat_FAKEFAKE0123456789abcdef"
ENV = {"RB_TOKEN": RACKBEAT_TOKEN, "DK_TOKEN": SHOPIFY_TOKEN}


def minimal(tmp_path: Path, *, rackbeat_url: str = "https://app.rackbeat.com/api/",
            shop_base_url: str | None = None, http: dict[str, Any] | None = None,
            extra_shop: dict[str, Any] | None = None) -> dict[str, Any]:
    """A valid config dict: one shop, orders and stock on, secrets from env vars."""
    shop: dict[str, Any] = {
        "name": "dk",
        "domain": "dk-test.myshopify.com",
        "token": {"env": "DK_TOKEN"},
        "orders": {
            "since": "2026-11-01",
            "shipping_item": "FRAGT",
            "customer": {"group": 1, "payment_terms": 1},
        },
        "stock": {"shopify_location": "Lager", "rackbeat_locations": [1]},
    }
    if shop_base_url:
        shop["base_url"] = shop_base_url
    shop.update(extra_shop or {})
    data: dict[str, Any] = {
        "rackbeat": {"token": {"env": "RB_TOKEN"}, "base_url": rackbeat_url},
        "state": {"path": str(tmp_path / "state.sqlite3")},
        "shops": [shop],
    }
    if http:
        data["http"] = http
    return data


def write(tmp_path: Path, data: dict[str, Any], name: str = "rackshop.toml") -> Path:
    path = tmp_path / name
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return path
