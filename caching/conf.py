"""What healthagent/settings.py and the gunicorn config need of `caching` while Django is still loading:
the Redis topology from the environment, the embedded server, URLs with their passwords masked.
Nothing here imports Django's cache framework (caching.api does, and is for after settings)."""

from caching.servers.config import Topology, apply_to, from_environment
from caching.servers.embedded import EmbeddedConnection, server_binary, socket_path
from caching.servers.url import redact_url

__all__ = ["EmbeddedConnection", "Topology", "apply_to", "from_environment", "redact_url", "server_binary",
           "socket_path"]
