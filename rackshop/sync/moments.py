"""Moments as Shopify writes them (``2026-07-01T12:00:00Z``): in ``query:`` filters, cursors and
journal times."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_z(moment: datetime) -> str:
    """``moment`` in UTC, to the second, with a ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_moment(text: str) -> datetime:
    """An ISO 8601 time (``Z`` or an offset; without one it is taken as UTC)."""
    moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
