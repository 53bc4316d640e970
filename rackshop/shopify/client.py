"""Shopify Admin GraphQL client.

* ``POST {base}/admin/api/{version}/graphql.json`` with ``X-Shopify-Access-Token``.
* **Paces itself** from ``extensions.cost.throttleStatus``: it keeps a model of the shop's leaky
  bucket (:class:`CostBucket`) and, before sending, waits until the bucket will hold the query's
  expected cost, so it rarely meets ``THROTTLED`` at all.
* ``THROTTLED`` (in HTTP 200 or as 429) is retried after ``(requested − available) / restoreRate``
  seconds, through the shared retry policy.
* ``MAX_COST_EXCEEDED`` and other GraphQL errors become typed exceptions; mutation ``userErrors``
  become :class:`~rackshop.errors.ShopifyUserErrors` with field and code.
* Documents are ``.graphql`` files in :mod:`rackshop.shopify.documents`, loaded by name.
* Tokens: a static ``shpat_`` token, or client id + secret (client-credentials grant), refreshed
  before expiry and once more on a 401.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

import requests

from rackshop.errors import (
    ApiContractError,
    AuthError,
    ShopifyUserErrors,
    ThrottledError,
    UserErrorItem,
)
from rackshop.http import Transport
from rackshop.redact import redact
from rackshop.redact import register as register_secret

log = logging.getLogger("rackshop.shopify")

DEFAULT_API_VERSION = "2026-07"
MAX_PAGE_SIZE = 250
MAX_QUERY_COST = 1000


# -- documents -------------------------------------------------------------------------------


_SPREAD_RE = re.compile(r"\.\.\.\s*([A-Z][A-Za-z0-9_]*)")


@cache
def load_fragment(name: str) -> str:
    """Return ``documents/fragments/{name}.graphql`` (one fragment, shared by documents)."""
    try:
        return (resources.files("rackshop.shopify.documents.fragments")
                / f"{name}.graphql").read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ApiContractError(f"no GraphQL fragment named {name!r} in rackshop") from exc


@cache
def load_document(name: str) -> str:
    """Return the text of ``rackshop/shopify/documents/{name}.graphql``, with the shared
    fragments it spreads (``...OrderFields``) appended from ``documents/fragments/``.

    Raises:
        ApiContractError: No such document (a bug: every name used in code must exist).
    """
    try:
        text = (resources.files("rackshop.shopify.documents") / f"{name}.graphql").read_text(
            encoding="utf-8"
        )
    except FileNotFoundError as exc:
        raise ApiContractError(f"no GraphQL document named {name!r} in rackshop") from exc
    included: list[str] = []
    pending = _SPREAD_RE.findall(text)
    while pending:
        frag = pending.pop(0)
        if frag in included or f"fragment {frag} " in text:
            continue
        included.append(frag)
        body = load_fragment(frag)
        pending += _SPREAD_RE.findall(body)
        text += "\n" + body
    return text


def document_names() -> list[str]:
    """Names of every packaged GraphQL document (for tests and ``--debug`` listings)."""
    root = resources.files("rackshop.shopify.documents")
    return sorted(p.name[: -len(".graphql")] for p in root.iterdir()
                  if p.name.endswith(".graphql"))


_OPERATION_RE = re.compile(r"^\s*(query|mutation)\b", re.MULTILINE)


def operation_type(document: str) -> str:
    """``query`` or ``mutation`` (the first operation in the document)."""
    m = _OPERATION_RE.search(document)
    return m.group(1) if m else "query"


# -- throttle model ----------------------------------------------------------------------------


@dataclass
class ThrottleStatus:
    """One reading of Shopify's ``throttleStatus``."""

    maximum: float
    available: float
    restore_rate: float

    @classmethod
    def from_extensions(cls, extensions: Mapping[str, Any] | None) -> ThrottleStatus | None:
        """Read ``extensions.cost.throttleStatus`` (``None`` when absent)."""
        cost = (extensions or {}).get("cost") or {}
        ts = cost.get("throttleStatus") if isinstance(cost, Mapping) else None
        if not isinstance(ts, Mapping):
            return None
        try:
            return cls(
                maximum=float(ts["maximumAvailable"]),
                available=float(ts["currentlyAvailable"]),
                restore_rate=float(ts["restoreRate"]),
            )
        except (KeyError, TypeError, ValueError):
            return None


class CostBucket:
    """The client's model of one shop's leaky bucket, fed by every response.

    Args:
        clock: Monotonic seconds (injectable).
        maximum: Assumed bucket size before the first response (standard plan).
        restore_rate: Assumed points per second before the first response.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        *,
        maximum: float = 2000.0,
        restore_rate: float = 100.0,
    ) -> None:
        self.clock = clock
        self.maximum = maximum
        self.restore_rate = restore_rate
        self.available = maximum
        self.observed_at = clock()
        self.known = False
        self.waited = 0.0
        self.in_flight = 0.0
        """Points reserved by requests sent (or about to be) whose answer has not come back:
        the shop's bucket may have paid them already, the last reading did not show it."""
        self._lock = threading.Lock()

    def projected(self) -> float:
        """Points available now, by the last reading plus the refill since."""
        elapsed = max(0.0, self.clock() - self.observed_at)
        return min(self.maximum, self.available + elapsed * self.restore_rate)

    def wait_for(self, cost: float) -> float:
        """Seconds to wait before a query of ``cost`` points will fit (0 if it fits now)."""
        with self._lock:
            return self._wait(cost)

    def _wait(self, cost: float) -> float:
        need = min(cost, self.maximum) - (self.projected() - self.in_flight)
        return max(0.0, need / self.restore_rate) if need > 0 else 0.0

    def reserve(self, cost: float) -> float:
        """Reserve ``cost`` points for a request; returns the seconds to wait before sending it.

        Several threads share one bucket per shop: each reservation counts against the points
        the next one sees until :meth:`release`, so requests sent side by side never add up to
        more than the bucket holds. Alone (one request at a time) it waits exactly as
        :meth:`wait_for` does.
        """
        with self._lock:
            wait = self._wait(cost)
            self.in_flight += min(cost, self.maximum)
            self.waited += wait
            return wait

    def release(self, cost: float) -> None:
        """The answer to a request of :meth:`reserve` came back (or none will)."""
        with self._lock:
            self.in_flight = max(0.0, self.in_flight - min(cost, self.maximum))

    def observe(self, status: ThrottleStatus) -> None:
        """Record a reading from a response."""
        with self._lock:
            self.maximum = status.maximum
            self.available = status.available
            self.restore_rate = status.restore_rate or self.restore_rate
            self.observed_at = self.clock()
            self.known = True


# -- tokens ------------------------------------------------------------------------------------


class TokenProvider:
    """Supplies the access token for one shop."""

    def get(self) -> str:
        raise NotImplementedError

    def invalidate(self) -> bool:
        """Forget a token the server refused; True if a fresh one can be fetched."""
        return False


class StaticToken(TokenProvider):
    """A ``shpat_`` token from a custom app; it does not expire."""

    def __init__(self, token: Callable[[], str]) -> None:
        self._token = token

    def get(self) -> str:
        return self._token()


class ClientCredentialsToken(TokenProvider):
    """Client-credentials grant: ``POST {shop}/admin/oauth/access_token``; tokens live ~24 h.

    The token is cached and fetched again ``refresh_margin`` seconds before it expires, or once
    after the server refuses it.

    Args:
        token_url: ``https://{shop}.myshopify.com/admin/oauth/access_token``.
        client_id: The app's client id.
        client_secret: Returns the app's client secret.
        transport: The shared transport.
        clock: Wall/monotonic seconds for expiry (injectable).
        refresh_margin: Seconds before expiry at which the token is renewed.
    """

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: Callable[[], str],
        transport: Transport,
        *,
        clock: Callable[[], float] = time.monotonic,
        refresh_margin: float = 300.0,
    ) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self._secret = client_secret
        self.transport = transport
        self.clock = clock
        self.refresh_margin = refresh_margin
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()
        self.fetches = 0

    def get(self) -> str:
        with self._lock:
            if self._token is None or self.clock() >= self._expires_at - self.refresh_margin:
                self._fetch()
            assert self._token is not None
            return self._token

    def invalidate(self) -> bool:
        with self._lock:
            self._token = None
        return True

    def _fetch(self) -> None:
        def classify(resp: requests.Response) -> dict[str, Any]:
            if resp.status_code != 200:
                raise AuthError(
                    f"Shopify refused the client credentials (HTTP {resp.status_code})",
                    hint="check client_id and client_secret, and that the app is installed on "
                    "the shop",
                )
            try:
                body = resp.json()
            except ValueError as exc:
                raise ApiContractError("Shopify's token endpoint did not answer JSON") from exc
            if not isinstance(body, dict) or not body.get("access_token"):
                raise ApiContractError("Shopify's token endpoint answered without access_token")
            return body

        body = self.transport.request(
            "POST",
            self.token_url,
            classify=classify,
            operation="POST /admin/oauth/access_token",
            idempotent=True,  # asking for a token twice is harmless
            data={
                "grant_type": "client_credentials",
                "client_id": self.client_id,
                "client_secret": self._secret(),
            },
        )
        self.fetches += 1
        token = str(body["access_token"])
        register_secret(token)
        self._token = token
        self._expires_at = self.clock() + float(body.get("expires_in") or 86400)


# -- results -----------------------------------------------------------------------------------


@dataclass
class GraphQLResult:
    """A successful GraphQL answer."""

    data: dict[str, Any]
    extensions: dict[str, Any]

    @property
    def requested_cost(self) -> float | None:
        cost = self.extensions.get("cost") or {}
        value = cost.get("requestedQueryCost")
        return float(value) if value is not None else None

    @property
    def actual_cost(self) -> float | None:
        cost = self.extensions.get("cost") or {}
        value = cost.get("actualQueryCost")
        return float(value) if value is not None else None


def parse_user_errors(payload: Mapping[str, Any] | None) -> list[UserErrorItem]:
    """The ``userErrors`` of a mutation payload as typed items (empty when none)."""
    items: list[UserErrorItem] = []
    for err in (payload or {}).get("userErrors") or []:
        field = err.get("field")
        items.append(
            UserErrorItem(
                field=tuple(str(f) for f in field) if field else None,
                message=str(err.get("message", "")),
                code=err.get("code"),
            )
        )
    return items


class ShopifyClient:
    """GraphQL access to one shop.

    Args:
        shop: The shop's name in the config, for messages.
        graphql_url: ``{base}/admin/api/{version}/graphql.json``.
        token: Where the access token comes from.
        transport: The shared HTTP transport.
        bucket: The cost model (inject one with a fake clock in tests).
        sleep: Sleep used for pacing (injectable).
        default_cost: Assumed requested cost of a query never sent before.
    """

    def __init__(
        self,
        shop: str,
        graphql_url: str,
        token: TokenProvider,
        transport: Transport,
        *,
        bucket: CostBucket | None = None,
        sleep: Callable[[float], None] = time.sleep,
        default_cost: float = 50.0,
    ) -> None:
        self.shop = shop
        self.graphql_url = graphql_url
        self.token = token
        self.transport = transport
        self.bucket = bucket or CostBucket()
        self.sleep = sleep
        self.default_cost = default_cost
        self._cost_memory: dict[str, float] = {}
        self.throttled = 0
        """How many THROTTLED answers were seen (should stay 0 when pacing works)."""

    # -- core ------------------------------------------------------------------------------

    def execute(
        self,
        document: str,
        variables: Mapping[str, Any] | None = None,
        *,
        name: str | None = None,
        idempotent: bool | None = None,
    ) -> GraphQLResult:
        """Send a document and return its data.

        Args:
            document: The GraphQL text.
            variables: Its variables.
            name: A name for messages and the cost memory (the document's file name).
            idempotent: Whether a retry after an unknown outcome is harmless. Queries are;
                mutations are only when they carry an ``@idempotent`` key (pass True then).

        Raises:
            ApiContractError: GraphQL errors in the answer (a bug or an API change), including
                MAX_COST_EXCEEDED.
            OutcomeUnknownError: A mutation without idempotency key may have been applied.
        """
        op_type = operation_type(document)
        label = f"{op_type} {name or 'anonymous'}"
        if idempotent is None:
            idempotent = op_type == "query"
        cost_key = name or document
        expected = self._cost_memory.get(cost_key, 10.0 if op_type == "mutation"
                                         else self.default_cost)
        body = {"query": document, "variables": dict(variables or {})}

        def pace() -> None:
            wait = self.bucket.reserve(expected)
            if wait > 0:
                log.debug("%s: pacing %.2fs for %s (cost %.0f)", self.shop, wait, label, expected)
                self.sleep(wait)

        retried_auth = False
        while True:
            pace()
            try:
                result = self.transport.request(
                    "POST",
                    self.graphql_url,
                    classify=lambda resp: self._classify(resp, label),
                    operation=label,
                    idempotent=idempotent,
                    headers={
                        "X-Shopify-Access-Token": self.token.get(),
                        "Content-Type": "application/json",
                    },
                    json=body,
                )
            except AuthError:
                if not retried_auth and self.token.invalidate():
                    retried_auth = True
                    continue
                raise
            finally:
                self.bucket.release(expected)
            break
        if result.requested_cost is not None:
            self._cost_memory[cost_key] = result.requested_cost
        return result

    def _classify(self, resp: requests.Response, label: str) -> GraphQLResult:
        try:
            payload = resp.json()
        except ValueError as exc:
            raise ApiContractError(
                f"Shopify {self.shop}: {label} answered HTTP {resp.status_code} without JSON"
            ) from exc
        if not isinstance(payload, dict):
            raise ApiContractError(f"Shopify {self.shop}: {label} answered a non-object")
        extensions = payload.get("extensions") or {}
        status = ThrottleStatus.from_extensions(extensions)
        if status is not None:
            self.bucket.observe(status)
        errors = payload.get("errors")
        if errors:
            if isinstance(errors, str):
                errors = [{"message": errors}]
            codes = {((e.get("extensions") or {}).get("code")) for e in errors
                     if isinstance(e, dict)}
            if "THROTTLED" in codes:
                self.throttled += 1
                requested = float((extensions.get("cost") or {}).get("requestedQueryCost") or 0)
                wait = None
                if status is not None and status.restore_rate > 0:
                    wait = max(0.0, (requested - status.available) / status.restore_rate)
                raise ThrottledError(f"Shopify {self.shop}: {label} throttled", retry_after=wait)
            messages = "; ".join(
                str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors
            )
            if "MAX_COST_EXCEEDED" in codes:
                raise ApiContractError(
                    f"Shopify {self.shop}: {label} asks for more than {MAX_QUERY_COST} cost "
                    f"points: {messages}",
                    hint="this is a rackshop bug (page sizes too large); please report it",
                )
            if "ACCESS_DENIED" in codes:
                raise AuthError(
                    redact(f"Shopify {self.shop}: {label}: access denied: {messages}"),
                    hint="grant the app the scopes rackshop needs (see the README)",
                )
            raise ApiContractError(redact(f"Shopify {self.shop}: {label} failed: {messages}"))
        if resp.status_code != 200:
            raise ApiContractError(
                f"Shopify {self.shop}: {label} answered HTTP {resp.status_code}"
            )
        data = payload.get("data")
        if not isinstance(data, dict):
            raise ApiContractError(f"Shopify {self.shop}: {label} answered without data")
        return GraphQLResult(data=data, extensions=extensions)

    # -- conveniences ----------------------------------------------------------------------

    def query(self, name: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Run the packaged query document ``name`` and return its ``data``."""
        return self.execute(load_document(name), variables, name=name).data

    def mutate(
        self,
        name: str,
        variables: Mapping[str, Any] | None = None,
        *,
        root: str,
        idempotent: bool = False,
        allow_codes: Sequence[str] = (),
    ) -> dict[str, Any]:
        """Run the packaged mutation ``name`` and return the payload under ``root``.

        Args:
            name: Document name.
            variables: Variables (include the idempotency key when the document takes one).
            root: The mutation field whose payload to return, e.g. ``inventorySetQuantities``.
            idempotent: True when the document carries an ``@idempotent`` key, making retries
                after an unknown outcome safe.
            allow_codes: userError codes to return instead of raising (the caller handles them).

        Raises:
            ShopifyUserErrors: The payload has userErrors (other than ``allow_codes``).
        """
        data = self.execute(load_document(name), variables, name=name, idempotent=idempotent).data
        payload = data.get(root)
        if not isinstance(payload, dict):
            raise ApiContractError(f"Shopify {self.shop}: {name} answered without {root!r}")
        errors = parse_user_errors(payload)
        if errors and not all(e.code in allow_codes for e in errors):
            raise ShopifyUserErrors(root, errors)
        return payload

    def paginate(
        self,
        name: str,
        variables: Mapping[str, Any] | None,
        path: Sequence[str],
        *,
        page_size: int = MAX_PAGE_SIZE,
    ) -> Iterator[dict[str, Any]]:
        """Yield every node of a connection, following ``pageInfo.endCursor``.

        The document must take ``$first: Int!`` and ``$after: String`` and select
        ``pageInfo { hasNextPage endCursor }`` and ``nodes``.

        Args:
            name: Document name.
            variables: Other variables; an ``after`` among them is where reading starts
                (the rest of a connection whose first page came with another query).
            path: Keys from ``data`` to the connection, e.g. ``("products",)``.
            page_size: ``first``, at most 250.

        Raises:
            ApiContractError: The server returned a cursor it had returned before (a loop).
        """
        seen: set[str] = set()
        after: str | None = (variables or {}).get("after")
        if after:
            seen.add(after)
        first = max(1, min(page_size, MAX_PAGE_SIZE))
        while True:
            data = self.query(name, {**(variables or {}), "first": first, "after": after})
            conn: Any = data
            for key in path:
                conn = conn.get(key) if isinstance(conn, dict) else None
            if not isinstance(conn, dict):
                raise ApiContractError(
                    f"Shopify {self.shop}: {name} has no connection at {'.'.join(path)}"
                )
            yield from conn.get("nodes") or [e["node"] for e in conn.get("edges") or []]
            info = conn.get("pageInfo") or {}
            if not info.get("hasNextPage"):
                return
            cursor = info.get("endCursor")
            if not cursor or cursor in seen:
                raise ApiContractError(
                    f"Shopify {self.shop}: {name} returned the cursor {cursor!r} again; "
                    "stopping to avoid an endless loop"
                )
            seen.add(cursor)
            after = cursor


    def changed_since(self, name: str, variables: Mapping[str, Any] | None,
                      path: Sequence[str], since: datetime | None, *,
                      page_size: int = MAX_PAGE_SIZE) -> list[dict[str, Any]]:
        """The nodes changed at or after ``since`` (to the second; every node when ``None``),
        oldest change first, from a connection read by ``sortKey: UPDATED_AT, reverse: true``
        (newest first) until a node changed earlier.

        Such a list is read from the records themselves and shows a write at once; an
        ``updated_at:>=`` search goes through Shopify's search index, which lags a write by
        seconds (docs/sandbox-shopify.md, "Eventual consistency"). The document must select
        ``updatedAt`` on each node.
        """
        cutoff = None if since is None else since.replace(microsecond=0)
        newest_first: list[dict[str, Any]] = []
        for node in self.paginate(name, variables, path, page_size=page_size):
            changed = datetime.fromisoformat(str(node["updatedAt"]).replace("Z", "+00:00"))
            if cutoff is not None and changed < cutoff:
                break
            newest_first.append(node)
        return newest_first[::-1]

def graphql_url(base: str, api_version: str) -> str:
    """``{base}/admin/api/{version}/graphql.json`` for a shop base URL."""
    return f"{base.rstrip('/')}/admin/api/{api_version}/graphql.json"


def token_url(base: str) -> str:
    """The client-credentials token endpoint of a shop base URL."""
    return f"{base.rstrip('/')}/admin/oauth/access_token"
