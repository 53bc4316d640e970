"""Reading the secrets a config refers to: ``{ env = "NAME" }`` or ``{ file = "path" }``.

The schema checks a reference's shape; this module reads the value, wraps it in a
:class:`~rackshop.config.values.Secret` and registers it with :mod:`rackshop.redact`. A value
that cannot be read is a problem of the key that refers to it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from rackshop import redact
from rackshop.config.values import Secret
from rackshop.errors import ConfigProblem


def expand(path: Path) -> Path:
    """``~`` and ``~user`` expanded; left as written when there is no such home folder."""
    try:
        return path.expanduser()
    except RuntimeError:
        return path


@dataclass
class Reader:
    """Reads secrets and paths for one validation, collecting problems and warnings.

    Attributes:
        env: Where ``{ env = ... }`` is looked up.
        base_dir: What a relative path is relative to (the config file's folder).
        resolve: Read the values; False keeps unresolved references (tooling).
    """

    env: Mapping[str, str]
    base_dir: Path
    resolve: bool
    problems: list[ConfigProblem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def problem(self, path: str, message: str) -> None:
        """Record a problem of the key at ``path``."""
        self.problems.append(ConfigProblem(path, message))

    def warn(self, path: str, message: str) -> None:
        """Record a warning about the key at ``path`` (once)."""
        text = f"{path}: {message}" if path else message
        if text not in self.warnings:
            self.warnings.append(text)

    def path(self, raw: str) -> Path:
        """A path from the file: ``~`` expanded, relative to the config file's folder."""
        p = expand(Path(raw))
        return p if p.is_absolute() else self.base_dir / p

    def secret(self, ref_env: str | None, ref_file: str | None, path: str,
               *, resolve: bool = True) -> Secret | None:
        """The secret a reference names, or None (a problem recorded) when it cannot be read."""
        if ref_env is not None:
            return self._env(ref_env, path, resolve)
        assert ref_file is not None
        return self._file(ref_file.strip(), path, resolve)

    def _env(self, name: str, path: str, resolve: bool) -> Secret | None:
        source = f"environment variable {name}"
        if not (resolve and self.resolve):
            return Secret.unresolved(source)
        raw = self.env.get(name)
        if raw is None:
            self.problem(
                path,
                f"environment variable {name} is not set; set it where rackshop runs "
                f"(shell profile, cron line, systemd Environment=...), or keep the secret "
                f'in a file and write {{ file = "..." }} instead',
            )
            return None
        value = raw.strip()
        if not value:
            self.problem(
                path, f"environment variable {name} is set but empty; give it the secret's value"
            )
            return None
        redact.register(value)
        return Secret(value, source)

    def _file(self, raw: str, path: str, resolve: bool) -> Secret | None:
        file = self.path(raw)
        source = f"file {file}"
        if not (resolve and self.resolve):
            return Secret.unresolved(source)
        content = self._read(file, raw, path)
        if content is None:
            return None
        value = content.strip()
        if not value:
            self.problem(path, f"secret file {file} is empty; put the secret in it")
            return None
        if "\n" in value or "\r" in value:
            self.problem(
                path,
                f"secret file {file} has more than one line; it must hold only the "
                "secret (no KEY=value, no comments)",
            )
            return None
        redact.register(value)
        self._check_mode(file, path)
        return Secret(value, source)

    def _read(self, file: Path, raw: str, path: str) -> str | None:
        relative = (
            ""
            if expand(Path(raw)).is_absolute()
            else f" (a relative path is relative to the config file's folder, {self.base_dir})"
        )
        try:
            return file.read_text(encoding="utf-8")
        except FileNotFoundError:
            self.problem(path, f"secret file {file} does not exist{relative}")
        except IsADirectoryError:
            self.problem(path, f"secret file {file} is a folder; name the file holding the secret")
        except PermissionError:
            self.problem(
                path,
                f"cannot read secret file {file}: permission denied; the user running "
                "rackshop must be able to read it",
            )
        except UnicodeDecodeError:
            self.problem(
                path, f"secret file {file} is not UTF-8 text; it must hold only the secret"
            )
        except OSError as exc:
            self.problem(path, f"cannot read secret file {file}: {exc.strerror or exc}")
        return None

    def _check_mode(self, file: Path, path: str) -> None:
        if os.name != "posix":
            return
        try:
            mode = file.stat().st_mode
        except OSError:
            mode = 0
        if mode & 0o077:
            self.warn(
                path,
                f"secret file {file} can be read or changed by other users "
                f"(mode {mode & 0o777:o}); run: chmod 600 {file}",
            )
