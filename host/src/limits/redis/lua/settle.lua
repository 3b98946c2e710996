-- Replace a hold with what the call used. Idempotent: a hold settled before
-- (within the hour) books nothing. The real cost is booked even if the hold
-- had expired meanwhile.
-- KEYS: rpm, tpm, spent, holds, expiry, settled
-- ARGV: hold id, second, refund the request (1/0), tokens held,
--       tokens used (-1: leave the window), cost, seed day (-1: none), seed
-- Reply: {1, seeded} done (or done before); {2, day} seed needed for `day`.
local id = ARGV[1]
if redis.call('ZSCORE', KEYS[6], id) then return {1, 0} end
local cost, seeded = tonumber(ARGV[6]), 0
if cost > 0 then
  local spent
  spent, seeded = spend(KEYS[3], tonumber(ARGV[7]), ARGV[8])
  if not spent then return {2, day} end
  -- The store booked this cost before the settle, so a seed read now has it.
  if seeded == 0 then
    redis.call('HINCRBY', KEYS[3], day, cost)
    redis.call('PEXPIRE', KEYS[3], SPENT_TTL)
  end
end
-- Correct second s's bucket from `was` to `units` (as Window::adjust).
local function adjust(key, s, was, units)
  local n = redis.call('HGET', key, s)
  if n and s >= now_s - SPAN then
    local v = math.max(tonumber(n) - was, 0) + units
    if v > 0 then redis.call('HSET', key, s, v) else redis.call('HDEL', key, s) end
  elseif units > was then
    redis.call('HINCRBY', key, now_s, units - was)
    redis.call('PEXPIRE', key, WINDOW_TTL)
  end
end
local second = tonumber(ARGV[2])
if ARGV[3] == '1' then adjust(KEYS[1], second, 1, 0) end
local used = tonumber(ARGV[5])
if used >= 0 then adjust(KEYS[2], second, tonumber(ARGV[4]), used) end
redis.call('HDEL', KEYS[4], id)
redis.call('ZREM', KEYS[5], id)
redis.call('ZADD', KEYS[6], now, id)
redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', now - 3600000)
redis.call('PEXPIRE', KEYS[6], 3600000)
return {1, seeded}
