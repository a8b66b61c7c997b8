"""The cache layer's public API: the only module of `caching` that other apps import.

Everything about Redis (keys, serialisation, versions, tokens, the breaker, stats, the outbox) stays
behind these names; docs/ARCHITECTURE.md §2.1 says which folder holds what. Settings-time
configuration (read while Django is still loading) is `caching.conf`'s.
"""

from caching.backend.breaker import breaker_state
from caching.backend.stats import capture as trace_cache_events
from caching.consistency.answers import (answer_lookup, answer_single_flight, answer_store, budget_add,
                                         budget_spent, count_model_call)
from caching.consistency.bot_turn import BotTurn, bot_turn
from caching.consistency.commit_buffer import (append_on_commit, enabled, invalidate_on_commit, kept_warm,
                                               scheduled_keys)
from caching.consistency.outbox import pending_sql as outbox_pending_sql
from caching.consistency.reads import read_through, read_through_list
from caching.consistency.replay import replay_source
from caching.keys import (NAMESPACES, PROGRESS_PERIODS, agent_answer_key, agent_budget_key, agent_flight_key,
                          conversation_history_key, progress_key, usda_key, user_memory_key)
from caching.ops.actions import invalidate_namespace, invalidate_user, refuse_value
from caching.ops.dashboard import urls as dashboard_urls
from caching.ops.metrics import FleetCacheCollector, sync_process_counters
from caching.ops.pacing import send_slot

__all__ = [
    # keys: one function per data set (the namespaces stats are counted by)
    "NAMESPACES", "PROGRESS_PERIODS", "conversation_history_key", "progress_key", "usda_key", "user_memory_key",
    "agent_answer_key", "agent_budget_key", "agent_flight_key",
    # cached reads that never serve stale data
    "read_through", "read_through_list",
    # the agent's answers: keyed by the versions of the context they read, one model call per question
    "answer_lookup", "answer_single_flight", "answer_store", "budget_add", "budget_spent", "count_model_call",
    # cache changes that wait for the commit
    "append_on_commit", "enabled", "invalidate_on_commit", "kept_warm", "scheduled_keys",
    # a bot turn: the protocol around its transaction, and the outbox check its claim carries
    "BotTurn", "bot_turn", "outbox_pending_sql",
    # what a Redis that lost acknowledged writes gets replayed: a source of recent invalidations
    "replay_source",
    # operators and refusals
    "invalidate_namespace", "invalidate_user", "refuse_value",
    # a rate every process shares (outgoing Telegram messages)
    "send_slot",
    # observing it
    "FleetCacheCollector", "breaker_state", "dashboard_urls", "sync_process_counters", "trace_cache_events",
]
