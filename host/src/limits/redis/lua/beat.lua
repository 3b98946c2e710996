-- A daemon says it lives (or that it leaves); returns how many daemons live.
-- KEYS: daemons (sorted set: member = daemon id, score = when it expires)
-- ARGV: daemon id, ttl ms, leaving (1/0)
if ARGV[3] == '1' then
  redis.call('ZREM', KEYS[1], ARGV[1])
else
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZCARD', KEYS[1])
