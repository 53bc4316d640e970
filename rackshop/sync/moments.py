"""Moments as Shopify writes them (``2026-07-01T12:00:00Z``): in ``query:`` filters, cursors and
journal times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def iso_z(moment: datetime) -> str:
    """``moment`` in UTC, to the second, with a ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_moment(text: str) -> datetime:
    """An ISO 8601 time (``Z`` or an offset; without one it is taken as UTC)."""
    moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def may_still_land(attempt_at: str | None, now: datetime, wait_seconds: float) -> datetime | None:
    """When a write sent at ``attempt_at`` whose answer was lost may be taken as never applied,
    if that is still to come at ``now`` (``None``: it may be taken so now).

    A server may apply a request after the client stopped waiting for its answer, so not
    finding the write right after the timeout does not prove it never happened.
    """
    if not attempt_at or wait_seconds <= 0:
        return None
    settled = parse_moment(attempt_at) + timedelta(seconds=wait_seconds)
    return settled if now < settled else None


def unseen_write(what: str, system: str, attempt_at: str, later: datetime) -> str:
    """Why a write whose answer was lost, and that ``system`` does not show yet, is not sent
    again before ``later`` (see :func:`may_still_land`)."""
    return (f"{what} was sent to {system} at {attempt_at} and no answer came; {system} does "
            f"not show it yet, and it is sent again only if it still does not show after "
            f"{iso_z(later)} ([rackbeat] lost_answer_wait_seconds)")


def still_landing(what: str, system: str, attempt_at: str | None, now: datetime,
                  wait_seconds: float) -> str | None:
    """Why a lost write that ``system`` does not show may not be sent again yet at ``now``
    (:func:`unseen_write`), or ``None`` when it may: the one rule of every create path."""
    later = may_still_land(attempt_at, now, wait_seconds)
    return None if later is None else unseen_write(what, system, str(attempt_at), later)
