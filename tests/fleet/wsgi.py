"""The service as the fleet harness runs it: healthagent.wsgi plus two switches set from the environment.

- FLEET_CRASH_FILE: while this file exists, the next on-commit cache operation deletes it and kills
  the process (os._exit) — a worker dying between COMMIT and its Redis calls.
- FLEET_GATE (in the workers named in FLEET_GATED_WORKERS): a unix socket path. A miss of user memory,
  after loading from the database and before it fills, connects there if the test listens, and waits
  for its answer: the test holds the reader exactly there while another process commits a write, so
  every round is the stale-set race (a reader loads the old row just before a commit and writes it
  back just after), whatever the machine's speed (tests/fleet/harness.py: Gate).
- FLEET_MECHANISM_OFF: a comma-separated list of mechanisms to switch off, for the negative controls
  that show the harness sees stale reads when a mechanism is missing:
  `fence` (reads trust Redis without checking the outbox), `redelivery` (a redelivered update
  does not invalidate its turn's keys again), `token` (a fill stores whatever it loaded) and
  `keepwarm` (a write to memory only drops the entry, as before it was kept warm: the race test
  needs readers that miss), `agentversions` (the agent's answers are keyed without the versions of
  the context they read).
"""

import os
import socket

from healthagent.wsgi import application  # noqa: F401  (gunicorn's entry point)

from caching.backend import scripts
from caching.consistency import commit_buffer, fence, invalidation, reads
from memory import selectors as memory_selectors
from conversations import updates as telegram
from conversations.models import ProcessedUpdate

_crash_file = os.environ.get("FLEET_CRASH_FILE")
if _crash_file:
    _apply = commit_buffer._Flush.__call__

    def _crash_before_redis(self):
        try:
            os.unlink(_crash_file)
        except FileNotFoundError:
            return _apply(self)
        os._exit(1)

    commit_buffer._Flush.__call__ = _crash_before_redis

_off = {name.strip() for name in os.environ.get("FLEET_MECHANISM_OFF", "").split(",") if name.strip()}
if "fence" in _off:  # reads trust Redis; nobody applies pending rows but a breaker's probe
    fence.trusts = lambda key: True
    fence.observe = lambda *, pending: None
if "redelivery" in _off:
    telegram._redelivered = lambda update_id, chat_id: ProcessedUpdate.objects.get(pk=update_id).response
if "token" in _off:  # fill without comparing the token: what the stale-set race then does
    reads.FILL_IF_TOKEN = invalidation.FILL_IF_TOKEN = scripts.LuaScript(
        "redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) redis.call('PEXPIRE', KEYS[2], ARGV[4]) return 1"
    )

if "keepwarm" in _off:
    commit_buffer.replace_on_commit = lambda key, change, *, timeout: False

_gate = os.environ.get("FLEET_GATE")
if _gate and os.environ.get("FLEET_WORKER") in os.environ.get("FLEET_GATED_WORKERS", "").split(","):
    _load = memory_selectors._load

    def _held(user_id):
        value = _load(user_id)
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as gate:
                gate.settimeout(120)  # a test that died holding it: go on
                gate.connect(_gate)
                gate.sendall(b"loaded\n")
                gate.recv(16)  # until the test lets this fill go on
        except OSError:  # the test holds no load now: nothing listens
            pass
        return value

    memory_selectors._load = _held

if "agentversions" in _off:  # the agent's answers keyed without the versions of the context they read
    from agent import answering

    answering._digest = lambda value: "-"
