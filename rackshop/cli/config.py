"""``rackshop config``: what the configuration schema says, and what a file amounts to.

``config schema`` prints the JSON Schema editors use to check and complete ``rackshop.toml``
(Taplo / Even Better TOML, via a ``#:schema`` first line); ``config show`` prints the effective
configuration, every default filled in and each value's source, secrets masked. Registered on
the app by :mod:`rackshop.cli`; errors go through :func:`rackshop.cli.common.run`.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import typer

from rackshop import console
from rackshop.cli.common import Common, ConfigOpt, DebugOpt, run
from rackshop.errors import ExitCode
from rackshop.redact import redact

config_app = typer.Typer(
    help="The configuration file's schema (for editors), and the effective configuration.",
    no_args_is_help=True,
)


@config_app.command("schema")
def schema_cmd(debug: DebugOpt = False) -> None:
    """Print the JSON Schema of the configuration file (draft-07).

    Save it next to your config and put `#:schema ./rackshop.schema.json` on the file's first
    line: Taplo and the Even Better TOML extension then check and complete every key as you type.
    """

    def body(_: Common) -> ExitCode:
        from rackshop.config.docs import json_schema_text

        out, _err = console.make_consoles()
        out.file.write(json_schema_text())
        return ExitCode.OK

    run(Common(debug=debug), body)


@config_app.command("show")
def show_cmd(config: ConfigOpt = None, debug: DebugOpt = False) -> None:
    """Print the effective configuration: every key with its value and its source.

    The source is `file` (written in the file), `default` (left out: the schema's default), or,
    for a secret, the environment variable or file it is read from. Secrets show as ***. The
    file is validated first, like every command does (exit 3 with every problem).
    """

    def body(c: Common) -> ExitCode:
        from rackshop.config import CONFIG_ENV_VAR, find_config_path, load_config
        from rackshop.config.docs import show

        path = find_config_path(c.config, os.environ, Path.cwd())
        cfg = load_config(path)
        raw = tomllib.loads(path.read_bytes().decode("utf-8-sig"))
        found = (" (from --config)" if c.config is not None else
                 f" (from ${CONFIG_ENV_VAR})" if os.environ.get(CONFIG_ENV_VAR, "").strip()
                 else "")
        out, _err = console.make_consoles()
        for line in show(cfg, raw, found):
            out.file.write(redact(line) + "\n")
        return ExitCode.OK

    run(Common(config=config, debug=debug), body)
