"""Secret values, redaction, finding the config file, and writing one."""

from __future__ import annotations

import copy
import os
import pickle
import stat
import tomllib
from pathlib import Path
from typing import Any

import pytest

from rackshop import redact
from rackshop.config import (
    CONFIG_ENV_VAR,
    FrozenMap,
    Secret,
    find_config_path,
    load_config,
    write_config,
)
from rackshop.errors import ConfigError


@pytest.fixture(autouse=True)
def _clean_redact_registry() -> Any:
    redact.clear()
    yield
    redact.clear()


# ----------------------------------------------------------------------------------------------
# Secret


def test_secret_hides_its_value() -> None:
    s = Secret("shpat_0123456789abcdef", "environment variable X")
    assert repr(s) == "Secret('***')"
    assert str(s) == "Secret('***')"
    assert f"{s}" == "Secret('***')"
    assert "0123456789" not in repr([s, {"k": s}, (s,)])
    assert s.reveal() == "shpat_0123456789abcdef"
    assert s.source == "environment variable X"


def test_secret_equality_is_by_value_and_it_is_frozen() -> None:
    a, b = Secret("value-123456", "env A"), Secret("value-123456", "file b")
    assert a == b and hash(a) == hash(b)
    assert a != Secret("other-123456")
    assert a != "value-123456"
    with pytest.raises(AttributeError):
        a.source = "x"
    with pytest.raises(AttributeError):
        a._value = "x"
    assert copy.deepcopy(a) == a
    assert pickle.loads(pickle.dumps(a)) == a


def test_unresolved_secret() -> None:
    s = Secret.unresolved("environment variable X")
    assert not s.resolved
    assert repr(s) == "Secret('***')"
    assert s == Secret.unresolved("environment variable X")
    assert s != Secret.unresolved("environment variable Y")
    assert s != Secret("something")
    with pytest.raises(RuntimeError, match="environment variable X was not read"):
        s.reveal()


def test_frozen_map() -> None:
    m = FrozenMap({"a": (1, 2)})
    assert m == {"a": (1, 2)} and m["a"] == (1, 2) and len(m) == 1 and list(m) == ["a"]
    assert hash(m) == hash(FrozenMap({"a": (1, 2)}))
    with pytest.raises(TypeError):
        m["b"] = (3,)  # type: ignore[index]


# ----------------------------------------------------------------------------------------------
# redact


def test_redact_masks_registered_values() -> None:
    redact.register("rb-secret-token-1")
    redact.register("rb-secret-token-1-longer")
    redact.register("a/b c+d=e")
    text = "x rb-secret-token-1 y rb-secret-token-1-longer z a%2Fb%20c%2Bd%3De w a/b c+d=e"
    assert redact.redact(text) == "x *** y *** z *** w ***"
    assert "rb-secret-token-1" in redact.secrets()


def test_redact_ignores_short_values_and_clear_forgets() -> None:
    redact.register("abc")
    redact.register("  ")
    assert redact.secrets() == frozenset()
    assert redact.redact("abc") == "abc"
    redact.register("longer-secret")
    redact.clear()
    assert redact.redact("longer-secret") == "longer-secret"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("token shpat_abcdef0123456789 used", "token shpat_*** used"),
        ("shpss_0123456789abcdef", "shpss_***"),
        ("Authorization: Bearer eyJhbGciOi.JIUzI1NiJ9.x", "Authorization: Bearer ***"),
        ("{'X-Shopify-Access-Token': 'tok-123456789'}", "{'X-Shopify-Access-Token': '***'}"),
        (
            '{"access_token": "abc123456789", "scope": "read"}',
            '{"access_token": "***", "scope": "read"}',
        ),
        (
            "grant_type=client_credentials&client_id=id1&client_secret=s3cr3t-value",
            "grant_type=client_credentials&client_id=id1&client_secret=***",
        ),
        ("nothing secret here: shpat_ alone", "nothing secret here: shpat_ alone"),
        ("", ""),
    ],
)
def test_redact_masks_credential_shapes(text: str, expected: str) -> None:
    assert redact.redact(text) == expected


# ----------------------------------------------------------------------------------------------
# find_config_path


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("", encoding="utf-8")
    return path


def test_find_config_path_order(tmp_path: Path) -> None:
    cwd = tmp_path / "work"
    user = tmp_path / "user" / "config.toml"
    explicit = _touch(tmp_path / "explicit.toml")
    from_env = _touch(tmp_path / "env.toml")
    local = _touch(cwd / "rackshop.toml")
    _touch(user)
    env = {CONFIG_ENV_VAR: str(from_env)}
    assert find_config_path(explicit, env, cwd, user_config=user) == explicit
    assert find_config_path(None, env, cwd, user_config=user) == from_env
    assert find_config_path(None, {}, cwd, user_config=user) == local
    local.unlink()
    assert find_config_path(None, {}, cwd, user_config=user) == user
    # a relative --config is relative to cwd
    _touch(cwd / "sub" / "c.toml")
    assert find_config_path(Path("sub/c.toml"), {}, cwd, user_config=user) == cwd / "sub/c.toml"


def test_find_config_path_lists_every_place_looked(tmp_path: Path) -> None:
    user = tmp_path / "user" / "config.toml"
    with pytest.raises(ConfigError) as info:
        find_config_path(None, {}, tmp_path, user_config=user)
    text = str(info.value)
    assert (
        "no config file found; looked at: --config (not given); $RACKSHOP_CONFIG (not set); "
        f"{tmp_path / 'rackshop.toml'}; {user}" in text
    )
    assert "examples/config.toml" in text


def test_find_config_path_never_falls_back_from_a_named_file(tmp_path: Path) -> None:
    _touch(tmp_path / "rackshop.toml")
    with pytest.raises(ConfigError, match=r"missing\.toml \(from --config\) does not exist"):
        find_config_path(Path("missing.toml"), {}, tmp_path)
    with pytest.raises(ConfigError, match=r"\(from \$RACKSHOP_CONFIG\) does not exist"):
        find_config_path(None, {CONFIG_ENV_VAR: "nope.toml"}, tmp_path)
    with pytest.raises(ConfigError, match="is a folder, not a file"):
        find_config_path(tmp_path, {}, tmp_path)


# ----------------------------------------------------------------------------------------------
# write_config


def _sandbox_config() -> dict[str, Any]:
    return {
        "rackbeat": {"token": {"env": "RACKBEAT_TOKEN"}, "base_url": "http://127.0.0.1:8001/api/"},
        "state": {"path": "state.sqlite3"},
        "shops": [
            {
                "name": "dk",
                "domain": "dk.sandbox",
                "base_url": "http://127.0.0.1:8000/shops/dk",
                "token": {"env": "SHOPIFY_DK_TOKEN"},
                "stock": {"shopify_location": "Main warehouse"},
            }
        ],
    }


def test_write_config_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "new" / "rackshop.toml"
    write_config(_sandbox_config(), path, header="Written by a test.\nSecond line.")
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# Written by a test.\n# Second line.\n")
    assert tomllib.loads(text) == _sandbox_config()
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["rackshop.toml"]  # no temp file left
    env = {"RACKBEAT_TOKEN": "rb-token-123456", "SHOPIFY_DK_TOKEN": "shpat_0123456789"}
    config = load_config(path, env=env)
    assert config.state.path == path.parent / "state.sqlite3"
    assert config.shops[0].graphql_url.startswith("http://127.0.0.1:8000/shops/dk/admin/api/")


def test_write_config_refuses_an_invalid_config_and_writes_nothing(tmp_path: Path) -> None:
    bad = _sandbox_config()
    bad["shops"][0]["token"] = "shpat_inline_0123456789"
    path = tmp_path / "rackshop.toml"
    with pytest.raises(ConfigError) as info:
        write_config(bad, path)
    assert [p.path for p in info.value.problems] == ["shops[0].token"]
    assert list(tmp_path.iterdir()) == []


def test_write_config_replaces_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "rackshop.toml"
    path.write_text("old", encoding="utf-8")
    write_config(_sandbox_config(), path)
    assert tomllib.loads(path.read_text(encoding="utf-8"))["shops"][0]["name"] == "dk"


def test_a_key_path_naming_client_secret_is_not_masked_but_credentials_still_are() -> None:
    message = ("shops[1].client_secret: the file /etc/rackshop/se.txt does not exist; "
               "rackbeat.client_secret: the file x does not exist")
    assert redact.redact(message) == message
    for body in ('{"client_secret": "shpss_0123456789abcdef"}',
                 "client_id=abc&client_secret=shpss_0123456789abcdef&code=1",
                 "access_token: shpat_0123456789abcdef"):
        assert "0123456789abcdef" not in redact.redact(body), body
