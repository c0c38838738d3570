"""The Lua scripts: each a single atomic step on one key, timed by Redis's own clock.

Time comes from ``TIME`` inside the script, so every gateway process (and host) agrees on it.
Fractions travel as strings formatted ``%.17g``: Redis turns a Lua number it returns into an
integer, and ``%.17g`` reads back as the very same double.
"""

from __future__ import annotations

# Redis < 5 replicates scripts verbatim unless told otherwise, and TIME then refuses writes;
# newer servers replicate effects anyway and still accept the call.
_EFFECTS = "if redis.replicate_commands then pcall(redis.replicate_commands) end\n"

# GCRA: KEYS[1] holds the theoretical arrival time (TAT) in microseconds.
# ARGV: cost, rate (per second), burst. Returns {allowed, remaining, retry_after, reset_after},
# the last three in the limit's unit and seconds.
GCRA = _EFFECTS + r"""
local cost = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local interval = 1000000 / rate
local tolerance = burst * interval
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local function fmt(x) return string.format('%.17g', x) end

local new_tat
if cost < 0 then
  -- Giving back can only refill the bucket: the TAT never goes before now.
  new_tat = math.max(tat + cost * interval, now)
else
  new_tat = tat + cost * interval
  -- A nanosecond of slack: burst * interval and a sum of intervals may differ in the last bit.
  if new_tat - now > tolerance + 0.001 then
    return {0, fmt(burst - (tat - now) / interval),
            fmt((new_tat - tolerance - now) / 1000000), fmt((tat - now) / 1000000)}
  end
end
local ahead = new_tat - now
if ahead > 0 then
  -- The key lives exactly as long as the bucket is not full; a full bucket needs no key.
  redis.call('SET', KEYS[1], fmt(new_tat), 'PX', string.format('%d', math.ceil(ahead / 1000)))
else
  redis.call('DEL', KEYS[1])
end
return {1, fmt(math.max(0, burst - ahead / interval)), '0', fmt(ahead / 1000000)}
"""

# In-flight slots: KEYS[1] is a sorted set of slot ids scored by the end of their lease (ms).
# ARGV: limit, lease (ms), slot id, then ids of this process's slots whose release is owed
# (given back first, so a release Redis missed never refuses the caller's own next request).
# Returns 1 when the slot was taken, 0 when all are taken.
ENTER = _EFFECTS + r"""
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
if #ARGV > 3 then
  redis.call('ZREM', KEYS[1], unpack(ARGV, 4))
end
-- Slots whose lease ran out (a process that died, a release that never came) go here.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], last[2])
return 1
"""

# KEYS[1] as for ENTER; ARGV the slot ids to give back (one or more).
LEAVE = _EFFECTS + r"""
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
redis.call('ZREM', KEYS[1], unpack(ARGV))
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return 0
"""

# KEYS[1] as for ENTER; ARGV pairs of slot id and lease (ms): each slot still there is held
# that much longer from now. A slot already given back or expired is not brought back (XX).
RENEW = _EFFECTS + r"""
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
for i = 1, #ARGV, 2 do
  redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[i + 1]), ARGV[i])
end
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] then
  redis.call('PEXPIREAT', KEYS[1], last[2])
end
return 0
"""

# A breaker's "open until": KEYS[1]; ARGV: until (epoch ms), ttl (ms). Only ever lengthened,
# so a late, shorter opening from another process cannot cut a longer one short.
OPEN_UNTIL = r"""
local current = tonumber(redis.call('GET', KEYS[1]))
if current == nil or current < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
