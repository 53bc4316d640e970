"""The foundation's clients against the twins: pagination, pacing, 429s, 422s, faults, serve."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rackshop.errors import ExitCode, OutcomeUnknownError, ValidationError
from rackshop.http import RetryPolicy, Timeouts, Transport
from rackshop.rackbeat.client import RackbeatClient, RateLimiter
from rackshop.sandbox.base import Clock, FaultRule, TwinServer
from rackshop.sandbox.rackbeat import RackbeatTwin
from rackshop.sandbox.shopify import ShopifyTwin
from rackshop.sandbox.world import RACKBEAT_TOKEN, Sandbox
from rackshop.shopify.client import CostBucket, ShopifyClient, StaticToken, graphql_url

ROOT = Path(__file__).resolve().parents[2]
FAST = RetryPolicy(attempts=10, base_delay=0.01, max_delay=0.2, min_throttle_delay=0.01)


def rackbeat_client(url: str, *, per_minute: int = 100_000, timeout: float = 5.0,
                    policy: RetryPolicy = FAST, token: str = "sandbox-rackbeat-token"
                    ) -> RackbeatClient:
    limiter = RateLimiter(per_minute)
    transport = Transport("rackbeat", timeouts=Timeouts(connect=2, read=timeout), policy=policy,
                          before_send=limiter.acquire)
    return RackbeatClient(f"{url}/api/", lambda: token, transport,
                          limiter=limiter)


def shopify_client(url: str, shop: str, token: str, *, timeout: float = 5.0) -> ShopifyClient:
    transport = Transport("shopify", timeouts=Timeouts(connect=2, read=timeout), policy=FAST)
    return ShopifyClient(shop, graphql_url(f"{url}/shops/{shop}", "2026-07"),
                         StaticToken(lambda: token), transport, bucket=CostBucket())


def test_rackbeat_pagination_422_and_429() -> None:
    twin = RackbeatTwin(Clock(scale=60.0), requests_per_minute=30)  # 30 per (scaled) second
    twin.add_location(1, "Lager", is_default=True)
    twin.add_product_group(1000, "Varer")
    for i in range(57):
        twin.add_product(f"P/{i:03d} #x", f"Produkt {i}", 10.0 + i, 1000)
    with TwinServer(twin) as server:
        client = rackbeat_client(server.url)
        got = [p["number"] for p in client.iter_list("products", page_size=10)]
        assert got == sorted(f"P/{i:03d} #x" for i in range(57))
        assert client.get_one("products", "P/007 #x")["name"] == "Produkt 7"
        with pytest.raises(ValidationError) as info:
            client.create("products", {"number": "X"}, path="products")
        assert "name" in info.value.fields and "group" in info.value.fields
        # far over the twin's limit: 429s answered, retried after Retry-After, all succeed
        for _ in range(60):
            client.self_info()
        assert server.log.counters()["throttled"] > 0
        assert client.transport.retries > 0


def test_rackbeat_client_limiter_keeps_clear_of_429() -> None:
    twin = RackbeatTwin(Clock(scale=60.0), requests_per_minute=30)
    with TwinServer(twin) as server:
        # the client paces itself just inside the twin's budget (30 per scaled minute = 30 a
        # real second; the two clocks start a moment apart, hence 28)
        limiter_client = rackbeat_client(server.url, per_minute=28)
        limiter_client.limiter.window = 1.0  # type: ignore[union-attr]
        for _ in range(70):
            limiter_client.self_info()
        assert server.log.counters()["throttled"] == 0
        assert limiter_client.limiter is not None and limiter_client.limiter.waited > 0


def test_shopify_pagination_and_pacing_under_a_small_bucket() -> None:
    twin = ShopifyTwin(Clock(scale=1.0))
    twin.add_shop("tiny", token="shpat_tiny_0123456789", bucket=(100.0, 50.0))  # 100 pts, 50/s
    for i in range(30):
        twin.create_product("tiny", title=f"Vare {i}", variants=[{"sku": f"T-{i}",
                                                                 "price": "10.00"}])
    with TwinServer(twin) as server:
        client = shopify_client(server.url, "tiny", "shpat_tiny_0123456789")
        names = [n["name"] for n in client.paginate("Locations", {}, ("locations",),
                                                    page_size=1)]
        assert names == ["Main warehouse"]
        doc = ("query Q($first: Int!, $after: String) { products(first: $first, after: $after) "
               "{ nodes { id title } pageInfo { hasNextPage endCursor } } }")
        seen: list[str] = []
        after = None
        for _ in range(20):  # 30 products, pages of 4: each page costs ~6 of a 100-point bucket
            data = client.execute(doc, {"first": 4, "after": after}, name="Q").data["products"]
            seen += [n["title"] for n in data["nodes"]]
            if not data["pageInfo"]["hasNextPage"]:
                break
            after = data["pageInfo"]["endCursor"]
        assert len(seen) == 30 and len(set(seen)) == 30
        # burst of expensive queries on a 100-point bucket: paced, never THROTTLED
        big = ("query B { products(first: 30) { nodes { id title variants(first: 1) "
               "{ nodes { id sku } } } } }")
        for _ in range(6):
            client.execute(big, name="B")
        assert client.bucket.waited > 0
        assert client.throttled <= 1  # only the very first, before the cost is known
        assert server.log.counters()["throttled"] == client.throttled


def test_reads_survive_10_percent_faults_of_every_kind(tmp_path: Path) -> None:
    with Sandbox(seed=2, shops=1, products=60, orders=20, time_scale=50.0) as sandbox:
        rb = rackbeat_client(sandbox.rackbeat.url, timeout=0.5, token=RACKBEAT_TOKEN)
        sh = shopify_client(sandbox.shopify.url, "dk", "shpat_sandbox_dk_0123456789abcdef",
                            timeout=0.5)
        doc_vars = {"query": "updated_at:>='2000-01-01T00:00:00Z'", "lines": 5}
        clean_rb = [p["number"] for p in rb.iter_list("products", page_size=7)]
        clean_sh = [o["name"] for o in sh.paginate("Orders", doc_vars, ("orders",), page_size=3)]
        for server in (sandbox.shopify, sandbox.rackbeat):
            server.faults.configure([FaultRule(rate=0.1)], seed=11, slow_seconds=0.7)
        for _ in range(4):  # enough requests (~150) for every kind of fault to occur
            faulty_rb = [p["number"] for p in rb.iter_list("products", page_size=3)]
            faulty_sh = [o["name"] for o in sh.paginate("Orders", doc_vars, ("orders",),
                                                        page_size=2)]
            assert faulty_rb == clean_rb and len(clean_rb) > 50
            assert faulty_sh == clean_sh and len(clean_sh) == 20
        injected = sandbox.rackbeat.faults.as_json()["injected"]
        injected_sh = sandbox.shopify.faults.as_json()["injected"]
        assert set(injected) | set(injected_sh) >= {"5xx", "429", "slow", "drop"}


def test_lost_answer_on_a_create_is_outcome_unknown_not_retried() -> None:
    twin = RackbeatTwin()
    with TwinServer(twin) as server:
        client = rackbeat_client(server.url)
        server.faults.configure([FaultRule(kinds=("lost",), times=1,
                                           match="POST /customers")])
        before = len(twin.snapshot()["customers"])
        with pytest.raises(OutcomeUnknownError):
            client.create("customers", {"name": "Lost Answer", "contact_email": "lost@x.dk",
                                        "vat_zone": "domestic"})
        # the write happened once and was not repeated
        assert len(twin.snapshot()["customers"]) == before + 1
        assert server.log.counters()["by_label"]["POST /customers"] == 1


def test_sandbox_serve_then_check(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg.toml"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    serve = subprocess.Popen([sys.executable, "-m", "rackshop", "sandbox", "serve",
                              "--write-config", str(cfg), "--products", "20"],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not cfg.exists():
            assert serve.poll() is None, serve.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.2)
        check = subprocess.run([sys.executable, "-m", "rackshop", "check", "--config",
                                str(cfg)], env=env, capture_output=True, text=True, timeout=60,
                               check=False)
        assert check.returncode == ExitCode.OK, check.stdout + check.stderr
        assert "Hovedlager" in check.stdout
    finally:
        serve.send_signal(signal.SIGTERM)
        _, err = serve.communicate(timeout=30)
    assert serve.returncode == 0, err


def test_demo_runs_end_to_end() -> None:
    demo = subprocess.run([sys.executable, "-m", "rackshop", "demo"], capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120,
                          check=False)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "demo finished" in demo.stdout
    assert "sync-orders" in demo.stdout



