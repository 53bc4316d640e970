"""`rackshop config schema` and `rackshop config show`, through the CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

from rackshop.config.docs import json_schema
from rackshop.errors import ExitCode
from tests.helpers import configs
from tests.helpers.cli import invoke


def test_config_schema_prints_the_json_schema() -> None:
    code, text = invoke(["config", "schema"])
    assert code == ExitCode.OK
    assert json.loads(text) == json_schema()


def test_config_show_fills_defaults_names_sources_and_masks_secrets(tmp_path: Path) -> None:
    path = configs.write(tmp_path, configs.minimal(tmp_path))
    code, text = invoke(["config", "show", "--config", str(path)])
    assert code == ExitCode.OK, text
    assert configs.RACKBEAT_TOKEN not in text and configs.SHOPIFY_TOKEN not in text
    lines = {re.split(r"\s+#\s", line)[0].strip(): line.rsplit("# ", 1)[1]
             for line in text.splitlines() if " = " in line and not line.startswith("#")}
    assert lines['token = "***"'] == "environment variable DK_TOKEN"
    assert lines['shipping_item = "FRAGT"'] == "file"
    assert lines["overlap_minutes = 60"] == "default"  # left out: the schema's default
    assert lines["since = 2026-11-01 00:00:00+00:00"] == "file"  # normalised to UTC
    assert text.startswith(f"# the effective configuration of {path} (from --config)")
    for table in ("[rackbeat]", "[http]", "[[shops]]", "[shops.orders.customer]",
                  "[shops.fulfillments]"):
        assert f"\n{table}\n" in text


def test_config_show_of_a_broken_file_lists_every_problem_and_exits_3(tmp_path: Path) -> None:
    data = configs.minimal(tmp_path)
    data["shops"][0]["orders"]["transfer_on"] = "payed"
    data["shops"][0]["stock"]["buffer"] = "2"
    code, text = invoke(["config", "show", "--config", str(configs.write(tmp_path, data))])
    assert code == ExitCode.CONFIG
    assert "shops[0].orders.transfer_on" in text and "did you mean 'paid'?" in text
    assert "shops[0].stock.buffer" in text and "write buffer = 2 (no quotes)" in text
