-- Share a breaker's new state: a success closes it for everyone; a failure
-- keeps the most failures and the latest reopening any daemon recorded.
-- KEYS: breaker; ARGV: failures, open until ms (-1: not open), closed (1/0)
if ARGV[3] == '1' then
  redis.call('DEL', KEYS[1])
  return 0
end
local f = math.max(tonumber(redis.call('HGET', KEYS[1], 'f') or 0), tonumber(ARGV[1]))
local u = math.max(tonumber(redis.call('HGET', KEYS[1], 'u') or -1), tonumber(ARGV[2]))
redis.call('HSET', KEYS[1], 'f', f, 'u', u)
redis.call('PEXPIRE', KEYS[1], math.max(u - now, 0) + 600000)
return 0
