-- The head of every llmnode limits script: the server's clock (one clock for
-- every daemon) and the helpers the scripts share.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local now_s = math.floor(now / 1000)
local day = math.floor(now / 86400000)
-- A unit used in second s counts until second s + 60 has passed (as window.rs).
local SPAN = 60
local WINDOW_TTL = 62000
local SPENT_TTL = 3 * 86400000

-- Run `cmd key item...` in chunks (unpack has a stack limit).
local function each_chunk(cmd, key, items)
  for i = 1, #items, 500 do
    redis.call(cmd, key, unpack(items, i, math.min(i + 499, #items)))
  end
end

-- A window's use now, forgetting buckets that no longer count; and the live
-- buckets, flat (second, units, ...).
local function window(key)
  local flat = redis.call('HGETALL', key)
  local oldest = now_s - SPAN
  local used, live, stale = 0, {}, {}
  for i = 1, #flat, 2 do
    local s, n = tonumber(flat[i]), tonumber(flat[i + 1])
    if s < oldest or n <= 0 then
      stale[#stale + 1] = flat[i]
    else
      used = used + n
      live[#live + 1] = s
      live[#live + 1] = n
    end
  end
  if #stale > 0 then each_chunk('HDEL', key, stale) end
  return used, live
end

-- Today's booked spend. When it is missing (Redis was flushed or restarted)
-- and the caller brings today's spend from the store, that becomes the value:
-- whichever daemon gets here first seeds it, once. nil: a seed is needed.
local function spend(key, seed_day, seed)
  local s = redis.call('HGET', key, day)
  if s then return tonumber(s), 0 end
  if seed_day ~= day then return nil, 0 end
  redis.call('HSET', key, day, seed)
  for _, d in ipairs(redis.call('HKEYS', key)) do
    if tonumber(d) < day - 1 then redis.call('HDEL', key, d) end
  end
  redis.call('PEXPIRE', key, SPENT_TTL)
  return tonumber(seed), 1
end
