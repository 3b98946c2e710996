-- After an outage, add what a daemon admitted on its own into the shared
-- window, so the minute after recovery counts it too.
-- KEYS: window; ARGV: (second, units) pairs
for i = 1, #ARGV, 2 do
  if tonumber(ARGV[i]) >= now_s - SPAN then redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
redis.call('PEXPIRE', KEYS[1], WINDOW_TTL)
return 0
