"""rackshop: keep one Rackbeat inventory account and several Shopify shops in step."""

__version__ = "0.1.0"
