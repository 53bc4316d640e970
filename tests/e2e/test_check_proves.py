"""``rackshop check`` catches configurations that would write wrong data (issue 23, case 3).

Against the twins: each mistake is a ``fail`` row naming the key path, what Rackbeat or Shopify
has and how to fix it, and the exit code is 3 (CONFIG). The sandbox's own config passes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from rackshop import cli
from rackshop.check import run_check
from rackshop.config import load_config, write_config
from rackshop.errors import ExitCode
from rackshop.runtime import Runtime
from tests.e2e.conftest import World


def check(world: World, tmp_path: Path, change: Callable[[dict[str, Any]], None]
          ) -> tuple[ExitCode, list[str]]:
    data = world.sandbox.config_dict(tmp_path / "secrets", world.config.state.path)
    change(data)
    path = tmp_path / "changed.toml"
    write_config(data, path)
    config = load_config(path)
    runtime = Runtime(config)
    try:
        report = run_check(runtime, config.shops, offline=False)
    finally:
        runtime.close()
    return report.exit_code, [r.detail for r in report.rows if r.status == "fail"]


def shop(data: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in data["shops"] if s["name"] == name)


def test_sandbox_config_passes(world: World, tmp_path: Path) -> None:
    code, fails = check(world, tmp_path, lambda d: None)
    assert code == ExitCode.OK and fails == []


def test_prices_include_tax_contradicting_shopify(world: World, tmp_path: Path) -> None:
    def flip(d: dict[str, Any]) -> None:
        shop(d, "dk")["prices_include_tax"] = False  # Shopify: taxes included

    code, fails = check(world, tmp_path, flip)
    assert code == ExitCode.CONFIG
    [fail] = fails
    assert fail.startswith("shops.dk.prices_include_tax = false")
    assert "taxesIncluded = true" in fail and "set prices_include_tax = true" in fail


def test_location_and_its_child_mapped_to_two_shopify_locations(world: World,
                                                                 tmp_path: Path) -> None:
    def child_twice(d: dict[str, Any]) -> None:
        shop(d, "dk")["stock"]["location_map"] = {"Lager": [1, 21], "Butik": [2]}

    code, fails = check(world, tmp_path, child_twice)
    assert code == ExitCode.CONFIG
    [fail] = fails
    assert fail.startswith("shops.dk.stock.location_map: Rackbeat location 21")
    assert '"Butik" = [2] (through its parent)' in fail and '"Lager" = [1, 21]' in fail
    assert "offered twice" in fail


def test_groups_terms_layout_and_guest_that_rackbeat_does_not_have(world: World,
                                                                   tmp_path: Path) -> None:
    def unknown(d: dict[str, Any]) -> None:
        dk = shop(d, "dk")
        dk["products"]["default_group"] = 9999
        dk["orders"]["customer"] = {"group": 77, "payment_terms": 88, "layout": 66,
                                    "vat_zone": "domestic"}
        dk["orders"]["guest_customer"] = 555555

    code, fails = check(world, tmp_path, unknown)
    assert code == ExitCode.CONFIG
    assert len(fails) == 5, fails
    text = "\n".join(fails)
    for key, what in (("shops.dk.products.default_group", "product group 9999"),
                      ("shops.dk.orders.customer.group", "customer group 77"),
                      ("shops.dk.orders.customer.payment_terms", "payment terms 88"),
                      ("shops.dk.orders.customer.layout", "layout 66"),
                      ("shops.dk.orders.guest_customer", "customer 555555")):
        assert f"{key}: Rackbeat has no {what}" in text, text
    assert "Rackbeat has: 1 " in text  # what exists, to choose from


def test_cli_exit_code_is_config(world: World, tmp_path: Path) -> None:
    data = world.sandbox.config_dict(tmp_path / "secrets", world.config.state.path)
    shop(data, "se")["prices_include_tax"] = True  # Shopify: excluded
    path = tmp_path / "cli.toml"
    write_config(data, path)
    out = CliRunner().invoke(cli.app, ["check", "--config", str(path)])
    assert out.exit_code == ExitCode.CONFIG, out.output
    assert "shops.se.prices_include_tax" in " ".join(out.output.split())


def test_subscriptions_must_point_at_the_public_url(world: World, tmp_path: Path) -> None:
    from rackshop.listen import webhooks_admin
    from tests.e2e.test_listen import listen_config, with_url

    config = listen_config(world, tmp_path)
    old = with_url(config, "http://127.0.0.1:9/old")
    webhooks_admin.register(old, config.select(()))
    old.close()
    new = with_url(config, "http://127.0.0.1:9/new")
    report = run_check(new, config.shops, offline=False)
    fails = [r.detail for r in report.rows if r.status == "fail"]
    assert report.exit_code == ExitCode.CONFIG
    needed = (sum(len(webhooks_admin.shopify_topics(s)) for s in config.shops)
              + len(webhooks_admin.rackbeat_events(config)))
    assert len(fails) == needed and all("http://127.0.0.1:9/old" in f
                                        and "webhooks register" in f for f in fails), fails
    webhooks_admin.register(new, config.select(()))
    report = run_check(new, config.shops, offline=False)
    assert report.exit_code == ExitCode.OK, [r for r in report.rows if r.status == "fail"]
    new.close()
