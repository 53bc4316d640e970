"""The Shopify probes of ``check --contract``, per shop: granted scopes, bulk operations, webhook
topics, locations and the plan's rate.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import requests

from rackshop.config import Config, ShopConfig
from rackshop.contract.report import (
    CANNOT_TELL,
    JOB_SCOPES,
    LISTEN,
    OK,
    ORDERS,
    PLAN_RATES,
    PRODUCTS,
    RACKBEAT_MASTER_SCOPES,
    STOCK,
    ContractReport,
    Probe,
    cannot_run,
    shop_jobs,
    using,
)

SCOPES_QUERY = "query ContractScopes { currentAppInstallation { accessScopes { handle } } }"

BULK_QUERY = "query ContractBulk { bulkOperations(first: 1) { nodes { id status } } }"

TOPICS_QUERY = 'query ContractTopics { __type(name: "WebhookSubscriptionTopic") ' \
    "{ enumValues { name } } }"

LOCATIONS_QUERY = "query ContractLocations { locations(first: 250, includeInactive: true) " \
    "{ nodes { id name isActive } } }"


@dataclass(frozen=True)
class GraphQLAnswer:
    status: int
    headers: Mapping[str, str]
    data: dict[str, Any]
    errors: list[str]
    extensions: dict[str, Any]


class ShopifyProber:
    """Raw GraphQL calls to one shop that return errors instead of raising them."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.calls = 0

    def query(self, document: str) -> GraphQLAnswer:
        self.calls += 1

        def classify(resp: requests.Response) -> GraphQLAnswer:
            try:
                payload = resp.json()
            except ValueError:
                payload = {}
            if not isinstance(payload, dict):
                payload = {}
            raw = payload.get("errors") or []
            if isinstance(raw, str):
                raw = [raw]
            errors = [str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in raw]
            return GraphQLAnswer(resp.status_code, dict(resp.headers),
                                 payload.get("data") or {}, errors,
                                 payload.get("extensions") or {})

        return self.client.transport.request(  # type: ignore[no-any-return]
            "POST", self.client.graphql_url, classify=classify,
            operation="contract query", idempotent=True,
            headers={"X-Shopify-Access-Token": self.client.token.get(),
                     "Content-Type": "application/json"},
            json={"query": document, "variables": {}})


def granted_covers(granted: Iterable[str], needed: Iterable[str]) -> list[str]:
    """The needed scopes not granted (``write_x`` grants ``read_x``; pure)."""
    have = set(granted)
    have |= {"read_" + s.removeprefix("write_") for s in have if s.startswith("write_")}
    return sorted(s for s in needed if s not in have)


def needed_scopes(shop: ShopConfig, job: str) -> tuple[str, ...]:
    scopes = JOB_SCOPES.get(job, ())
    if job == PRODUCTS and shop.products.master == "rackbeat":
        scopes = (*scopes, *RACKBEAT_MASTER_SCOPES)
    return tuple(dict.fromkeys(scopes))


def pacing(size: float, rate: float) -> str:
    """What a bucket means for rackshop's pace (pure)."""
    if rate <= 0:
        return "no restore rate"
    return (f"bucket {size:g}, restores {rate:g}/s: a 1,000-point page every "
            f"{1000 / rate:.1f} s once the bucket is spent")


def probe_shop(prober: ShopifyProber, shop: ShopConfig, config: Config,
               report: ContractReport) -> None:
    """Every Shopify probe of one shop (reads only)."""
    api = f"shopify {shop.name}"
    jobs = tuple(shop_jobs(shop)) or (ORDERS,)
    first = prober.query(SCOPES_QUERY)
    served = next((v for k, v in first.headers.items() if k.lower() == "x-shopify-api-version"),
                  None)
    report.add(Probe(api, "pinned API version served", shop.api_version,
                     served or "no X-Shopify-API-Version header",
                     OK if served == shop.api_version else
                     (CANNOT_TELL if served is None else cannot_run(jobs)), jobs))
    _probe_scopes(api, shop, first, report)
    _probe_plan_rate(api, shop, first, jobs, report)
    _probe_locations(api, shop, prober, report)
    if STOCK in jobs or PRODUCTS in jobs:
        bulk = prober.query(BULK_QUERY)
        users = tuple(j for j in jobs if j in (STOCK, PRODUCTS))
        report.add(Probe(api, "bulk operations allowed", "bulkOperations readable",
                         "; ".join(bulk.errors) or "readable",
                         OK if not bulk.errors else cannot_run(users), users))
    if config.listen.public_url:
        _probe_webhook_topics(api, shop, prober, report)


def _probe_scopes(api: str, shop: ShopConfig, first: GraphQLAnswer,
                  report: ContractReport) -> None:
    install = first.data.get("currentAppInstallation") or {}
    handles = [str(s.get("handle")) for s in install.get("accessScopes") or []
               if isinstance(s, Mapping)]
    if first.errors or not install:
        for job in shop_jobs(shop):
            report.add(Probe(api, f"access scopes for {job}",
                             ", ".join(needed_scopes(shop, job)),
                             "; ".join(first.errors) or "no currentAppInstallation",
                             CANNOT_TELL, (job,)))
    else:
        for job in shop_jobs(shop):
            need = needed_scopes(shop, job)
            missing = granted_covers(handles, need)
            report.add(Probe(api, f"access scopes for {job}", ", ".join(need),
                             "granted" if not missing else "missing " + ", ".join(missing),
                             OK if not missing else cannot_run([job]), (job,),
                             f"scopes_missing:{job}", missing))


def _probe_plan_rate(api: str, shop: ShopConfig, first: GraphQLAnswer, jobs: tuple[str, ...],
                     report: ContractReport) -> None:
    status = ((first.extensions.get("cost") or {}).get("throttleStatus") or {})
    size = float(status.get("maximumAvailable") or 0)
    rate = float(status.get("restoreRate") or 0)
    want_size, want_rate = PLAN_RATES.get(shop.plan, PLAN_RATES["standard"])
    expected = f"plan {shop.plan}: {pacing(want_size, want_rate)}"
    if not status:
        report.add(Probe(api, "plan rate (throttleStatus)", expected, "no throttleStatus",
                         CANNOT_TELL, jobs))
    elif (size, rate) == (want_size, want_rate):
        report.add(Probe(api, "plan rate (throttleStatus)", expected, pacing(size, rate), OK,
                         jobs, "rate", [size, rate]))
    else:
        report.add(Probe(api, "plan rate (throttleStatus)", expected, pacing(size, rate),
                         using(f"the observed rate ({rate:g} points/s; the client paces from "
                               f"throttleStatus; set plan to match)"), jobs, "rate",
                         [size, rate]))


def _probe_locations(api: str, shop: ShopConfig, prober: ShopifyProber,
                     report: ContractReport) -> None:
    from rackshop.check import _shopify_location_refs

    locs = prober.query(LOCATIONS_QUERY)
    nodes = (locs.data.get("locations") or {}).get("nodes") or []
    by_key: dict[str, Mapping[str, Any]] = {}
    for loc in nodes:
        by_key[str(loc.get("id"))] = loc
        by_key[str(loc.get("name"))] = loc
    for key, where in dict.fromkeys(_shopify_location_refs(shop)):
        job = STOCK if ".stock." in where else "init-sync"
        loc = by_key.get(key)
        observed = "missing" if loc is None else ("active" if loc.get("isActive", True)
                                                  else "inactive")
        report.add(Probe(api, f"location {key!r} ({where})", "exists and is active", observed,
                         OK if observed == "active" else cannot_run([job]), (job,)))


def _probe_webhook_topics(api: str, shop: ShopConfig, prober: ShopifyProber,
                          report: ContractReport) -> None:
    from rackshop.listen.webhooks_admin import shopify_topics

    topics = prober.query(TOPICS_QUERY)
    values = {str(v.get("name")) for v in ((topics.data.get("__type") or {})
                                           .get("enumValues") or [])}
    for topic in shopify_topics(shop):
        enum = topic.upper().replace("/", "_")
        if not values:
            verdict, observed = CANNOT_TELL, "; ".join(topics.errors) or "no enum values"
        elif enum in values:
            verdict, observed = OK, f"{enum} subscribable"
        else:
            verdict, observed = cannot_run([LISTEN]), f"no topic {enum} in {shop.api_version}"
        report.add(Probe(api, f"webhook topic {topic}", f"{enum} in the API version",
                         observed, verdict, (LISTEN,)))
