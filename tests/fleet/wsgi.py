"""The service as the fleet harness runs it: healthagent.wsgi plus two switches set from the environment.

- FLEET_CRASH_FILE: while this file exists, the next on-commit cache operation deletes it and kills
  the process (os._exit) — a worker dying between COMMIT and its Redis calls.
- FLEET_MECHANISM_OFF: a comma-separated list of mechanisms to switch off, for the negative controls
  that show the harness sees stale reads when a mechanism is missing:
  `fence` (reads trust Redis without checking the outbox) and `redelivery` (a redelivered update
  does not invalidate its turn's keys again).
"""

import os

from healthagent.wsgi import application  # noqa: F401  (gunicorn's entry point)

from caching import fence
from caching import transaction as cache_transaction
from conversations import telegram
from conversations.models import ProcessedUpdate

_crash_file = os.environ.get("FLEET_CRASH_FILE")
if _crash_file:
    _apply = cache_transaction._Flush.__call__

    def _crash_before_redis(self):
        try:
            os.unlink(_crash_file)
        except FileNotFoundError:
            return _apply(self)
        os._exit(1)

    cache_transaction._Flush.__call__ = _crash_before_redis

_off = {name.strip() for name in os.environ.get("FLEET_MECHANISM_OFF", "").split(",") if name.strip()}
if "fence" in _off:  # reads trust Redis; nobody applies pending rows but a breaker's probe
    fence.trusts = lambda key: True
    fence.observe = lambda *, pending: None
if "redelivery" in _off:
    telegram._redelivered = lambda update_id: ProcessedUpdate.objects.get(pk=update_id).response
