"""Laravel-style errors and input validation for the Rackbeat twin.

Rackbeat is a Laravel application, so its 422 answers carry Laravel's validation messages
("The number has already been taken.", "The selected group is invalid."). The twin produces the
same wording so that a client's error mapping is exercised against realistic text.

Two shapes of 422 exist (see ``docs/sandbox-rackbeat.md``):

* validation errors: ``{"message": "The given data was invalid.", "errors": {"path": ["msg"]}}``
* business-rule refusals (book twice, zero-change adjustment): ``{"message": "..."}`` only, as
  Laravel's ``abort(422, ...)`` answers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, time, timedelta, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, TypeVar

JSON = dict[str, Any]

N = TypeVar("N", int, float)

INVALID_MESSAGE = "The given data was invalid."
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

#: Query-string and body values read as "yes" (``?book=true``, ``suppress_webhooks=1``...).
TRUE_STRINGS = ("1", "true", "yes", "on")


class ApiError(Exception):
    """An error answer of the twin's REST API.

    Args:
        status: HTTP status.
        message: The ``message`` of the JSON body.
        errors: Laravel's ``errors`` map (dotted path -> messages), or ``None`` for a bare message.
    """

    def __init__(
        self, status: int, message: str, errors: Mapping[str, list[str]] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = dict(errors) if errors is not None else None

    def body(self) -> JSON:
        """The JSON body of the answer."""
        out: JSON = {"message": self.message}
        if self.errors is not None:
            out["errors"] = self.errors
        return out


def not_found(what: str, key: object) -> ApiError:
    """404 for an unknown number or id."""
    return ApiError(404, f"{what} {key!s} not found.")


def invalid(errors: Mapping[str, list[str]]) -> ApiError:
    """422 with Laravel's validation envelope."""
    return ApiError(422, INVALID_MESSAGE, errors)


def refused(message: str) -> ApiError:
    """422 for a business rule (no ``errors`` map, like Laravel's ``abort(422, ...)``)."""
    return ApiError(422, message)


def money(value: float | Decimal) -> float:
    """Round to cents, half away from zero, like PHP's ``round($x, 2)``.

    ``repr`` of a float is the shortest string that round-trips, so ``1.005`` rounds to
    ``1.01`` as PHP's pre-rounding does, not to ``1.00`` as binary rounding would.
    """
    dec = value if isinstance(value, Decimal) else Decimal(repr(float(value)))
    return float(dec.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def dec(value: float) -> Decimal:
    """A float as the decimal it was written as (see :func:`money`)."""
    return Decimal(repr(float(value)))


def parse_datetime(value: str, tz: tzinfo, *, end_of_day: bool = False) -> datetime | None:
    """Parse a filter date: ``YYYY-MM-DD HH:MM:SS`` (account time zone) or ISO-8601.

    Args:
        value: The query value.
        tz: The account's time zone, for values without an offset.
        end_of_day: For a bare date, take 23:59:59 instead of midnight (``*_to`` filters).

    Returns:
        An aware datetime, or ``None`` when the value is not a date (a ``+`` that the client
        forgot to percent-encode arrives as a space and lands here).
    """
    text = value.strip()
    if not text:
        return None
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = time(23, 59, 59) if end_of_day else time(0, 0, 0)
            return datetime.combine(day, moment, tzinfo=tz)
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed


def attr_name(path: str) -> str:
    """How Laravel names an attribute in a message: top-level keys lose their underscores."""
    return path if "." in path else path.replace("_", " ")


class Validator:
    """Collects Laravel-style validation messages for one payload.

    Each check returns the cleaned value (or ``None``) and records a message on failure;
    :meth:`check` raises one 422 with every message, as Laravel does.

    Args:
        data: The payload (a JSON object).
        prefix: Dotted path of ``data`` inside the request (``"lines.0."``).
        errors: Shared error map, so nested validators report into one answer.
    """

    def __init__(
        self,
        data: Mapping[str, Any],
        prefix: str = "",
        errors: dict[str, list[str]] | None = None,
    ) -> None:
        self.data = data
        self.prefix = prefix
        self.errors: dict[str, list[str]] = errors if errors is not None else {}

    def path(self, key: str) -> str:
        """The dotted path of ``key`` in the request."""
        return f"{self.prefix}{key}"

    def fail(self, key: str, message: str) -> None:
        """Record a message for ``key`` (``{attr}`` in the message is the attribute name)."""
        full = self.path(key)
        self.errors.setdefault(full, []).append(message.replace("{attr}", attr_name(full)))

    def has(self, key: str) -> bool:
        """Present and not null."""
        return self.data.get(key) is not None

    def sub(self, key: str, data: Mapping[str, Any]) -> Validator:
        """A validator for a nested object, reporting into the same error map."""
        return Validator(data, f"{self.path(key)}.", self.errors)

    def _missing(self, key: str, required: bool) -> bool:
        value = self.data.get(key)
        blank = value is None or (isinstance(value, str) and not value.strip())
        if blank and required:
            self.fail(key, "The {attr} field is required.")
        return blank

    def string(self, key: str, *, required: bool = False, max_len: int = 255) -> str | None:
        """A string (numbers are accepted and turned into strings, as PHP would)."""
        if self._missing(key, required):
            return None
        value = self.data[key]
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            self.fail(key, "The {attr} must be a string.")
            return None
        text = value if isinstance(value, str) else _num_text(value)
        if len(text) > max_len:
            self.fail(key, f"The {{attr}} may not be greater than {max_len} characters.")
            return None
        return text

    def number(
        self,
        key: str,
        *,
        required: bool = False,
        min_value: float | None = None,
        gt: float | None = None,
        max_value: float | None = None,
    ) -> float | None:
        """A number (numeric strings are accepted, as Laravel's ``numeric`` rule does)."""
        return self._numeric(key, to_number, "a number", required=required,
                             min_value=min_value, gt=gt, max_value=max_value)

    def integer(
        self, key: str, *, required: bool = False, min_value: int | None = None
    ) -> int | None:
        """An integer (integral numbers and digit strings are accepted)."""
        return self._numeric(key, to_int, "an integer", required=required, min_value=min_value)

    def _numeric(
        self,
        key: str,
        convert: Callable[[Any], N | None],
        kind: str,
        *,
        required: bool,
        min_value: float | None = None,
        gt: float | None = None,
        max_value: float | None = None,
    ) -> N | None:
        """``key`` as ``convert`` reads it (``kind`` names it in the message), within range."""
        if self._missing(key, required):
            return None
        value = convert(self.data[key])
        if value is None:
            self.fail(key, f"The {{attr}} must be {kind}.")
            return None
        if min_value is not None and value < min_value:
            self.fail(key, f"The {{attr}} must be at least {_num_text(min_value)}.")
            return None
        if gt is not None and value <= gt:
            self.fail(key, f"The {{attr}} must be greater than {_num_text(gt)}.")
            return None
        if max_value is not None and value > max_value:
            self.fail(key, f"The {{attr}} may not be greater than {_num_text(max_value)}.")
            return None
        return value

    def boolean(self, key: str) -> bool | None:
        """``true``/``false`` (and Laravel's accepted ``0``/``1``/``"0"``/``"1"``)."""
        if not self.has(key):
            return None
        value = self.data[key]
        if isinstance(value, bool):
            return value
        if value in (0, 1, "0", "1"):
            return value in (1, "1")
        self.fail(key, "The {attr} field must be true or false.")
        return None

    def day(self, key: str, *, required: bool = False) -> str | None:
        """A date ``YYYY-MM-DD`` (a datetime is cut to its date)."""
        if self._missing(key, required):
            return None
        value = self.data[key]
        if isinstance(value, str):
            try:
                return date.fromisoformat(value[:10]).isoformat()
            except ValueError:
                pass
        self.fail(key, "The {attr} is not a valid date.")
        return None

    def email(self, key: str, *, required: bool = False) -> str | None:
        """An e-mail address (trimmed)."""
        text = self.string(key, required=required)
        if text is not None and not _EMAIL.match(text.strip()):
            self.fail(key, "The {attr} must be a valid email address.")
            return None
        return text.strip() if text is not None else None

    def one_of(self, key: str, options: Iterable[str], *, required: bool = False) -> str | None:
        """A string from a fixed set."""
        text = self.string(key, required=required)
        if text is not None and text not in set(options):
            self.fail(key, "The selected {attr} is invalid.")
            return None
        return text

    def obj(self, key: str) -> Mapping[str, Any] | None:
        """A nested JSON object (or ``None``)."""
        value: Mapping[str, Any] | None = self._php_array(key, Mapping, given=self.has(key))
        return value

    def array(self, key: str, *, required: bool = False) -> list[Any] | None:
        """A JSON array (or ``None``)."""
        value: list[Any] | None = self._php_array(key, list,
                                                  given=not self._missing(key, required))
        return value

    def _php_array(self, key: str, kind: type, *, given: bool) -> Any:
        """Laravel's ``array`` rule, which a JSON object and a JSON array both pass in PHP;
        here each is asked for as its own ``kind``."""
        if not given:
            return None
        value = self.data[key]
        if not isinstance(value, kind):
            self.fail(key, "The {attr} must be an array.")
            return None
        return value

    def check(self) -> None:
        """Raise one 422 with every recorded message.

        Raises:
            ApiError: Something failed.
        """
        if self.errors:
            raise invalid(self.errors)


def to_number(value: Any) -> float | None:
    """A JSON number or numeric string as a float; ``None`` otherwise (booleans are not numbers)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            out = float(value.strip())
        except ValueError:
            return None
        return out if out == out and abs(out) != float("inf") else None
    return None


def to_int(value: Any) -> int | None:
    """An integral JSON number or numeric string as an int; ``None`` otherwise."""
    number = to_number(value)
    if number is None or number != int(number):
        return None
    return int(number)


def _num_text(value: float | int) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def end_of(day: date, tz: tzinfo) -> datetime:
    """The last second of a day."""
    return datetime.combine(day, time(0, 0, 0), tzinfo=tz) + timedelta(days=1, seconds=-1)
