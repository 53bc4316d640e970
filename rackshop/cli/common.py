"""What every command shares: the Typer app, the common options, loading the config, and the one
error handler (:func:`run`) that turns every :class:`~rackshop.errors.RackshopError` into its exit
code.
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from rackshop import __version__, console
from rackshop.errors import ExitCode, exit_code_for
from rackshop.log import install_handlers, setup_json_logging

app = typer.Typer(
    name="rackshop",
    help="Keep one Rackbeat inventory account and several Shopify shops in step: orders flow "
    "into Rackbeat, products sync in the direction each shop chooses, stock is pushed to "
    "every shop.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class LogFormat(StrEnum):
    text = "text"
    json = "json"


ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", metavar="PATH",
                 help="Config file. Default: $RACKSHOP_CONFIG, ./rackshop.toml, then the "
                 "platform config dir (e.g. ~/.config/rackshop/config.toml).",
                 show_default=False),
]

ShopOpt = Annotated[
    list[str] | None,
    typer.Option("--shop", "-s", metavar="NAME",
                 help="Only this shop (repeatable). Default: every enabled shop.",
                 show_default=False),
]

DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Read and plan only: print what would be done, write "
                       "nothing anywhere (not even the state store).")
]

LogFormatOpt = Annotated[
    LogFormat | None,
    typer.Option("--log-format", help="text (default, for people) or json (one object per line, "
                 "for log shippers). Overrides log.format in the config.", show_default=False),
]

VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Log every step (debug level).")]

DebugOpt = Annotated[
    bool, typer.Option("--debug", help="Show the full traceback on errors (for bug reports).")
]


@dataclass
class Common:
    """The options every command takes."""

    config: Path | None = None
    shops: tuple[str, ...] = ()
    dry_run: bool = False
    log_format: LogFormat | None = None
    verbose: bool = False
    debug: bool = False


def _option(name: str, annotation: Any, default: Any) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                             annotation=annotation)


def common_options(*, config: bool = True, shop: Any = ShopOpt, dry_run: bool = False
                   ) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Give a command the options commands share, declared here once, as one :class:`Common`.

    The command is written ``def cmd(common: Common, <its own options>)``; Typer sees --config
    and --shop before its own options and --dry-run, --log-format, --verbose and --debug after
    them (the order ``--help`` lists them in), and the command receives their values as
    ``common``.

    Args:
        config: Take --config.
        shop: The annotation of --shop (:data:`ShopOpt`, or a command's own wording of it);
            ``None``: no --shop.
        dry_run: Take --dry-run.
    """
    front = [_option("config", ConfigOpt, None)] if config else []
    if shop is not None:
        front.append(_option("shop", shop, None))
    back = [_option("dry_run", DryRunOpt, False)] if dry_run else []
    back += [_option("log_format", LogFormatOpt, None), _option("verbose", VerboseOpt, False),
             _option("debug", DebugOpt, False)]

    shared = [p.name for p in (*front, *back)]

    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        own = list(inspect.signature(command, eval_str=True).parameters.values())[1:]
        params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in (*front, *own, *back)]

        @functools.wraps(command)
        def parsed(**values: Any) -> None:
            given = {name: values.pop(name) for name in shared}
            shops = tuple(given.pop("shop", None) or ())
            command(Common(shops=shops, **given), **values)

        # Typer reads the parameters from the signature, and their types from the annotations.
        parsed.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        parsed.__annotations__ = {p.name: p.annotation for p in params}
        return parsed

    return decorate


def _version(value: bool) -> None:
    if value:
        typer.echo(f"rackshop {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True,
                           help="Print the version and exit.")
    ] = False,
) -> None:
    """rackshop: Rackbeat <-> Shopify sync."""


def _setup_logging(common: Common, level_name: str = "info", file: Path | None = None) -> None:
    """Route rackshop's logs: JSON lines or rich text on stderr, plus the log file if any."""
    _, err = console.make_consoles(no_color=bool(os.environ.get("NO_COLOR")))
    level = logging.DEBUG if common.verbose or common.debug else \
        getattr(logging, level_name.upper(), logging.INFO)
    if common.log_format == LogFormat.json:
        setup_json_logging(level, file=file)
    else:
        install_handlers(level, [console.log_handler(err)], file=file)


def run(common: Common, body: Callable[[Common], ExitCode | int | None]) -> None:
    """Set up logging, run ``body``, and turn its outcome or error into the exit code."""
    _, err = console.make_consoles(no_color=bool(os.environ.get("NO_COLOR")))
    _setup_logging(common)
    try:
        code = body(common)
    except KeyboardInterrupt:
        console.print_line(err, "interrupted; everything finished so far is recorded", "yellow")
        raise typer.Exit(ExitCode.INTERRUPTED) from None
    except typer.Exit:
        raise
    except Exception as exc:
        if common.debug:
            err.print_exception(show_locals=False)
        if common.log_format == LogFormat.json:
            logging.getLogger("rackshop").error(
                str(exc), extra={"exit_code": int(exit_code_for(exc)),
                                 "error": type(exc).__name__})
        console.print_error(err, exc, debug_hint=not common.debug)
        raise typer.Exit(int(exit_code_for(exc))) from None
    raise typer.Exit(int(code or ExitCode.OK))


def load(common: Common):  # type: ignore[no-untyped-def]
    """Find and load the config (raises ConfigError with every problem)."""
    from rackshop.config import find_config_path, load_config

    path = find_config_path(common.config, os.environ, Path.cwd())
    config = load_config(path)
    # [log] in the config applies unless the command line said otherwise.
    if common.log_format is None:
        common.log_format = LogFormat(config.log.format)
    _setup_logging(common, config.log.level, config.log.file)
    return config


def bars_enabled(c: Common, err: Any) -> bool:
    """Progress bars only for a person watching: a terminal, and not JSON logs."""
    return bool(err.is_terminal) and c.log_format != LogFormat.json


class OutputFormat(StrEnum):
    table = "table"
    json = "json"


FormatOpt = Annotated[
    OutputFormat | None,
    typer.Option("--format", help="table (default) or json (one JSON document on stdout). "
                 "--log-format json also gives JSON.", show_default=False),
]


def confirm_or_abort(err: Any, yes: bool, question: str, *, refused: str, hint: str,
                     declined: str) -> None:
    """Go on with a write that cannot be undone only after --yes or a person's yes.

    Without a terminal (cron, CI) nobody can answer, so --yes is required there.
    """
    from rackshop.errors import AbortedError

    if yes:
        return
    if not err.is_terminal or not sys.stdin.isatty():
        raise AbortedError(refused, hint=hint)
    if not console.confirm(err, question):
        raise AbortedError(declined)
