"""Finding, reading, validating and writing the configuration file.

:func:`load_config` reads a TOML file; :func:`validate_dict` validates an already parsed mapping
against the schema (:mod:`.schema`, :mod:`.validate`, :mod:`.checks`) and builds the frozen
:class:`~rackshop.config.objects.Config`. Validation never stops at the first mistake: it raises
one :class:`~rackshop.errors.ConfigError` listing every problem with its key path.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import tempfile
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import platformdirs
import tomli_w

from rackshop.config.build import build, default_state_path
from rackshop.config.objects import Config
from rackshop.config.secrets import expand
from rackshop.config.tree import Ctx
from rackshop.config.validate import base_dir_of, validate_file
from rackshop.config.values import APP_NAME, CONFIG_ENV_VAR, DEFAULT_CONFIG_NAME
from rackshop.errors import ConfigError, ConfigProblem

_HOW_TO_CREATE = (
    "create one by copying examples/config.toml from the rackshop source (every key is explained "
    "in it and in docs/config.md), or run `rackshop sandbox serve --write-config PATH` to write "
    "one for the local sandbox"
)


def _toml_hint(message: str) -> str:
    if any(m in message for m in ("Invalid value", "Invalid statement", "Expected newline")):
        return (
            ' (text values need quotes, e.g. level = "info"; dates are written without '
            "quotes, e.g. since = 2026-11-01; each [[shops]] table needs its own header)"
        )
    if "Cannot overwrite a value" in message or "Cannot declare" in message:
        return " (a key or [table] is written twice)"
    return ""



def default_user_config_path() -> Path:
    """The per-user config file looked for last: ``<user config dir>/rackshop/config.toml``."""
    return Path(platformdirs.user_config_dir(APP_NAME)) / "config.toml"


def find_config_path(
    explicit: Path | None,
    env: Mapping[str, str],
    cwd: Path,
    *,
    user_config: Path | None = None,
) -> Path:
    """Decide which config file to use.

    Order: ``--config`` (``explicit``), then ``$RACKSHOP_CONFIG``, then ``./rackshop.toml``, then
    the per-user file (:func:`default_user_config_path`). A path given explicitly (option or
    variable) must exist: rackshop never falls back silently from a file the user named.

    Args:
        explicit: The ``--config`` value, if given.
        env: The environment (injected; the CLI passes ``os.environ``).
        cwd: The current folder (injected).
        user_config: The per-user config path; defaults to :func:`default_user_config_path`.

    Returns:
        The path of an existing file (absolute if ``cwd`` is).

    Raises:
        ConfigError: The named file does not exist, or no candidate exists; the message lists
            every place looked and how to create a config.
    """

    def absolute(p: Path) -> Path:
        p = expand(p)
        return p if p.is_absolute() else cwd / p

    how = _HOW_TO_CREATE
    if explicit is not None:
        path = absolute(explicit)
        if not path.is_file():
            what = "is a folder, not a file" if path.is_dir() else "does not exist"
            raise ConfigError(
                [ConfigProblem("", f"config file {path} (from --config) {what}; {how}")]
            )
        return path
    from_env = env.get(CONFIG_ENV_VAR, "").strip()
    if from_env:
        path = absolute(Path(from_env))
        if not path.is_file():
            what = "is a folder, not a file" if path.is_dir() else "does not exist"
            raise ConfigError(
                [ConfigProblem("", f"config file {path} (from ${CONFIG_ENV_VAR}) {what}; {how}")]
            )
        return path
    candidates = [cwd / DEFAULT_CONFIG_NAME, user_config or default_user_config_path()]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    looked = "; ".join(
        ["--config (not given)", f"${CONFIG_ENV_VAR} (not set)"] + [str(c) for c in candidates]
    )
    raise ConfigError([ConfigProblem("", f"no config file found; looked at: {looked}; {how}")])


def load_config(
    path: Path,
    *,
    env: Mapping[str, str] | None = None,
    resolve_secrets: bool = True,
    now: dt.datetime | None = None,
) -> Config:
    """Read, parse and validate a config file.

    Args:
        path: The TOML file. Relative paths inside it (state, log, secret files) are relative
            to its folder.
        env: Where ``{ env = "..." }`` secrets are looked up; defaults to ``os.environ``.
        resolve_secrets: Read secret values (the default). False keeps them as unresolved
            references (:meth:`Secret.reveal` then raises); for tooling that only inspects the
            structure.
        now: The current time, for the warnings that depend on it (an expired API version,
            a go-live date beyond Shopify's order history). Defaults to the system clock.

    Returns:
        The validated configuration.

    Raises:
        ConfigError: The file is missing, unreadable, not TOML, or invalid. Lists every problem.
    """
    # Absolute, so that messages in cron logs and the paths derived from it are unambiguous.
    path = expand(path).absolute()
    source = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            [ConfigProblem("", f"config file {path} does not exist; {_HOW_TO_CREATE}")],
            source=source,
        ) from None
    except IsADirectoryError:
        raise ConfigError(
            [ConfigProblem("", f"{path} is a folder; give the path of the TOML file")],
            source=source,
        ) from None
    except OSError as exc:
        raise ConfigError(
            [ConfigProblem("", f"cannot read config file {path}: {exc.strerror or exc}")],
            source=source,
        ) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            [
                ConfigProblem(
                    "",
                    f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}); "
                    "save it as UTF-8",
                )
            ],
            source=source,
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            [ConfigProblem("", f"{path.name}: not valid TOML: {exc}{_toml_hint(str(exc))}")],
            source=source,
        ) from None
    return validate_dict(
        data,
        source=path,
        env=env,
        base_dir=path.parent,
        resolve_secrets=resolve_secrets,
        now=now,
    )


def validate_dict(
    data: Mapping[str, Any],
    *,
    source: Path | None = None,
    env: Mapping[str, str] | None = None,
    base_dir: Path | None = None,
    resolve_secrets: bool = True,
    now: dt.datetime | None = None,
) -> Config:
    """Validate an already parsed config mapping (what ``tomllib`` returns).

    Args:
        data: The parsed TOML document.
        source: The file it came from, for messages and :attr:`Config.source`.
        env: Where ``{ env = "..." }`` secrets are looked up; defaults to ``os.environ``.
        base_dir: Relative paths are relative to this folder; defaults to the folder of
            ``source``, else the current folder.
        resolve_secrets: See :func:`load_config`.
        now: See :func:`load_config`.

    Returns:
        The validated configuration.

    Raises:
        ConfigError: Every problem found, each with its key path.
    """
    ctx = Ctx(
        env=os.environ if env is None else env,
        base_dir=base_dir if base_dir is not None else base_dir_of(source),
        resolve=resolve_secrets,
        now=_aware(now or dt.datetime.now(dt.UTC)),
    )
    root = validate_file(ctx, data)
    if ctx.problems or root is None or not root.valid:
        raise ConfigError(ctx.problems or [ConfigProblem("", "the configuration is not valid")],
                          source=str(source) if source else None)
    return build(root, ctx, source)


def _aware(now: dt.datetime) -> dt.datetime:
    return now if now.tzinfo else now.replace(tzinfo=dt.UTC)


def write_config(
    config: Mapping[str, Any],
    path: Path,
    *,
    header: str | None = None,
    validate: bool = True,
) -> None:
    """Write a config mapping as TOML, atomically and readable by the owner only (mode 0600).

    The mapping uses the file's own shape: secrets are ``{"env": ...}`` or ``{"file": ...}``
    references, never values. Used by ``rackshop sandbox serve --write-config``.

    Args:
        config: The document to write.
        path: Target file; its folder is created if needed.
        header: Optional comment lines put at the top (each line gets a ``#``).
        validate: Check the document first (structure only: secrets are not resolved), so that
            rackshop never writes a file it would then refuse.

    Raises:
        ConfigError: ``validate`` is on and the document is invalid.
        OSError: The file cannot be written.
    """
    path = expand(path)
    if validate:
        validate_dict(config, source=path, base_dir=path.parent, resolve_secrets=False)
    text = tomli_w.dumps(dict(config))
    if header:
        comment = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines())
        text = comment + "\n" + text
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            # mkstemp creates the file 0600 already; say so explicitly, it matters here.
            os.chmod(tmp, 0o600)
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


__all__ = ["default_state_path", "find_config_path", "load_config", "validate_dict", "write_config"]
