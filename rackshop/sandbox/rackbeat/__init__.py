"""The Rackbeat twin: a local simulator of the Rackbeat REST API.

What it models and every choice it makes is in ``docs/sandbox-rackbeat.md``.
"""

from .app import RackbeatTwin
from .routes import ROUTES
from .webhooks import is_local_url

__all__ = ["ROUTES", "RackbeatTwin", "is_local_url"]
