"""Fixtures shared by every tier of tests."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _shared_dir() -> Path | None:
    """``../shared`` beside the checkout (CI lays it there too), or ``$RACKSHOP_SHARED``."""
    env = os.environ.get("RACKSHOP_SHARED")
    candidates = [Path(env)] if env else []
    candidates.append(ROOT.parent / "shared")
    for c in candidates:
        if (c / "shopify").is_dir():
            return c
    return None


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The shared reference material. Under CI (``CI=true``) its absence fails the test."""
    found = _shared_dir()
    if found is None:
        msg = "../shared (Shopify schema and conformance recordings) not found beside the checkout"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(msg + " - CI must lay it there")
        pytest.skip(msg)
    return found


@pytest.fixture(scope="session")
def conformance_dir(shared_dir: Path) -> Path:
    return shared_dir / "shopify" / "conformance"


@pytest.fixture(scope="session")
def real_schema(shared_dir: Path):  # type: ignore[no-untyped-def]
    """Shopify's real Admin 2026-07 schema, built once per session (about 3 s)."""
    from graphql import build_schema

    path = shared_dir / "shopify" / "admin-2026-07.graphql.gz"
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return build_schema(fh.read(), assume_valid=True)
