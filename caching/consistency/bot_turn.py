"""One bot turn's cache protocol, composed once so that the turn's code does not have to.

A turn is one database transaction that claims its update, reads the user's entries and writes. For
its cache reads to be fresh and its writes to reach Redis only after COMMIT, three pieces of
per-thread state must be open around the transaction, in this order:

- the fence scope (caching/consistency/fence.py): the turn's reads rely on the one outbox check
  that the claim's statement carries (`claimed(outbox_pending=...)`);
- the journal (caching/consistency/commit_buffer.py): the turn keeps its cache keys on its own
  update row (`scheduled_keys()`), so it writes no intent rows to the outbox;
- the turn state (caching/consistency/turn_state.py): the entries and tokens read in the turn's one
  MGET, which its writes on commit start from.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from django.db import transaction

from caching.consistency import commit_buffer, fence, turn_state
from caching.keys import conversation_history_key, user_memory_key


class BotTurn:
    def __init__(self, user_id: int) -> None:
        self.user_id = user_id

    def claimed(self, *, outbox_pending: bool, read_ahead: Iterable[str] = ()) -> None:
        """The turn's update is claimed, and the claim said whether the outbox has rows
        (`outbox_pending_sql()` in its statement): apply them if so, then read the user's memory (with
        its token) and history, and `read_ahead` (e.g. a food lookup the message will make), in one
        round trip."""
        fence.observe(pending=outbox_pending)
        memory = user_memory_key(self.user_id)
        turn_state.prefetch([memory, conversation_history_key(self.user_id)], tokens=(memory,),
                            others=tuple(read_ahead))


@contextmanager
def bot_turn(*, user_id: int) -> Iterator[BotTurn]:
    """The transaction of one bot turn of `user_id`, with the cache protocol around it."""
    with fence.scope(), commit_buffer.journal(), turn_state.scope(), transaction.atomic():
        yield BotTurn(user_id)
