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


# --- version tokens (caching/consistency/reads.py): KEYS are a value key and its token key ---------------

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
# SET with an error but has already dropped the value, and the error sends the key to the outbox.
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
# JSON string is always escaped, so the bare sequence {"id": only ever starts a row: the script
# splits the entry into rows without decoding them. The new rows (ARGV[1] of them, as id,
# created_at, JSON triples from ARGV[6]) join it in the entry's order — (created_at, id), as the
# database sorts them; ISO timestamps in UTC compare as strings — rows it already holds are not
# added twice, and the oldest fall off beyond ARGV[2]. So two turns of one user committing in
# either order keep the entry. No entry, or one not of that shape: dropped. The token changes
# either way (ARGV[3]), so no fill that loaded before the new rows can store. A Redis out of memory
# refuses the SET: the old entry stays, the error sends the key to the outbox.
APPEND_ROWS = LuaScript(
    """
local n, max = tonumber(ARGV[1]), tonumber(ARGV[2])
local current = redis.call('GET', KEYS[1])
local rows = nil
if n > 0 and current and string.sub(current, 1, 1) == '[' and string.sub(current, -1) == ']' then
    local starts, pos = {}, 1
    while true do
        local at = string.find(current, '{"id":', pos, true)
        if not at then break end
        starts[#starts + 1] = at
        pos = at + 6
    end
    if #starts > 0 or current == '[]' then
        rows = {}
        local held = {}
        for i = 1, #starts do
            local stop = starts[i + 1] and starts[i + 1] - 2 or #current - 1
            local text = string.sub(current, starts[i], stop)
            local id = tonumber(string.match(text, '^{"id":(%d+),'))
            local at = string.match(text, '"created_at":"([^"]*)"}$')
            if not id or not at then rows = nil break end
            rows[i] = {id, at, text}
            held[id] = true
        end
        if rows then
            for k = 0, n - 1 do
                local id = tonumber(ARGV[6 + 3 * k])
                if not held[id] then rows[#rows + 1] = {id, ARGV[7 + 3 * k], ARGV[8 + 3 * k]} end
            end
            table.sort(rows, function(a, b)
                if a[2] ~= b[2] then return a[2] < b[2] end
                return a[1] < b[1]
            end)
        end
    end
end
local done = 0
if rows then
    local parts = {}
    for i = math.max(1, #rows - max + 1), #rows do parts[#parts + 1] = rows[i][3] end
    redis.call('SET', KEYS[1], '[' .. table.concat(parts, ',') .. ']', 'PX', ARGV[4])
    done = 1
else
    redis.call('DEL', KEYS[1])
end
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[5])
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


# --- single flight (caching/backend/singleflight.py) -------------------------------------------------------

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
