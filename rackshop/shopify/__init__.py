"""Shopify Admin GraphQL client, packaged documents and webhook signatures."""

from rackshop.shopify.client import (
    DEFAULT_API_VERSION,
    ClientCredentialsToken,
    CostBucket,
    GraphQLResult,
    ShopifyClient,
    StaticToken,
    ThrottleStatus,
    TokenProvider,
    document_names,
    graphql_url,
    load_document,
    parse_user_errors,
    token_url,
)

__all__ = [
    "DEFAULT_API_VERSION",
    "ClientCredentialsToken",
    "CostBucket",
    "GraphQLResult",
    "ShopifyClient",
    "StaticToken",
    "ThrottleStatus",
    "TokenProvider",
    "document_names",
    "graphql_url",
    "load_document",
    "parse_user_errors",
    "token_url",
]
