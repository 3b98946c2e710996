-- One admission, all or nothing: a request, its tokens and its worst-case
-- cost are taken together, or nothing is.
-- KEYS: rpm, tpm, spent, holds, expiry
-- ARGV: rpm limit, tpm limit, budget cap in nano-dollars (-1: none each),
--       tokens, cost, hold id, hold ttl ms, seed day (-1: none), seed
-- Reply: {1, now, spent, held, seeded, reaped, rpm used, tpm used} admitted;
--        {0, now, spent, held, seeded, reaped, rpm buckets, tpm buckets} refused;
--        {2, day} today's spend is missing: call again with a seed for `day`.
local rpm, tpm, cap = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tokens, cost = tonumber(ARGV[4]), tonumber(ARGV[5])
local spent, held, seeded, reaped = 0, 0, 0, 0
if cap >= 0 then
  spent, seeded = spend(KEYS[3], tonumber(ARGV[8]), ARGV[9])
  if not spent then return {2, day} end
  -- Holds whose owner stopped refreshing them (it died) are released here.
  local dead = redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', now)
  if #dead > 0 then
    each_chunk('HDEL', KEYS[4], dead)
    each_chunk('ZREM', KEYS[5], dead)
    reaped = #dead
  end
  for _, v in ipairs(redis.call('HVALS', KEYS[4])) do held = held + tonumber(v) end
end
local rpm_used, rpm_live, tpm_used, tpm_live = 0, {}, 0, {}
if rpm >= 0 then rpm_used, rpm_live = window(KEYS[1]) end
if tpm >= 0 then tpm_used, tpm_live = window(KEYS[2]) end
if (rpm >= 0 and rpm_used + 1 > rpm) or (tpm >= 0 and tpm_used + tokens > tpm)
    or (cap >= 0 and spent + held + cost > cap) then
  return {0, now, spent, held, seeded, reaped, rpm_live, tpm_live}
end
if rpm >= 0 then
  redis.call('HINCRBY', KEYS[1], now_s, 1)
  redis.call('PEXPIRE', KEYS[1], WINDOW_TTL)
  rpm_used = rpm_used + 1
end
if tpm >= 0 then
  redis.call('HINCRBY', KEYS[2], now_s, tokens)
  redis.call('PEXPIRE', KEYS[2], WINDOW_TTL)
  tpm_used = tpm_used + tokens
end
if cap >= 0 and cost > 0 then
  local ttl = tonumber(ARGV[7])
  redis.call('HSET', KEYS[4], ARGV[6], cost)
  redis.call('ZADD', KEYS[5], now + ttl, ARGV[6])
  redis.call('PEXPIRE', KEYS[4], 2 * ttl)
  redis.call('PEXPIRE', KEYS[5], 2 * ttl)
  held = held + cost
end
return {1, now, spent, held, seeded, reaped, rpm_used, tpm_used}
