"""bench/measure.py's rate-limit bound: what Rackbeat's sliding minute and Shopify's bucket
allow."""

from __future__ import annotations

import pytest

from bench.measure import Measured, rate_bound


@pytest.mark.parametrize(("requests", "seconds"), [
    (0, 0.0), (1, 0.0), (480, 0.0),  # the first window's 480 go at once
    (481, 60.0),  # the 481st only when the first leaves the window, 60 s later
    (960, 60.0), (961, 120.0),
    (1194, 120.0),  # 500 orders (a steady 8 a second would say 89 s: no window allows that)
    (26587, 3300.0),
])
def test_rackbeat_allows_480_requests_in_any_60_seconds(requests: int, seconds: float) -> None:
    bound = rate_bound(0.0, requests)
    assert bound["rackbeat_bound_s"] == seconds
    assert bound["bound_s"] == seconds
    assert bound["rackbeat_steady_s"] == max(0, requests - 480) / 8
    assert bound["rackbeat_steady_s"] <= seconds  # the old figure never above the window's


def test_shopify_cost_beyond_the_full_buckets_at_the_restore_rate() -> None:
    assert rate_bound(12_000.0, 0)["bound_s"] == 100.0
    assert rate_bound(12_000.0, 0, shops=2)["shopify_bound_s"] == 40.0
    assert rate_bound(12_000.0, 0, shops=2, serial_shops=True)["shopify_bound_s"] == 80.0
    assert rate_bound(12_000.0, 961)["bound_s"] == 120.0  # the larger of the two


def test_a_refused_request_is_not_one_the_window_let_through() -> None:
    m = Measured(scale=1.0, measured_s=130.0,
                 shopify={"requests": 0, "writes": 0, "throttled": 0, "cost": 0.0},
                 rackbeat={"requests": 970, "writes": 0, "throttled": 10})
    figures = m.figures()
    assert figures["rackbeat_bound_s"] == 60.0  # 960 let through, not 970
    assert figures["ratio"] == round(130.0 / 60.0, 3)
