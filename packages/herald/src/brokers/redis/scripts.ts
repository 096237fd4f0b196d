/**
 * The Lua scripts of `RedisBroker`. Each runs atomically in Redis, so a publish (sequence number,
 * append, trim, fan-out) and a snapshot (epoch, head, per-channel ranges) are never interleaved.
 *
 * Keys common to both scripts: KEYS[1] epoch, KEYS[2] seq, KEYS[3] trimmed (hash: channel -> highest
 * seq trimmed), KEYS[4] last (hash: channel -> last seq published), then channel streams.
 * Stream entries have the id `{seq}-0` and the fields `event`, `json`, `ts` (in that order).
 */

const PRELUDE = `
local function int(n) return string.format('%d', n) end
local function seqOf(id) return tonumber(string.match(id, '^(%d+)')) end

-- The epoch is valid only together with the seq counter: if either is gone (Redis restarted
-- without persistence, or keys were deleted), a new epoch starts, so old cursors get a gap.
local function currentEpoch(candidate)
  local e = redis.call('GET', KEYS[1])
  local hasSeq = redis.call('EXISTS', KEYS[2]) == 1
  if e and hasSeq then return e end
  if not hasSeq then
    redis.call('SET', KEYS[2], '0')
    redis.call('DEL', KEYS[3], KEYS[4])
  end
  redis.call('SET', KEYS[1], candidate)
  return candidate
end

local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Trims a stream by count and by age (ts < cutoff), recording the highest seq trimmed.
local function trim(key, channel, maxLen, cutoff)
  local through = nil
  local len = redis.call('XLEN', key)
  if len > maxLen then
    local old = redis.call('XRANGE', key, '-', '+', 'COUNT', len - maxLen)
    through = old[#old][1]
  end
  while true do
    local batch = redis.call('XRANGE', key, through and ('(' .. through) or '-', '+', 'COUNT', 100)
    local done = #batch < 100
    for _, entry in ipairs(batch) do
      if tonumber(entry[2][6]) >= cutoff then
        done = true
        break
      end
      through = entry[1]
    end
    if done then break end
  end
  if through then
    local s = seqOf(through)
    redis.call('XTRIM', key, 'MINID', int(s + 1) .. '-0')
    if s > tonumber(redis.call('HGET', KEYS[3], channel) or '0') then
      redis.call('HSET', KEYS[3], channel, int(s))
    end
  end
end
`;

/**
 * KEYS[5] the channel's stream. ARGV: candidate epoch, channel, event, json, maxLen, maxAgeMs,
 * stream TTL in ms, bus channel. Publishes `epoch\nseq\nts\nprev\nevent\njson` on the bus, `prev`
 * being the channel's previous seq (0 for none), so a subscriber notices a message it never got.
 * Returns { epoch, seq, ts } (numbers as strings).
 */
export const PUBLISH_SCRIPT = `${PRELUDE}
local epoch = currentEpoch(ARGV[1])
local channel = ARGV[2]
if redis.call('EXISTS', KEYS[5]) == 0 then
  -- The stream expired (or never existed): everything published before is gone.
  local last = redis.call('HGET', KEYS[4], channel)
  if last then redis.call('HSET', KEYS[3], channel, last) end
end
local prev = redis.call('HGET', KEYS[4], channel) or '0'
local seq = redis.call('INCR', KEYS[2])
local ts = nowMs()
redis.call('XADD', KEYS[5], int(seq) .. '-0', 'event', ARGV[3], 'json', ARGV[4], 'ts', int(ts))
redis.call('HSET', KEYS[4], channel, int(seq))
trim(KEYS[5], channel, tonumber(ARGV[5]), ts - tonumber(ARGV[6]))
redis.call('PEXPIRE', KEYS[5], ARGV[7])
redis.call('PUBLISH', ARGV[8], epoch .. '\\n' .. int(seq) .. '\\n' .. int(ts) .. '\\n' .. prev .. '\\n' .. ARGV[3] .. '\\n' .. ARGV[4])
return { epoch, int(seq), int(ts) }
`;

/**
 * KEYS[5..] the channels' streams. ARGV: candidate epoch, after, limit per channel, maxLen,
 * maxAgeMs, then the channel names (same order as the streams). Returns
 * { epoch, head, trimmed1, entries1, trimmed2, entries2, ... } with trimmed as 1/0.
 */
export const SNAPSHOT_SCRIPT = `${PRELUDE}
local epoch = currentEpoch(ARGV[1])
local head = redis.call('GET', KEYS[2])
local after = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local cutoff = nowMs() - tonumber(ARGV[5])
local out = { epoch, head }
for i = 5, #KEYS do
  local channel = ARGV[i + 1]
  local trimmedThrough
  if redis.call('EXISTS', KEYS[i]) == 1 then
    trim(KEYS[i], channel, tonumber(ARGV[4]), cutoff)
    trimmedThrough = redis.call('HGET', KEYS[3], channel)
  else
    trimmedThrough = redis.call('HGET', KEYS[4], channel)
  end
  out[#out + 1] = (tonumber(trimmedThrough or '0') > after) and 1 or 0
  out[#out + 1] = redis.call('XRANGE', KEYS[i], int(after + 1) .. '-0', '+', 'COUNT', limit)
end
return out
`;
