"""Wiring: build the clients and the store from a :class:`~rackshop.config.Config`.

Everything injectable (session, clock, sleep) has a real default here and a fake one in tests.
The CLI and the sandbox demo both go through :class:`Runtime`, so what the demo exercises is what
users run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests

from rackshop.config import Config, ShopConfig
from rackshop.http import RetryPolicy, Timeouts, Transport, make_session
from rackshop.rackbeat.client import RackbeatClient, RateLimiter
from rackshop.shopify.client import (
    ClientCredentialsToken,
    CostBucket,
    ShopifyClient,
    StaticToken,
    TokenProvider,
    token_url,
)
from rackshop.store import Store


@dataclass
class Runtime:
    """The services one command needs, built lazily from the config.

    Args:
        config: The validated configuration.
        session_factory: Makes the HTTP session for each client (tests inject stubs).
        clock: Monotonic seconds for pacing and token expiry.
        sleep: Sleep for pacing and backoff.
        policy: The retry policy.
    """

    config: Config
    session_factory: Callable[[], requests.Session] = make_session
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    policy: RetryPolicy | None = None
    _rackbeat: RackbeatClient | None = None
    _shopify: dict[str, ShopifyClient] = field(default_factory=dict)
    _store: Store | None = None

    def __post_init__(self) -> None:
        if self.policy is None:
            http = self.config.http
            self.policy = RetryPolicy(attempts=http.attempts, base_delay=http.backoff_seconds,
                                      max_delay=http.max_backoff_seconds)

    @property
    def state_path(self) -> Path:
        """The state store (``state.path``, or the platform default the config filled in)."""
        return self.config.state.path

    def store(self) -> Store:
        """The state store (opened on first use)."""
        if self._store is None:
            self._store = Store(self.state_path)
        return self._store

    def open_store(self, *, create: bool) -> Store | None:
        """The state store, or ``None`` when it does not exist yet and ``create`` is false: a
        dry run, a preview or a read-only command reads what is recorded and creates nothing."""
        if not create and not self.state_path.exists():
            return None
        return self.store()

    def rackbeat(self) -> RackbeatClient:
        """The Rackbeat client, paced by the client-side limiter."""
        if self._rackbeat is None:
            rb = self.config.rackbeat
            limiter = RateLimiter(rb.requests_per_minute, clock=self.clock, sleep=self.sleep)
            transport = Transport(
                "rackbeat",
                self.session_factory(),
                timeouts=Timeouts(read=float(rb.timeout_seconds)),
                policy=self.policy,
                sleep=self.sleep,
                before_send=limiter.acquire,
                session_factory=self.session_factory,
            )
            token = rb.token
            self._rackbeat = RackbeatClient(rb.base_url, token.reveal, transport, limiter=limiter)
            # issue 16: page size and pacing as `check --contract` observed them (if it ran)
            from rackshop.contract.recorded import adapt_rackbeat_client, load_path
            adapt_rackbeat_client(self._rackbeat, load_path(self.state_path))
        return self._rackbeat

    def shopify(self, shop: ShopConfig) -> ShopifyClient:
        """The Shopify client of one shop (one per shop, reused)."""
        if shop.name not in self._shopify:
            transport = Transport(
                "shopify",
                self.session_factory(),
                timeouts=Timeouts(read=float(self.config.rackbeat.timeout_seconds)),
                policy=self.policy,
                sleep=self.sleep,
                session_factory=self.session_factory,
            )
            provider: TokenProvider
            if shop.token is not None:
                provider = StaticToken(shop.token.reveal)
            else:
                assert shop.client_id and shop.client_secret
                base = shop.base_url or f"https://{shop.domain}"
                provider = ClientCredentialsToken(
                    token_url(base), shop.client_id, shop.client_secret.reveal, transport,
                    clock=self.clock,
                )
            self._shopify[shop.name] = ShopifyClient(
                shop.name, shop.graphql_url, provider, transport,
                bucket=CostBucket(self.clock), sleep=self.sleep,
            )
        return self._shopify[shop.name]

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
