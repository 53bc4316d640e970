"""Running the CLI in-process, as a person would from a wide terminal."""

from __future__ import annotations

from typer.testing import CliRunner

from rackshop import cli
from tests.helpers import configs

runner = CliRunner()


def invoke(args: list[str]) -> tuple[int, str]:
    """Run ``rackshop ARGS`` with the test secrets in the environment: exit code and all output.

    Never a traceback: the CLI turns every error into a message and an exit code.
    """
    # a wide terminal: rich wraps table cells at the width it finds, which varies by runner
    result = runner.invoke(cli.app, args, env={**configs.ENV, "COLUMNS": "200"})
    text = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert "Traceback" not in text
    return result.exit_code, text
