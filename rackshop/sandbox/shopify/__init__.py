"""The Shopify twin: a local Admin GraphQL API (several shops, cost and bucket, bulk
operations, webhooks) for tests, benchmarks and ``rackshop sandbox``."""

from .app import ShopifyTwin, build_twin_schema
from .state import ShopState

__all__ = ["ShopState", "ShopifyTwin", "build_twin_schema"]
