-- A live daemon's heartbeat over its holds on one connection: each stays
-- (or, after a Redis restart, is held again) for another ttl, unless it was
-- settled meanwhile.
-- KEYS: holds, expiry, settled
-- ARGV: ttl ms, then (hold id, cost) pairs
local ttl = tonumber(ARGV[1])
for i = 2, #ARGV, 2 do
  if not redis.call('ZSCORE', KEYS[3], ARGV[i]) then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
    redis.call('ZADD', KEYS[2], now + ttl, ARGV[i])
  end
end
redis.call('PEXPIRE', KEYS[1], 2 * ttl)
redis.call('PEXPIRE', KEYS[2], 2 * ttl)
return 0
