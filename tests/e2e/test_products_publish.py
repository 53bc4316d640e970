"""Products rackshop creates are published to the sales channels the shop's config names
(issue 19, case 6): an active product is on no channel until published, in Shopify and in the
twin alike."""

from __future__ import annotations

from pathlib import Path

from rackshop.errors import ExitCode
from rackshop.sandbox.base import FaultRule
from tests.e2e.test_sync_products import RB_MASTER, Env, counts

PUBS = "{ publications(first: 10) { nodes { id name } } }"
ON = """query($id: ID!, $p: ID!) { product(id: $id) { status publishedAt
  publishedOnPublication(publicationId: $p) } }"""


def channels(env: Env, shop: str, product_id: str) -> set[str]:
    out = set()
    for pub in env.gql(shop, PUBS)["publications"]["nodes"]:
        if env.gql(shop, ON, {"id": product_id, "p": pub["id"]})["product"][
                "publishedOnPublication"]:
            out.add(pub["name"])
    return out


def seed(env: Env) -> None:
    env.rackbeat.add_product("NEW-1", "Ny vare", 100.00, 1000)
    env.rackbeat.add_product("NEW-2", "Anden vare", 50.00, 1000)


def test_created_products_are_published_to_the_online_store(tmp_path: Path) -> None:
    env = Env(tmp_path, {"dk": {"products": RB_MASTER}})
    try:
        seed(env)
        mark = env.mark()
        result = env.run()
        assert result.exit_code == ExitCode.OK
        assert counts(result, "dk")["published"] == 2
        assert env.shopify_writes(mark) == {"mutation productSet": 2,
                                            "mutation publishablePublish": 2}
        for sku in ("NEW-1", "NEW-2"):
            p, _ = env.catalogue("dk")[sku]
            assert p["status"] == "ACTIVE"
            assert channels(env, "dk", p["id"]) == {"Online Store"}
        mark = env.mark()
        env.run()
        assert env.shopify_writes(mark) == {}
    finally:
        env.close()


def test_channels_come_from_the_config(tmp_path: Path) -> None:
    env = Env(tmp_path, {"dk": {"products": {
        **RB_MASTER, "sales_channels": ["Online Store", "Point of Sale"]}},
        "se": {"products": {**RB_MASTER, "sales_channels": []}}})
    try:
        seed(env)
        env.run()
        p, _ = env.catalogue("dk")["NEW-1"]
        assert channels(env, "dk", p["id"]) == {"Online Store", "Point of Sale"}
        p, _ = env.catalogue("se")["NEW-1"]
        assert channels(env, "se", p["id"]) == set()  # [] publishes nowhere
    finally:
        env.close()


def test_an_unknown_channel_creates_nothing(tmp_path: Path) -> None:
    env = Env(tmp_path, {"dk": {"products": {**RB_MASTER, "sales_channels": ["Facebook"]}}})
    try:
        seed(env)
        mark = env.mark()
        result = env.run()
        assert result.exit_code != ExitCode.OK
        assert counts(result, "dk")["failed"] == 2
        reasons = [why for _, why in result.shops[0].failures]
        assert all("'Facebook'" in why and "sales_channels" in why for why in reasons)
        assert env.shopify_writes(mark) == {}
    finally:
        env.close()


def test_a_create_whose_answer_was_lost_is_published_by_the_next_pass(tmp_path: Path) -> None:
    env = Env(tmp_path, {"dk": {"products": RB_MASTER}})
    try:
        env.rackbeat.add_product("NEW-1", "Ny vare", 100.00, 1000)
        env.sandbox.shopify.faults.configure([
            FaultRule(kinds=("lost",), times=1, match="mutation productSet")])
        first = env.run()
        assert first.exit_code == ExitCode.PARTIAL
        p, _ = env.catalogue("dk")["NEW-1"]  # made, but its answer was lost
        assert channels(env, "dk", p["id"]) == set()
        second = env.run()
        assert second.exit_code == ExitCode.OK
        assert counts(second, "dk").get("created", 0) == 0
        assert channels(env, "dk", p["id"]) == {"Online Store"}
        mark = env.mark()
        env.run()
        assert env.shopify_writes(mark) == {}
    finally:
        env.close()


def test_a_create_whose_answer_was_lost_is_not_made_twice_while_search_lags(
        tmp_path: Path) -> None:
    """Shopify's search lags a write: the next pass could not find the product by `query:` yet.
    It reads the products list by last change (issue 20), which shows it, and adopts it: no
    second product, only the publishing the lost answer left undone."""
    env = Env(tmp_path, {"dk": {"products": RB_MASTER}})
    try:
        env.shopify.consistency.update({"enabled": True, "search_lag": 3600.0})
        env.rackbeat.add_product("NEW-2", "Ny vare", 100.00, 1000)
        env.sandbox.shopify.faults.configure([
            FaultRule(kinds=("lost",), times=1, match="mutation productSet")])
        assert env.run().exit_code == ExitCode.PARTIAL
        second = env.run()
        assert second.exit_code == ExitCode.OK, second.shops[0].failures
        assert counts(second, "dk").get("created", 0) == 0
        assert counts(second, "dk").get("published") == 1
        products = [p for p in env.shopify.shop("dk").products.values()
                    if p.get("title") == "Ny vare"]
        assert len(products) == 1
    finally:
        env.close()


def test_a_create_shopify_applies_after_the_timeout_is_not_sent_again(tmp_path: Path) -> None:
    """Shopify makes the product 2 s after the create arrived; rackshop gave up waiting after
    1 s. The pass right after, not finding it yet, must not create it again (before the fix it
    did: the late create made a second product); once it lands it is adopted and published."""
    env = Env(tmp_path, {"dk": {"products": RB_MASTER}})
    try:
        env.set_rackbeat(timeout_seconds=1, lost_answer_wait_seconds=30)
        env.rackbeat.add_product("NEW-1", "Ny vare", 100.00, 1000)
        env.sandbox.shopify.faults.configure([
            FaultRule(kinds=("slow",), times=1, match="mutation productSet")], slow_seconds=2.0)
        assert env.run().exit_code == ExitCode.PARTIAL
        mark = env.mark()
        second = env.run()  # at once: the late create has not landed yet
        assert second.exit_code == ExitCode.PARTIAL
        # (the slow request is logged when it ends, maybe during this pass: not this pass's)
        sent = [e.label for e in env.sandbox.shopify.log.entries(mark[0])
                if e.access == "write" and e.fault != "slow"]
        assert sent == [], sent
        why = " ".join(reason for _, reason in second.shops[0].failures)
        assert "lost_answer_wait_seconds" in why, why
        assert env.sandbox.shopify.wait_idle()  # the late create lands
        third = env.run()
        assert third.exit_code == ExitCode.OK, third.shops[0].failures
        assert counts(third, "dk").get("created", 0) == 0
        assert counts(third, "dk").get("published") == 1
        products = [p for p in env.shopify.shop("dk").products.values()
                    if p.get("title") == "Ny vare"]
        assert len(products) == 1
    finally:
        env.close()
