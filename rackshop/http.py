"""One HTTP transport for both APIs: session factory, timeouts, the retry policy, redaction.

The retry policy is declared once (:class:`RetryPolicy`) and applied by :class:`Transport`:

* connection errors before anything was sent, timeouts on reads, HTTP 429 and 5xx are retried
  with exponential backoff and jitter, honouring ``Retry-After``, for a bounded number of attempts,
  with a log line per retry;
* a **write whose outcome is unknown** (the request may have reached the server: a read timeout,
  a dropped connection after sending, or 500/502/504 after a POST that creates something) is NOT
  retried: it raises :class:`~rackshop.errors.OutcomeUnknownError`, which the caller settles by
  reading (the order journal, the idempotency key). A write that the server visibly refused
  without acting (429, 503, connection refused) is retried like a read;
* when retries run out, :class:`~rackshop.errors.ApiUnavailableError` stops the run.

Each client passes a *classifier* that turns a response into a value or raises from the error tree;
raising :class:`~rackshop.errors.RetryableError` from it retries (that is how Shopify's
``THROTTLED`` inside HTTP 200 is retried). Everything logged or raised goes through
:func:`rackshop.redact.redact`, so no token leaves the process.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from requests.cookies import RequestsCookieJar
from requests.hooks import default_hooks
from requests.structures import CaseInsensitiveDict

from rackshop import __version__
from rackshop.errors import (
    ApiUnavailableError,
    AuthError,
    OutcomeUnknownError,
    RetryableError,
    ThrottledError,
    TransientServerError,
)
from rackshop.redact import redact

log = logging.getLogger("rackshop.http")

T = TypeVar("T")

USER_AGENT = f"rackshop/{__version__} (+https://pypi.org/project/rackshop/)"

#: Statuses after which a non-idempotent write may or may not have been applied.
_UNKNOWN_OUTCOME_STATUSES = frozenset({500, 502, 504})


#: The headers that carry a credential (Rackbeat's bearer token, Shopify's access token).
_CREDENTIAL_HEADERS = ("Authorization", "X-Shopify-Access-Token")


#: The arguments of a request the lean path of :meth:`_Session.request` prepares itself.
_LEAN_ARGUMENTS = frozenset({"params", "headers", "json", "data", "timeout", "stream"})


class _HeadersOnly(requests.auth.AuthBase):
    """The session's auth: the ``Authorization`` header each client sets, as it is."""

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        return r


class _Adapter(requests.adapters.HTTPAdapter):
    """``requests``' adapter, keeping the connection pool it picks for each host and TLS setting.

    ``requests`` works the pool out afresh for every request (the URL parsed four times, the
    pool key built, the proxy looked up): a sixth of a request's CPU (issue 14). Requests that
    go through a proxy take ``requests``' own way. A kept pool stays usable when urllib3's pool
    manager lets go of it (urllib3 2 does not close the pools it drops); :meth:`close` closes
    them all.
    """

    def __init__(self) -> None:
        super().__init__()
        self._pools: dict[tuple[Any, ...], Any] = {}

    def get_connection_with_tls_context(self, request: requests.PreparedRequest, verify: Any,
                                        proxies: Any = None, cert: Any = None) -> Any:
        if proxies:
            return super().get_connection_with_tls_context(request, verify, proxies, cert)
        parts = urlsplit(str(request.url))
        try:
            key: tuple[Any, ...] | None = (parts.scheme.lower(), parts.netloc.lower(), verify,
                                           cert)
            hash(key)
        except TypeError:
            key = None
        pool = self._pools.get(key) if key is not None else None
        if pool is None:
            pool = super().get_connection_with_tls_context(request, verify, proxies, cert)
            if key is not None and len(self._pools) < 64:
                self._pools[key] = pool
        return pool

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
        super().close()


class _Session(requests.Session):
    """A session that reads the proxy and CA-bundle environment once per host and mode.

    ``requests`` walks the whole environment (``getproxies``) on every request: a tenth of a
    quiet pass's time. The environment does not change while a job runs, so the merged settings
    are kept per (scheme, host, stream, verify, cert, proxies) and handed out as copies.

    Its ``auth`` leaves the ``Authorization`` header the clients set alone: without one,
    ``requests`` looks for a ``~/.netrc`` entry for the host on every request (a few file
    lookups each) and, when one exists, sends its login as Basic auth *instead of* the token.
    """

    def __init__(self) -> None:
        super().__init__()
        self.auth = _HeadersOnly()
        self.mount("https://", _Adapter())
        self.mount("http://", _Adapter())
        self._env_settings: dict[tuple[Any, ...], Any] = {}
        self._urls: dict[Any, str] = {}

    def rebuild_auth(self, prepared_request: requests.PreparedRequest,
                     response: requests.Response) -> None:
        """On a redirect: to another host, no credential goes along (``requests`` drops only
        ``Authorization``, not Shopify's ``X-Shopify-Access-Token``); and never a ``~/.netrc``
        login in place of the token (``requests`` looks one up on every redirect)."""
        if self.should_strip_auth(  # type: ignore[no-untyped-call]
                str(response.request.url), str(prepared_request.url)):
            for name in _CREDENTIAL_HEADERS:
                prepared_request.headers.pop(name, None)

    def request(self, method: str | bytes, url: str | bytes,
                *args: Any, **kwargs: Any) -> requests.Response:
        """``requests``' request, with the per-request layer the clients never use left out.

        The clients send JSON bodies, plain headers, a timeout and at most a flat query: for
        those, the request is prepared here (the URL prepared by ``requests`` once and kept;
        headers merged; the JSON body encoded as ``requests`` encodes it) and handed to the
        adapter, redirects followed as ``requests`` follows them. Left out: cookies (an API
        client keeps none), hooks (none are set) and ``requests``' generic merging of every
        argument, about a tenth of a pass's CPU (issue 14). Anything else takes ``requests``'
        own path.
        """
        if args or not set(kwargs) <= _LEAN_ARGUMENTS or not isinstance(method, str) \
                or not isinstance(url, str) or kwargs.get("data") is not None:
            return super().request(method, url, *args, **kwargs)
        prep = requests.PreparedRequest()
        prep.method = method.upper()
        prep.url = self._prepared_url(url, kwargs.get("params"))
        headers: CaseInsensitiveDict[str] = CaseInsensitiveDict(
            {k: v if isinstance(v, str) else v.decode("latin-1")
             for k, v in self.headers.items()})
        for name, value in (kwargs.get("headers") or {}).items():
            if value is None:
                headers.pop(name, None)
            else:
                headers[name] = value
        prep.headers = headers
        prep._cookies = RequestsCookieJar()  # type: ignore[attr-defined]
        prep.hooks = default_hooks()
        body = kwargs.get("json")
        if body is not None:
            prep.body = json.dumps(body, allow_nan=False).encode("utf-8")
            headers.setdefault("Content-Type", "application/json")
            headers["Content-Length"] = str(len(prep.body))
        else:
            prep.body = None
            if prep.method not in ("GET", "HEAD"):
                headers.setdefault("Content-Length", "0")
        stream = bool(kwargs.get("stream"))
        settings = self.merge_environment_settings(prep.url, {}, stream, None, None)
        send = {"timeout": kwargs.get("timeout"), **settings}
        response = self.get_adapter(prep.url).send(prep, **send)
        history = list(self.resolve_redirects(response, prep, **send))
        if history:
            history.insert(0, response)
            response = history.pop()
            response.history = history
        if not stream:
            response.content  # noqa: B018 - read the body now, as requests does
        return response

    def _prepared_url(self, url: str, params: Mapping[str, Any] | None) -> str:
        """``url`` with ``params``, as ``requests`` prepares it (quoting, IDNA), kept per URL."""
        try:
            key: Any = (url, tuple(params.items()) if params else ())
            hash(key)
        except TypeError:
            key = None
        prepared = self._urls.get(key) if key is not None else None
        if prepared is None:
            scratch = requests.PreparedRequest()
            scratch.prepare_url(url, params)
            prepared = str(scratch.url)
            if key is not None:
                if len(self._urls) >= 1024:
                    self._urls.clear()
                self._urls[key] = prepared
        return prepared

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any,
                                   cert: Any) -> Any:
        parts = urlsplit(str(url))
        key = (parts.scheme, parts.netloc, stream, verify, str(cert),
               tuple(sorted((proxies or {}).items())))
        settings = self._env_settings.get(key)
        if settings is None:
            settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
            if len(self._env_settings) < 64:
                self._env_settings[key] = settings
        return {k: dict(v) if isinstance(v, dict) else v for k, v in settings.items()}


def make_session(*, user_agent: str = USER_AGENT, headers: Mapping[str, str] | None = None
                 ) -> requests.Session:
    """Create a :class:`requests.Session` with rackshop's User-Agent and JSON headers.

    Args:
        user_agent: The ``User-Agent`` sent with every request.
        headers: Extra default headers (never put tokens here; clients add them per request so
            they can be refreshed).
    """
    session = _Session()
    session.headers.update({"User-Agent": user_agent, "Accept": "application/json"})
    if headers:
        session.headers.update(headers)
    return session


@dataclass(frozen=True)
class RetryPolicy:
    """How transient failures are retried.

    Attributes:
        attempts: Total attempts per request, the first included.
        base_delay: First backoff in seconds; doubles each attempt.
        max_delay: Cap of one backoff (and of an honoured ``Retry-After``).
        jitter: Up to this fraction of the delay is added at random, so parallel runs spread out.
        min_throttle_delay: Least wait after a 429 without ``Retry-After`` (Rackbeat sends none).
    """

    attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 60.0
    jitter: float = 0.25
    min_throttle_delay: float = 1.0

    def delay(self, attempt: int, exc: BaseException | None, rng: random.Random) -> float:
        """Seconds to wait before attempt ``attempt + 1``."""
        backoff = min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))
        if isinstance(exc, RetryableError) and exc.retry_after is not None:
            return min(self.max_delay, max(exc.retry_after, 0.0))
        if isinstance(exc, ThrottledError):
            backoff = max(backoff, self.min_throttle_delay)
        return backoff * (1 + self.jitter * rng.random())


@dataclass(frozen=True)
class Timeouts:
    """Connect and read timeouts in seconds."""

    connect: float = 10.0
    read: float = 30.0


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds form; HTTP dates are ignored)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


class Transport:
    """Sends requests with the retry policy and the outcome-unknown rule.

    Args:
        api: ``shopify`` or ``rackbeat``, for messages.
        session: The requests session (inject a stubbed one in tests).
        timeouts: Connect/read timeouts.
        policy: The retry policy.
        sleep: Injected sleep (tests pass a recorder; nothing really sleeps).
        rng: Random source for jitter.
        before_send: Called before every attempt (rate limiters hook in here).
        session_factory: Makes the session of each further thread that sends through this
            transport (a worker of a pool); without it every thread shares ``session``.
    """

    def __init__(
        self,
        api: str,
        session: requests.Session | None = None,
        *,
        timeouts: Timeouts | None = None,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        before_send: Callable[[], None] | None = None,
        session_factory: Callable[[], requests.Session] | None = None,
    ) -> None:
        self.api = api
        self.session = session or make_session()
        self.session_factory = session_factory
        self._owner = threading.get_ident()
        self._thread = threading.local()
        self._count_lock = threading.Lock()
        self.timeouts = timeouts or Timeouts()
        self.policy = policy or RetryPolicy()
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.before_send = before_send
        self.calls = 0
        """Requests actually sent (attempts included), for counting in tests and benchmarks."""
        self.retries = 0

    def request(
        self,
        method: str,
        url: str,
        *,
        classify: Callable[[requests.Response], T],
        operation: str,
        idempotent: bool,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        data: Any = None,
        params: Mapping[str, Any] | None = None,
        stream: bool = False,
    ) -> T:
        """Send a request, retrying per the policy, and classify the answer.

        Args:
            method: HTTP method.
            url: Full URL.
            classify: Turns a response into the result, or raises from the error tree.
            operation: A short name for messages, e.g. ``POST /orders/drafts``.
            idempotent: Whether repeating the request is harmless (reads, PUTs, writes carrying an
                idempotency key). If false, an unknown outcome raises OutcomeUnknownError.
            headers: Per-request headers (auth goes here).
            json: JSON body.
            data: Form body.
            params: Query parameters.
            stream: Leave the body unread for ``classify`` to stream (large downloads). A
                connection that breaks while ``classify`` reads is retried like any other.

        Returns:
            Whatever ``classify`` returns.

        Raises:
            OutcomeUnknownError: A non-idempotent write may have been applied.
            ApiUnavailableError: Retries exhausted, or the host cannot be reached.
            AuthError: 401/403.
            RackshopError: Whatever ``classify`` raises that is not retryable.
        """

        def attempt() -> T:
            if self.before_send:
                self.before_send()
            with self._count_lock:
                self.calls += 1
            resp = self._send(method, url, operation=operation, idempotent=idempotent,
                              headers=headers, json=json, data=data, params=params,
                              stream=stream)
            try:
                return self._classify(resp, classify, operation, idempotent)
            except requests.exceptions.RequestException as exc:
                # a streamed body that breaks off while being read
                raise TransientServerError(f"{operation}: {_short(exc)}") from exc
            finally:
                resp.close()

        # A plain loop, not a retrying library's: this runs for every request of a pass, and
        # the library's per-call machinery cost about a tenth of a pass's CPU (issue 14).
        attempts = max(1, self.policy.attempts)
        for number in range(1, attempts + 1):
            try:
                return attempt()
            except RetryableError as exc:
                if number >= attempts:
                    raise ApiUnavailableError(
                        redact(f"{self.api}: {operation} still failing after "
                               f"{attempts} attempts: {exc}"),
                        hint=f"check that {self.api} is reachable and not down; rerun later — "
                        "everything done so far is recorded",
                    ) from exc
                wait = self.policy.delay(number, exc, self.rng)
                self._log_retry(number, exc, wait, operation)
                self.sleep(wait)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _send(self, method: str, url: str, *, operation: str, idempotent: bool,
              headers: Mapping[str, str] | None, json: Any, data: Any,
              params: Mapping[str, Any] | None, stream: bool) -> requests.Response:
        """One request; a failure to get an answer raised as retryable, or as an unknown
        outcome when a non-idempotent write may have reached the server."""
        try:
            return self._session().request(
                method,
                url,
                headers=dict(headers or {}),
                json=json,
                data=data,
                params=params,
                timeout=(self.timeouts.connect, self.timeouts.read),
                stream=stream,
            )
        except requests.exceptions.ConnectTimeout as exc:
            # Nothing reached the server: safe to retry even for writes.
            raise TransientServerError(f"{operation}: connect timeout ({_short(exc)})") from exc
        except requests.exceptions.ReadTimeout as exc:
            if not idempotent:
                raise OutcomeUnknownError(operation, "read timeout") from exc
            raise TransientServerError(f"{operation}: read timeout") from exc
        except requests.exceptions.ConnectionError as exc:
            if not idempotent and not _never_sent(exc):
                raise OutcomeUnknownError(operation, "connection dropped") from exc
            raise TransientServerError(f"{operation}: connection error ({_short(exc)})") from exc

    def _session(self) -> requests.Session:
        """The calling thread's session: ``session`` for the thread that made the transport,
        one of its own (from ``session_factory``) for each other thread. A session keeps a
        small connection pool and a cookie jar that are not meant to be shared by threads."""
        if self.session_factory is None or threading.get_ident() == self._owner:
            return self.session
        own: requests.Session | None = getattr(self._thread, "session", None)
        if own is None:
            own = self._thread.session = self.session_factory()
        return own

    def _classify(
        self,
        resp: requests.Response,
        classify: Callable[[requests.Response], T],
        operation: str,
        idempotent: bool,
    ) -> T:
        status = resp.status_code
        if status == 429:
            raise ThrottledError(
                f"{operation}: HTTP 429 (rate limited)",
                retry_after=parse_retry_after(resp.headers.get("Retry-After")),
            )
        if status in (401, 403):
            raise AuthError(
                redact(f"{self.api} refused the credentials for {operation} (HTTP {status})"),
                hint=_AUTH_HINTS.get(self.api),
                api=self.api,
            )
        if status >= 500:
            if not idempotent and status in _UNKNOWN_OUTCOME_STATUSES:
                raise OutcomeUnknownError(operation, f"HTTP {status}")
            raise TransientServerError(
                f"{operation}: HTTP {status}",
                retry_after=parse_retry_after(resp.headers.get("Retry-After")),
            )
        return classify(resp)

    def _log_retry(self, number: int, exc: BaseException, wait: float, operation: str) -> None:
        with self._count_lock:
            self.retries += 1
        log.warning(
            redact(
                f"{self.api}: {operation} failed ({exc}); retry {number}/"
                f"{self.policy.attempts - 1} in {wait:.1f}s"
            )
        )


_AUTH_HINTS = {
    "shopify": "check the shop's token (or client_id/client_secret) and the app's API scopes",
    "rackbeat": "check rackbeat.token: create a new API key in Rackbeat under "
    "Company settings -> API",
}


def _never_sent(exc: requests.exceptions.ConnectionError) -> bool:
    """True when the connection failed before the request could have been sent."""
    text = str(exc)
    return any(
        marker in text
        for marker in ("NewConnectionError", "Connection refused", "Name or service not known",
                       "Failed to resolve", "nodename nor servname")
    )


def _short(exc: BaseException) -> str:
    text = str(exc)
    return redact(text if len(text) < 200 else text[:200] + "…")
