"""Every exit code, through the CLI: the right code, a clear message, never a traceback."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
import responses
import typer

from rackshop.cli.common import Common, run
from rackshop.errors import (
    AbortedError,
    ApiUnavailableError,
    AuthError,
    ConfigError,
    ConfigProblem,
    ExitCode,
    LockHeldError,
    NotImplementedYetError,
    SafetyStopError,
    StateError,
    UsageError,
)
from tests.helpers import configs
from tests.helpers.cli import invoke


def test_ok_check_offline(tmp_path: Path) -> None:
    path = configs.write(tmp_path, configs.minimal(tmp_path))
    code, text = invoke(["check", "--offline", "--config", str(path)])
    assert code == ExitCode.OK, text
    assert "valid, 1 shop(s)" in text


def test_config_error_names_key(tmp_path: Path) -> None:
    data = configs.minimal(tmp_path)
    data["shops"][0]["orders"]["transfer_on"] = "payed"
    path = configs.write(tmp_path, data)
    code, text = invoke(["check", "--offline", "--config", str(path)])
    assert code == ExitCode.CONFIG
    assert "shops[0].orders.transfer_on" in text and "payed" in text


def test_missing_config_file(tmp_path: Path) -> None:
    code, text = invoke(["status", "--config", str(tmp_path / "nope.toml")])
    assert code == ExitCode.CONFIG
    assert "nope.toml" in text


def test_usage_unknown_option_and_unknown_shop(tmp_path: Path) -> None:
    code, _ = invoke(["check", "--no-such-option"])
    assert code == ExitCode.USAGE
    path = configs.write(tmp_path, configs.minimal(tmp_path))
    code, text = invoke(["check", "--offline", "--config", str(path), "--shop", "xx"])
    assert code == ExitCode.USAGE
    assert "xx" in text and "dk" in text


def test_init_sync_needs_one_shop_and_yes_without_a_terminal(tmp_path: Path) -> None:
    path = configs.write(tmp_path, configs.minimal(tmp_path))
    code, text = invoke(["init-sync", "--config", str(path)])
    assert code == ExitCode.USAGE and "--shop" in text


def test_orders_commands_exit_codes(tmp_path: Path) -> None:
    """`orders list` is 0 (even before any run); resolve/retry of an unknown order or shop is
    a usage error (2) naming it."""
    path = configs.write(tmp_path, configs.minimal(tmp_path))
    code, text = invoke(["orders", "list", "--config", str(path)])
    assert code == ExitCode.OK and "0 order(s) need attention" in text
    for action in ("resolve", "retry"):
        code, text = invoke(["orders", action, "dk", "#1001", "--config", str(path)])
        assert code == ExitCode.USAGE and "#1001" in text
        code, text = invoke(["orders", action, "xx", "#1001", "--config", str(path)])
        assert code == ExitCode.USAGE and "xx" in text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_api_unavailable(tmp_path: Path) -> None:
    port = _free_port()  # nothing listens there
    data = configs.minimal(tmp_path, rackbeat_url=f"http://127.0.0.1:{port}/api/",
                           shop_base_url=f"http://127.0.0.1:{port}/shops/dk",
                           http={"attempts": 2, "backoff_seconds": 0.01,
                                 "max_backoff_seconds": 0.02})
    path = configs.write(tmp_path, data)
    code, text = invoke(["check", "--config", str(path)])
    assert code == ExitCode.API_UNAVAILABLE, text
    assert "2 attempts" in text


@responses.activate
def test_auth_refused(tmp_path: Path) -> None:
    responses.get("https://rb.example.test/api/self", status=401,
                  json={"message": "Unauthenticated."})
    responses.post("https://dk-test.myshopify.com/admin/api/2026-07/graphql.json", status=401,
                   json={"errors": "[API] Invalid API key or access token"})
    data = configs.minimal(tmp_path, rackbeat_url="https://rb.example.test/api/")
    path = configs.write(tmp_path, data)
    code, text = invoke(["check", "--config", str(path)])
    assert code == ExitCode.AUTH, text
    assert "refused the credentials" in text
    assert configs.RACKBEAT_TOKEN not in text and configs.SHOPIFY_TOKEN not in text


def test_state_store_unusable(tmp_path: Path) -> None:
    state = tmp_path / "state.sqlite3"
    state.write_bytes(b"not a database at all " * 200)
    path = configs.write(tmp_path, configs.minimal(tmp_path))
    code, text = invoke(["status", "--config", str(path)])
    assert code == ExitCode.STATE
    assert "state store" in text


def test_second_concurrent_run_gets_lock_code_and_pid(tmp_path: Path) -> None:
    path = configs.write(tmp_path, configs.minimal(tmp_path))
    holder = textwrap.dedent(f"""
        import time
        from rackshop.store import JobLock
        JobLock({str(tmp_path / 'state.sqlite3')!r}, "sync-orders", "dk").acquire()
        print("locked", flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", holder], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        second = subprocess.run(
            [sys.executable, "-m", "rackshop", "sync-orders", "--config", str(path)],
            capture_output=True, text=True, env={**configs.ENV, "PATH": "/usr/bin:/bin"},
            timeout=60, check=False,
        )
        assert second.returncode == ExitCode.LOCKED, second.stderr
        assert f"PID {proc.pid}" in second.stderr
        assert "Traceback" not in second.stderr
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout:
            proc.stdout.close()


def _raiser(exc: BaseException) -> Callable[[Common], ExitCode]:
    def body(_: Common) -> ExitCode:
        raise exc

    return body


@pytest.mark.parametrize(("exc", "code"), [
    (ConfigError([ConfigProblem("a.b", "bad")]), ExitCode.CONFIG),
    (UsageError("bad"), ExitCode.USAGE),
    (ApiUnavailableError("down"), ExitCode.API_UNAVAILABLE),
    (AuthError("no"), ExitCode.AUTH),
    (LockHeldError("sync-orders:dk", 4242, "host", "now"), ExitCode.LOCKED),
    (NotImplementedYetError("later"), ExitCode.NOT_IMPLEMENTED),
    (AbortedError("declined"), ExitCode.ABORTED),
    (SafetyStopError("breaker"), ExitCode.SAFETY_STOP),
    (StateError("broken"), ExitCode.STATE),
    (ValueError("a bug"), ExitCode.INTERNAL),
    (KeyboardInterrupt(), ExitCode.INTERRUPTED),
])
def test_error_handler_maps_every_exit_code(exc: BaseException, code: ExitCode,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(typer.Exit) as info:
        run(Common(), _raiser(exc))
    assert info.value.exit_code == code
    err = capsys.readouterr().err
    assert "Traceback" not in err


def test_body_result_becomes_exit_code() -> None:
    for code in (ExitCode.OK, ExitCode.PARTIAL):
        with pytest.raises(typer.Exit) as info:
            run(Common(), lambda _c, code=code: code)
        assert info.value.exit_code == code


def test_exit_codes_are_documented_in_readme() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    for code in ExitCode:
        assert f"| {int(code)} |" in readme, f"exit code {int(code)} ({code.name}) undocumented"
