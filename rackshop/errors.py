"""The exception tree and the process exit codes.

Exceptions are named by what the caller should do with them, not by where they came from:

* :class:`FatalError` and its subclasses stop the whole run (bad config, wrong credentials, an
  API that stays down, another run holding the lock). The CLI (:mod:`rackshop.cli`) maps each
  to an exit code.
* :class:`RetryableError` is transient: the HTTP layer retries it with backoff; when retries are
  exhausted it becomes :class:`ApiUnavailableError`.
* :class:`OutcomeUnknownError` means a write may or may not have happened. It is never retried
  blindly; the caller settles it by reading (the order journal looks for the reference, the stock
  push relies on the idempotency key).
* :class:`RecordError` and its subclasses fail one record (an order, a product): the job records
  the reason and goes on with the rest.

Every message is meant for the user: it says what went wrong and how to fix it, names the config
key or record, and never carries a secret (``http.py`` redacts before anything is raised).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes, documented in the README. Stable: scripts depend on them."""

    OK = 0
    """Everything the run set out to do was done (or there was nothing to do)."""
    PARTIAL = 1
    """The run finished, but some records failed or were held back; see the summary/status."""
    USAGE = 2
    """Bad command line (unknown option, missing argument). Typer/click use 2 as well."""
    CONFIG = 3
    """The configuration file is missing or invalid; every problem is listed with its key."""
    API_UNAVAILABLE = 4
    """Shopify or Rackbeat could not be reached, or kept failing after retries."""
    AUTH = 5
    """Shopify or Rackbeat refused the credentials (401/403) or a required scope."""
    LOCKED = 6
    """Another run of the same job for the same shop holds the lock."""
    NOT_IMPLEMENTED = 7
    """The command exists but is not built yet in this version."""
    ABORTED = 8
    """Nothing was done: the user declined, or a confirmation (``--yes``) was required."""
    SAFETY_STOP = 9
    """A safety check refused to go on (e.g. the stock circuit breaker); ``--force`` overrides."""
    STATE = 10
    """The state store cannot be opened or is from a newer rackshop version, or an output file
    (a report) or the store cannot be written: refused before anything was done."""
    SHOP_FAILED = 11
    """At least one shop failed as a whole (its Shopify credentials or scopes were refused...);
    the other shops ran. The summary and ``rackshop status`` name the shop and the reason."""
    CONTRACT = 12
    """``check --contract``: an enabled job cannot run on these accounts (an assumption about
    the live APIs does not hold and there is no fallback); the table names the job and why."""
    INTERNAL = 70
    """A bug in rackshop. Rerun with ``--debug`` and report the traceback."""
    INTERRUPTED = 130
    """Interrupted by Ctrl-C / SIGINT."""


class RackshopError(Exception):
    """Base of every error rackshop raises on purpose.

    Args:
        message: What went wrong, for the user.
        hint: How to fix it, if there is something to say.
    """

    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


# --------------------------------------------------------------------------------------------
# Fatal: stop the run.


class FatalError(RackshopError):
    """Stop the whole run; nothing more can usefully be done."""


@dataclass(frozen=True)
class ConfigProblem:
    """One problem found in the configuration.

    Attributes:
        path: The key path, e.g. ``shops[1].orders.transfer_on``.
        message: What is wrong and how to fix it.
    """

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigError(FatalError):
    """The configuration is invalid. Carries every problem found, not only the first."""

    exit_code = ExitCode.CONFIG

    def __init__(
        self, problems: Sequence[ConfigProblem], *, source: str | None = None
    ) -> None:
        self.problems = list(problems)
        self.source = source
        where = f" in {source}" if source else ""
        n = len(self.problems)
        head = f"{n} problem{'s' if n != 1 else ''} with the configuration{where}:"
        body = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{head}\n{body}")


class UsageError(FatalError):
    """The command line asks for something that cannot be done (e.g. an unknown ``--shop``)."""

    exit_code = ExitCode.USAGE


class AuthError(FatalError):
    """An API refused the credentials or the scope.

    Args:
        message: What went wrong.
        hint: How to fix it.
        api: ``"shopify"`` or ``"rackbeat"`` when known: a Shopify refusal concerns one shop,
            a Rackbeat one the whole account (every shop).
    """

    exit_code = ExitCode.AUTH

    def __init__(self, message: str, *, hint: str | None = None, api: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.api = api


class ApiUnavailableError(FatalError):
    """An API could not be reached, or kept failing after the retry policy gave up."""

    exit_code = ExitCode.API_UNAVAILABLE


class ApiContractError(FatalError):
    """An API answered in a way rackshop does not understand (a bug or an API change).

    Examples: a GraphQL document error, ``MAX_COST_EXCEEDED``, an unexpected body shape.
    """

    exit_code = ExitCode.INTERNAL


class LockHeldError(FatalError):
    """Another process holds the lock for this job and shop."""

    exit_code = ExitCode.LOCKED

    def __init__(self, lock_name: str, pid: int, host: str, since: str) -> None:
        self.lock_name = lock_name
        self.pid = pid
        super().__init__(
            f"another rackshop run holds the lock {lock_name!r} (PID {pid} on {host}, "
            f"since {since})",
            hint="wait for it to finish; a lock left by a process that died is taken over "
            "automatically",
        )


class StateError(FatalError):
    """The state store cannot be used."""

    exit_code = ExitCode.STATE


class NotImplementedYetError(FatalError):
    """The command is part of the interface but not built in this version."""

    exit_code = ExitCode.NOT_IMPLEMENTED


class AbortedError(FatalError):
    """Nothing was done because the user declined or did not confirm."""

    exit_code = ExitCode.ABORTED


class SafetyStopError(FatalError):
    """A safety check refused to go on."""

    exit_code = ExitCode.SAFETY_STOP


# --------------------------------------------------------------------------------------------
# Retryable: transient; the HTTP layer retries these.


class RetryableError(RackshopError):
    """A transient failure; the same request may succeed later.

    Attributes:
        retry_after: Seconds the server asked us to wait, if it said.
    """

    exit_code = ExitCode.API_UNAVAILABLE

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ThrottledError(RetryableError):
    """The API asked us to slow down (HTTP 429, Shopify ``THROTTLED``)."""


class TransientServerError(RetryableError):
    """A 5xx, a timeout or a dropped connection on a request that is safe to repeat."""


# --------------------------------------------------------------------------------------------
# Outcome unknown: a write may have happened.


class OutcomeUnknownError(RackshopError):
    """A write was sent and no clear answer came back; it may have been applied.

    Never retried blindly. The caller settles it by reading the remote state (the order journal
    looks for the order's reference; a stock push reuses its idempotency key).

    Attributes:
        operation: What was being written, e.g. ``POST /orders/drafts``.
    """

    exit_code = ExitCode.PARTIAL

    def __init__(self, operation: str, cause: str) -> None:
        self.operation = operation
        self.cause = cause
        super().__init__(
            f"{operation}: no answer ({cause}); the write may or may not have been applied",
            hint="rackshop settles this on the next step or run by reading the remote state",
        )


# --------------------------------------------------------------------------------------------
# Record-level: skip this record, go on with the rest.


class RecordError(RackshopError):
    """This record cannot be processed now; record the reason and go on with the others."""

    exit_code = ExitCode.PARTIAL


class NotFoundError(RecordError):
    """The addressed resource does not exist (HTTP 404, or a GraphQL ``null`` node)."""


class ValidationError(RecordError):
    """The API rejected a write (Rackbeat 422).

    Attributes:
        fields: Field path -> messages, as the API gave them.
    """

    def __init__(
        self, operation: str, fields: Mapping[str, Sequence[str]], message: str = ""
    ) -> None:
        self.operation = operation
        self.fields: dict[str, list[str]] = {k: list(v) for k, v in fields.items()}
        parts = [f"{k}: {'; '.join(v)}" for k, v in self.fields.items()]
        detail = ", ".join(parts) or message or "rejected"
        super().__init__(f"{operation} rejected: {detail}")


@dataclass(frozen=True)
class UserErrorItem:
    """One Shopify ``userErrors`` entry."""

    field: tuple[str, ...] | None
    message: str
    code: str | None = None

    def __str__(self) -> str:
        where = ".".join(self.field) if self.field else ""
        code = f" [{self.code}]" if self.code else ""
        return f"{where + ': ' if where else ''}{self.message}{code}"


class ShopifyUserErrors(RecordError):
    """A Shopify mutation answered with ``userErrors``.

    Attributes:
        mutation: The mutation's root field, e.g. ``inventorySetQuantities``.
        errors: The user errors with field path, message and code.
    """

    def __init__(self, mutation: str, errors: Sequence[UserErrorItem]) -> None:
        self.mutation = mutation
        self.errors = list(errors)
        super().__init__(f"{mutation} refused: " + "; ".join(str(e) for e in self.errors))

    @property
    def codes(self) -> set[str]:
        """The distinct error codes, for branching on a specific failure."""
        return {e.code for e in self.errors if e.code}


def describe(exc: BaseException) -> str:
    """Return a one-line user-facing description of any exception (no traceback)."""
    if isinstance(exc, RackshopError):
        return exc.message.splitlines()[0] if exc.message else type(exc).__name__
    return f"{type(exc).__name__}: {exc}"


def exit_code_for(exc: BaseException) -> ExitCode:
    """Map an exception to the process exit code."""
    if isinstance(exc, RackshopError):
        return exc.exit_code
    if isinstance(exc, KeyboardInterrupt):
        return ExitCode.INTERRUPTED
    return ExitCode.INTERNAL


__all__ = [
    "AbortedError",
    "ApiContractError",
    "ApiUnavailableError",
    "AuthError",
    "ConfigError",
    "ConfigProblem",
    "ExitCode",
    "FatalError",
    "LockHeldError",
    "NotFoundError",
    "NotImplementedYetError",
    "OutcomeUnknownError",
    "RackshopError",
    "RecordError",
    "RetryableError",
    "SafetyStopError",
    "ShopifyUserErrors",
    "StateError",
    "ThrottledError",
    "TransientServerError",
    "UsageError",
    "UserErrorItem",
    "ValidationError",
    "describe",
    "exit_code_for",
]
