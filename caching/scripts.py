"""Lua scripts run by the backend (and, through `cache.run_script`, by later cache code).

EVALSHA sends 40 bytes instead of the script; after a Redis restart or SCRIPT FLUSH the script is
gone, so a NOSCRIPT answer falls back to EVAL once, which also loads it again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from redis.exceptions import NoScriptError


class LuaScript:
    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()

    def __call__(self, client: Any, keys: Sequence[Any] = (), args: Sequence[Any] = ()) -> Any:
        try:
            return client.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            return client.eval(self.source, len(keys), *keys, *args)


# Django's incr(): ValueError for a missing key, and never recreate a key that expired between a
# check and the increment — one atomic script. INCRBY keeps the key's TTL. The new value is
# returned as GET's string: Lua turns INCRBY's integer reply into a double, which is wrong beyond
# 2^53 (Redis answers -2^63 for 2^63 - 1).
INCR_IF_EXISTS = LuaScript(
    """
if redis.call('EXISTS', KEYS[1]) == 1 then
    redis.call('INCRBY', KEYS[1], ARGV[1])
    return redis.call('GET', KEYS[1])
end
return false
"""
)


# --- version tokens (caching/readthrough.py): KEYS are a value key and its token key ---------------

# The token a miss fills under: the current one, or a fresh random one where none is left.
ENSURE_TOKEN = LuaScript(
    """
local token = redis.call('GET', KEYS[1])
if token then return token end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return ARGV[1]
"""
)

# Store a value loaded from the database only if no invalidation happened since the token was read.
FILL_IF_TOKEN = LuaScript(
    """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return 1
"""
)

# Drop the value and change the token: fills that started before this cannot store. Returns
# how many values were deleted (0 or 1). DEL first: a Redis out of memory (noeviction) refuses the
# SET with an error but has already dropped the value, and the error keeps the key pending.
INVALIDATE = LuaScript(
    """
local removed = redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
return removed
"""
)

# Write-through of new history rows, sending only the rows (O(one message), whatever the entry's
# length). The entry is a JSON list of rows, each an object whose first key is "id" and last key
# "created_at" (conversations.selectors.message_row, written by orjson: no spaces). A quote inside a
# JSON string is always escaped, so the bare sequence {"id": only ever starts a row: the script finds
# the rows' starts and the last row's id and created_at without decoding anything. The new rows
# (ARGV[3], objects joined by ',', ARGV[4] of them) are appended only if they sort after the last
# row (ARGV[1]: first new id, ARGV[2]: its created_at; ISO timestamps in UTC compare as strings),
# older rows falling off the front beyond ARGV[5]; anything else — no entry, not such a list, rows
# out of order — drops the entry. The token changes either way, so no fill that loaded before the
# new rows can store. A Redis out of memory refuses the SET: the old entry stays, the error keeps
# the key pending.
APPEND_TAIL = LuaScript(
    """
local done = 0
local current = redis.call('GET', KEYS[1])
local kept = nil
if tonumber(ARGV[4]) > 0 and current and string.sub(current, 1, 1) == '[' and string.sub(current, -1) == ']' then
    local starts, pos = {}, 1
    while true do
        local at = string.find(current, '{"id":', pos, true)
        if not at then break end
        starts[#starts + 1] = at
        pos = at + 6
    end
    local n = #starts
    if n == 0 then
        if current == '[]' then kept = '' end
    else
        local last = string.sub(current, starts[n])
        local last_id = tonumber(string.match(last, '^{"id":(%d+),'))
        local last_at = string.match(last, '"created_at":"([^"]*)"}]$')
        if last_id and last_at and tonumber(ARGV[1]) > last_id and ARGV[2] >= last_at then
            local drop = n + tonumber(ARGV[4]) - tonumber(ARGV[5])
            if drop <= 0 then
                kept = string.sub(current, 2, -2)
            elseif drop < n then
                kept = string.sub(current, starts[drop + 1], -2)
            else
                kept = ''
            end
        end
    end
end
if kept then
    if kept ~= '' then kept = kept .. ',' end
    redis.call('SET', KEYS[1], '[' .. kept .. ARGV[3] .. ']', 'PX', ARGV[7])
    done = 1
else
    redis.call('DEL', KEYS[1])
end
redis.call('SET', KEYS[2], ARGV[6], 'PX', ARGV[8])
return done
"""
)

# Keep a changed value warm: store the value the writer built (ARGV[2]) only if the token is still
# the one it read before it built it (ARGV[1]), else drop the value as INVALIDATE does; the token
# changes either way (ARGV[3]), so fills in flight cannot store. Returns 1 when stored.
REPLACE_IF_TOKEN = LuaScript(
    """
local same = ARGV[1] ~= '' and redis.call('GET', KEYS[2]) == ARGV[1]
redis.call('DEL', KEYS[1])
if same then
    redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[4])
    redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[5])
    return 1
end
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[6])
return 0
"""
)


# --- single flight (caching/singleflight.py) -------------------------------------------------------

# Release a get_or_set lock only if it still holds this holder's token: a holder that outlived its
# lock (it expired, another process took over) must not delete its successor's.
RELEASE_LOCK = LuaScript(
    """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""
)
