"""When a write whose answer was lost may be sent again (``rackshop.sync.moments``)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from rackshop.sync.moments import may_still_land, still_landing

SENT = "2026-07-01T12:00:00+00:00"


@pytest.mark.parametrize(("attempt_at", "now", "wait", "expected"), [
    (SENT, "2026-07-01T12:00:30Z", 120, "2026-07-01T12:02:00Z"),  # within the wait
    (SENT, "2026-07-01T12:01:59Z", 120, "2026-07-01T12:02:00Z"),
    (SENT, "2026-07-01T12:02:00Z", 120, None),  # the wait has passed: send again
    (SENT, "2026-07-01T13:00:00Z", 120, None),
    ("2026-07-01T12:00:00Z", "2026-07-01T12:00:01Z", 2, "2026-07-01T12:00:02Z"),  # Z form
    ("2026-07-01T14:00:00+02:00", "2026-07-01T12:00:01Z", 2, "2026-07-01T12:00:02Z"),
    ("2026-07-01T12:00:00", "2026-07-01T12:00:01Z", 2, "2026-07-01T12:00:02Z"),  # no zone: UTC
    (SENT, "2026-07-01T12:00:01Z", 0, None),  # 0: at once
    (None, "2026-07-01T12:00:01Z", 120, None),  # no time recorded (an older journal row)
    ("", "2026-07-01T12:00:01Z", 120, None),
])
def test_may_still_land(attempt_at: str | None, now: str, wait: float,
                        expected: str | None) -> None:
    moment = datetime.fromisoformat(now.replace("Z", "+00:00"))
    later = may_still_land(attempt_at, moment, wait)
    assert later == (None if expected is None
                     else datetime.fromisoformat(expected.replace("Z", "+00:00")))


def test_still_landing_names_the_write_the_system_the_time_and_the_key() -> None:
    now = datetime(2026, 7, 1, 12, 0, 30, tzinfo=UTC)
    why = still_landing("the new product SKU-1", "Shopify", SENT, now, 120)
    assert why == (
        "the new product SKU-1 was sent to Shopify at 2026-07-01T12:00:00+00:00 and no answer "
        "came; Shopify does not show it yet, and it is sent again only if it still does not "
        "show after 2026-07-01T12:02:00Z ([rackbeat] lost_answer_wait_seconds)")
    assert still_landing("x", "Shopify", SENT, now, 30) is None
