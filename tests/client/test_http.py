"""The shared transport: retry policy, Retry-After, outcome-unknown, auth, redaction."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
import requests
import responses

from rackshop.errors import (
    ApiUnavailableError,
    AuthError,
    OutcomeUnknownError,
)
from rackshop.http import RetryPolicy, Transport, parse_retry_after
from tests.helpers.fakes import FakeClock

URL = "https://api.example.test/thing"


def transport(clock: FakeClock, attempts: int = 4) -> Transport:
    return Transport("rackbeat", requests.Session(), policy=RetryPolicy(attempts=attempts),
                     sleep=clock.sleep, rng=random.Random(1))


def as_json(resp: requests.Response) -> object:
    return resp.json()


@responses.activate(assert_all_requests_are_fired=True)
def test_get_retries_5xx_then_succeeds() -> None:
    clock = FakeClock()
    responses.get(URL, status=503)
    responses.get(URL, status=500)
    responses.get(URL, json={"ok": True})
    t = transport(clock)
    assert t.request("GET", URL, classify=as_json, operation="GET /thing", idempotent=True) == {
        "ok": True}
    assert t.calls == 3
    assert len(clock.sleeps) == 2
    assert clock.sleeps[1] > clock.sleeps[0]  # exponential backoff


@responses.activate(assert_all_requests_are_fired=True)
def test_429_honours_retry_after() -> None:
    clock = FakeClock()
    responses.get(URL, status=429, headers={"Retry-After": "7"})
    responses.get(URL, json={"ok": 1})
    t = transport(clock)
    t.request("GET", URL, classify=as_json, operation="GET /thing", idempotent=True)
    assert clock.sleeps == [7.0]


@responses.activate(assert_all_requests_are_fired=True)
def test_429_without_retry_after_waits_at_least_the_throttle_minimum() -> None:
    clock = FakeClock()
    responses.get(URL, status=429)
    responses.get(URL, json={})
    t = Transport("rackbeat", requests.Session(),
                  policy=RetryPolicy(attempts=3, base_delay=0.1, min_throttle_delay=5.0),
                  sleep=clock.sleep, rng=random.Random(1))
    t.request("GET", URL, classify=as_json, operation="GET /thing", idempotent=True)
    assert clock.sleeps[0] >= 5.0


@responses.activate(assert_all_requests_are_fired=True)
def test_create_with_502_is_outcome_unknown_and_not_retried() -> None:
    clock = FakeClock()
    responses.post(URL, status=502)
    t = transport(clock)
    with pytest.raises(OutcomeUnknownError) as info:
        t.request("POST", URL, classify=as_json, operation="POST /orders/drafts",
                  idempotent=False, json={"a": 1})
    assert t.calls == 1 and clock.sleeps == []
    assert "POST /orders/drafts" in str(info.value)


@responses.activate(assert_all_requests_are_fired=True)
def test_create_with_read_timeout_is_outcome_unknown() -> None:
    clock = FakeClock()
    responses.post(URL, body=requests.exceptions.ReadTimeout("read timed out"))
    t = transport(clock)
    with pytest.raises(OutcomeUnknownError):
        t.request("POST", URL, classify=as_json, operation="POST /x", idempotent=False)
    assert t.calls == 1


@responses.activate(assert_all_requests_are_fired=True)
def test_create_refused_with_503_or_429_is_retried() -> None:
    """503 and 429 mean the server did not act: safe to send the create again."""
    clock = FakeClock()
    responses.post(URL, status=503)
    responses.post(URL, status=429, headers={"Retry-After": "1"})
    responses.post(URL, status=201, json={"id": 5})
    t = transport(clock)
    assert t.request("POST", URL, classify=as_json, operation="POST /x", idempotent=False) == {
        "id": 5}
    assert t.calls == 3


@responses.activate(assert_all_requests_are_fired=True)
def test_connection_refused_on_create_is_retried() -> None:
    clock = FakeClock()
    responses.post(URL, body=requests.exceptions.ConnectionError(
        "HTTPConnectionPool: NewConnectionError: Connection refused"))
    responses.post(URL, json={"id": 1})
    t = transport(clock)
    assert t.request("POST", URL, classify=as_json, operation="POST /x", idempotent=False) == {
        "id": 1}


@responses.activate(assert_all_requests_are_fired=True)
def test_dropped_connection_on_create_is_outcome_unknown() -> None:
    clock = FakeClock()
    responses.post(URL, body=requests.exceptions.ConnectionError(
        "('Connection aborted.', RemoteDisconnected('Remote end closed connection'))"))
    t = transport(clock)
    with pytest.raises(OutcomeUnknownError):
        t.request("POST", URL, classify=as_json, operation="POST /x", idempotent=False)


@responses.activate(assert_all_requests_are_fired=True)
def test_retries_exhausted_become_api_unavailable() -> None:
    clock = FakeClock()
    for _ in range(3):
        responses.get(URL, status=500)
    t = transport(clock, attempts=3)
    with pytest.raises(ApiUnavailableError) as info:
        t.request("GET", URL, classify=as_json, operation="GET /thing", idempotent=True)
    assert "3 attempts" in str(info.value)
    assert t.calls == 3


@responses.activate(assert_all_requests_are_fired=True)
def test_401_is_auth_error_without_retry() -> None:
    clock = FakeClock()
    responses.get(URL, status=401)
    t = transport(clock)
    with pytest.raises(AuthError):
        t.request("GET", URL, classify=as_json, operation="GET /thing", idempotent=True)
    assert t.calls == 1


def test_retry_after_parsing() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after(None) is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") is None


def test_session_reads_the_proxy_environment_once_per_host_and_still_honours_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from rackshop.http import make_session

    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example.test:3128")
    monkeypatch.setenv("NO_PROXY", "bypass.example.test")
    reads: list[str] = []
    real = requests.utils.get_environ_proxies

    def counting(url: str, no_proxy: object = None) -> dict[str, str]:
        reads.append(url)
        return real(url, no_proxy=no_proxy)  # type: ignore[arg-type]

    monkeypatch.setattr(requests.sessions, "get_environ_proxies", counting)
    session = make_session()
    for _ in range(5):
        settings = session.merge_environment_settings(URL, {}, False, None, None)
        assert settings["proxies"]["https"] == "http://proxy.example.test:3128"
        settings["proxies"].clear()  # a caller changing its copy changes nothing kept
    bypass = session.merge_environment_settings(
        "https://bypass.example.test/x", {}, False, None, None)
    assert "https" not in bypass["proxies"]
    assert reads == [URL, "https://bypass.example.test/x"]


def test_session_keeps_honouring_the_ca_bundle_environment_it_reads_once(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from rackshop.http import make_session

    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n", encoding="ascii")
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    session = make_session()
    for _ in range(3):
        assert session.merge_environment_settings(URL, {}, False, None, None)["verify"] == \
            str(bundle)
    # an explicit choice of the caller still wins over the environment
    assert session.merge_environment_settings(URL, {}, False, False, None)["verify"] is False
    # and a session made without the variable verifies with the default bundle
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    assert make_session().merge_environment_settings(URL, {}, False, None, None)["verify"] \
        is True


def test_each_further_thread_sends_on_a_session_of_its_own() -> None:
    import threading

    made: list[requests.Session] = []

    def factory() -> requests.Session:
        made.append(requests.Session())
        return made[-1]

    main = requests.Session()
    transport = Transport("rackbeat", main, session_factory=factory)
    used: list[requests.Session] = []
    worker = threading.Thread(target=lambda: used.extend([transport._session(),
                                                          transport._session()]))
    worker.start()
    worker.join()
    assert transport._session() is main
    assert len(made) == 1 and used == [made[0], made[0]]


@responses.activate(assert_all_requests_are_fired=True)
def test_a_netrc_entry_for_the_host_neither_replaces_the_token_nor_is_read_per_request(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rackshop.http import make_session

    netrc = tmp_path / "netrc"
    netrc.write_text("machine api.example.test login someone password other\n",
                     encoding="utf-8")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    lookups: list[str] = []
    real = requests.sessions.get_netrc_auth

    def counting(url: str, raise_errors: bool = False) -> object:
        lookups.append(url)
        return real(url, raise_errors)

    monkeypatch.setattr(requests.sessions, "get_netrc_auth", counting)
    for _ in range(3):
        responses.get(URL, json={"ok": True})
    t = Transport("rackbeat", make_session(), policy=RetryPolicy(attempts=1))
    for _ in range(3):
        t.request("GET", URL, classify=as_json, operation="GET /thing", idempotent=True,
                  headers={"Authorization": "Bearer the-token"})
    assert [c.request.headers["Authorization"] for c in responses.calls] == \
        ["Bearer the-token"] * 3
    assert lookups == []


@responses.activate(assert_all_requests_are_fired=True)
def test_a_redirect_to_another_host_carries_no_token_and_no_netrc_login(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """requests strips only Authorization on a redirect to another host: Shopify's token went
    along (review of 7a4f00b); on a same-host redirect a ~/.netrc login replaced the token."""
    from rackshop.http import make_session

    netrc = tmp_path / "netrc"
    netrc.write_text("machine a.example login user password pw\n", encoding="utf-8")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    responses.get("https://a.example/s", status=302, headers={"Location": "https://a.example/t"})
    responses.get("https://a.example/t", status=302, headers={"Location": "https://b.example/u"})
    responses.get("https://b.example/u", json={})
    session = make_session()
    session.get("https://a.example/s", headers={"X-Shopify-Access-Token": "shpat_T",
                                                 "Authorization": "Bearer rb_T"})
    same, other = responses.calls[1].request.headers, responses.calls[2].request.headers
    assert same.get("Authorization") == "Bearer rb_T"  # not the netrc login
    assert same.get("X-Shopify-Access-Token") == "shpat_T"
    assert "Authorization" not in other and "X-Shopify-Access-Token" not in other


_SHAPES = [
    ("GET", "https://api.example.test/orders", {
        "params": {"page": 2, "limit": 250, "filter[number]": "æ ø/1"},
        "headers": {"Authorization": "Bearer rb_T"}}),
    ("GET", "https://api.example.test/products/A%2FB?fields=number", {"params": {"page": 1}}),
    ("POST", "https://shop.example.test/admin/api/2025-07/graphql.json", {
        "json": {"query": "q", "variables": {"a": [1, "ø"], "b": None}},
        "headers": {"X-Shopify-Access-Token": "shpat_T", "Content-Type": "application/json"}}),
    ("POST", "https://api.example.test/orders/1001/book", {"json": {"mail": {"send": False}}}),
    ("POST", "https://api.example.test/orders/1001/book", {}),
    ("PUT", "https://api.example.test/orders/1001", {
        "json": {}, "headers": {"Content-Type": "application/json; charset=utf-8"}}),
    ("DELETE", "https://api.example.test/orders/1001", {"headers": {"Accept": None}}),
]


@pytest.mark.parametrize(("method", "url", "kwargs"), _SHAPES,
                         ids=[f"{m} {u.split('/', 3)[3]}" for m, u, _ in _SHAPES])
@responses.activate
def test_the_lean_request_sends_exactly_what_requests_own_path_sends(
        method: str, url: str, kwargs: dict[str, object],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The clients' requests are prepared by rackshop (issue 14: requests' generic preparing
    was a tenth of a pass's CPU); what goes on the wire must not change."""
    from rackshop.http import make_session

    responses.add(method, re.compile(r"https://.*"), json={"ok": True})
    session = make_session()
    prepared: list[object] = []
    real = requests.Session.prepare_request
    def counting(self: requests.Session, req: requests.Request) -> requests.PreparedRequest:
        prepared.append(req)
        return real(self, req)

    monkeypatch.setattr(requests.Session, "prepare_request", counting)
    lean = session.request(method, url, timeout=(1, 2), stream=False, **kwargs)  # type: ignore[arg-type]
    assert prepared == []  # the lean path was taken
    own = requests.Session.request(session, method, url, timeout=(1, 2), stream=False,
                                   **kwargs)  # type: ignore[arg-type]
    assert len(prepared) == 1
    a, b = responses.calls[0].request, responses.calls[1].request
    assert (a.method, a.url, dict(a.headers), a.body) == \
        (b.method, b.url, dict(b.headers), b.body)
    assert lean.json() == own.json() == {"ok": True}


def test_the_adapter_picks_a_hosts_pool_once_and_closes_what_it_kept(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from rackshop.http import _Adapter

    picks: list[str] = []
    real = requests.adapters.HTTPAdapter.get_connection_with_tls_context

    def counting(self: requests.adapters.HTTPAdapter, request: requests.PreparedRequest,
                 verify: object, proxies: object = None, cert: object = None) -> object:
        picks.append(str(request.url))
        return real(self, request, verify, proxies, cert)  # type: ignore[arg-type]

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "get_connection_with_tls_context",
                        counting)

    def prep(url: str) -> requests.PreparedRequest:
        p = requests.PreparedRequest()
        p.prepare(method="GET", url=url)
        return p

    adapter = _Adapter()
    pool = adapter.get_connection_with_tls_context(prep("https://a.example/x"), True)
    for _ in range(3):
        assert adapter.get_connection_with_tls_context(prep("https://a.example/y?z=1"),
                                                       True) is pool
    other = adapter.get_connection_with_tls_context(prep("https://b.example/x"), True)
    unverified = adapter.get_connection_with_tls_context(prep("https://a.example/x"), False)
    assert len({id(pool), id(other), id(unverified)}) == 3
    assert len(picks) == 3
    adapter.poolmanager.clear()  # urllib3 lets go of its pools (it keeps 10)
    assert adapter.get_connection_with_tls_context(prep("https://a.example/x"), True) is pool
    assert len(picks) == 3  # the kept pool still serves
    adapter.close()
    assert pool.pool is None  # closed with the adapter
    again = adapter.get_connection_with_tls_context(prep("https://a.example/x"), True)
    assert again is not pool and len(picks) == 4
    # through a proxy, requests' own choice each time
    proxies = {"https": "http://proxy.example.test:3128"}
    for _ in range(2):
        via = adapter.get_connection_with_tls_context(prep("https://a.example/x"), True,
                                                      proxies=proxies)
        assert via.proxy is not None and via.proxy.host == "proxy.example.test"
    assert len(picks) == 6


@responses.activate(assert_all_requests_are_fired=True)
def test_a_transport_request_follows_a_redirect_without_the_token_to_another_host() -> None:
    from rackshop.http import make_session

    responses.get(URL, status=301, headers={"Location": "https://elsewhere.example/thing"})
    responses.get("https://elsewhere.example/thing", json={"moved": True})
    t = Transport("shopify", make_session(), policy=RetryPolicy(attempts=1))
    assert t.request("GET", URL, classify=as_json, operation="GET /thing", idempotent=True,
                     headers={"X-Shopify-Access-Token": "shpat_T"}) == {"moved": True}
    first, second = (c.request.headers for c in responses.calls)
    assert first["X-Shopify-Access-Token"] == "shpat_T"
    assert "X-Shopify-Access-Token" not in second
