"""The shared transport: retry policy, Retry-After, outcome-unknown, auth, redaction."""

from __future__ import annotations

import random
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
        tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
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
