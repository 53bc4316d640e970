"""Local Shopify and Rackbeat simulators ("twins"), seed data, fault injection and the demo."""
