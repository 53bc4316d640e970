"""Rackbeat REST client."""

from rackshop.rackbeat.client import RackbeatClient, RateLimiter, encode_number, list_key

__all__ = ["RackbeatClient", "RateLimiter", "encode_number", "list_key"]
