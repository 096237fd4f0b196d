/**
 * The Lua scripts of `RedisBroker`. Each runs atomically in Redis, so a publish (sequence number,
 * append, trim, fan-out) and a snapshot (epoch, head, per-channel ranges) are never interleaved.
 *
 * Keys common to both scripts: KEYS[1] epoch, KEYS[2] seq, KEYS[3] last (hash: channel -> last seq
 * published), KEYS[4] oldest (hash: channel -> a time, in ms, no later than the `ts` of the
 * channel's oldest retained entry), then channel streams.
 * Stream entries have the id `{seq}-0` and the fields `event`, `json`, `ts`, `prev` (in that order),
 * then `meta` when the event has metadata (who sent a client event, which socket not to send it to);
 * `prev` is the channel's previous seq when the entry was added (0 for none).
 *
 * What retention removed is read from the log itself: every event of a channel before its first
 * retained entry is gone, and the highest of them is that entry's `prev` (or, for a stream that is
 * empty or gone, the channel's last seq). So neither trim needs to record anything: the count cap
 * is `XADD … MAXLEN ~` on publish (made exact by the next read), and the age trim reads entries
 * only when one may be too old, which the `oldest` hash tells without touching the stream (on a
 * busy channel, about once per `maxAgeMs`).
 */

/**
 * Drops the entries of stream `key` with ts < `cutoff` (Lua expressions: `key`, `channel`,
 * `cutoff`, `now`). KEYS[4] holds, per channel, a time no later than the oldest retained entry's
 * ts (entries are appended with the clock's time and only ever removed from the front), so when it
 * is not before the cutoff nothing is read. Otherwise the front is read in growing batches up to
 * the first young entry, whose ts becomes the new bound. Inlined where used (a Lua function would
 * be a closure created on every run of the script).
 */
const trimByAge = (key: string, channel: string, cutoff: string, now: string) => `
if tonumber(redis.call('HGET', KEYS[4], ${channel}) or '0') < ${cutoff} then
  local through = nil
  local young = nil
  local count = 1
  while true do
    local batch = redis.call('XRANGE', ${key}, through and ('(' .. through) or '-', '+', 'COUNT', count)
    for _, entry in ipairs(batch) do
      local ts = tonumber(entry[2][6])
      if ts >= ${cutoff} then
        young = ts
        break
      end
      through = entry[1]
    end
    if young or #batch < count then break end
    if count < 512 then count = count * 2 end
  end
  if through then
    redis.call('XTRIM', ${key}, 'MINID', string.format('%d', tonumber(string.match(through, '^(%d+)')) + 1) .. '-0')
  end
  redis.call('HSET', KEYS[4], ${channel}, string.format('%d', young or ${now}))
end
`;

/**
 * The epoch, valid only together with the seq counter: if either is gone (Redis restarted without
 * persistence, or keys were deleted), a new epoch (ARGV[1]) starts, so old cursors get a gap.
 */
const CURRENT_EPOCH = `
local epoch = redis.call('GET', KEYS[1])
if not (epoch and redis.call('EXISTS', KEYS[2]) == 1) then
  if redis.call('EXISTS', KEYS[2]) == 0 then
    redis.call('SET', KEYS[2], '0')
    redis.call('DEL', KEYS[3], KEYS[4])
  end
  epoch = ARGV[1]
  redis.call('SET', KEYS[1], epoch)
end
`;

/** `now`: Redis' clock, in ms. */
const NOW = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
`;

/**
 * Publishes a batch of events (those published in one tick), in order. KEYS[5..] the streams of
 * the batch's channels. ARGV: candidate epoch, bus prefix (`{prefix}:bus:`), the expiry margin in
 * ms, then per channel (in KEYS order) its name, maxLen and maxAgeMs (its retention), then per
 * event its channel's position among them (1-based), its name, its metadata (`""` for none) and
 * its JSON. The events get consecutive seqs from one INCRBY; each is appended to its stream with
 * its channel's previous seq and published as `epoch\nseq\nts\nprev\nevent\nmeta\njson` on its
 * bus channel (`prev` 0 for none), so a subscriber notices a message it never got. Returns
 * { epoch, first seq, ts } (as strings).
 *
 * What is paid once per batch (the epoch check, the clock, the sequence) and once per channel
 * (its last seq, the age check, the expiry) is shared by the batch's events; each event costs an
 * XADD and a PUBLISH. The count cap is `MAXLEN ~` (whole stream nodes at a time: an exact cap
 * marks entries deleted one by one, several times the cost of the append); reads apply the exact
 * cap. A stream expires maxAgeMs plus the margin after its last publish; the expiry is renewed
 * only once it has run below maxAgeMs plus half the margin (PEXPIRE costs several times PTTL).
 */
export const PUBLISH_SCRIPT = `${CURRENT_EPOCH}${NOW}
local channels = #KEYS - 4
local from = 4 + 3 * channels
local n = (#ARGV - from + 1) / 4
local first = redis.call('INCRBY', KEYS[2], n) - n + 1
local ts = string.format('%d', now)
local margin = tonumber(ARGV[3])
local prevs = {}
for c = 1, channels do prevs[c] = redis.call('HGET', KEYS[3], ARGV[1 + 3 * c]) or '0' end
for i = 0, n - 1 do
  local at = from + 4 * i
  local c = tonumber(ARGV[at])
  local seq = string.format('%d', first + i)
  local prev = prevs[c]
  if ARGV[at + 2] == '' then
    redis.call('XADD', KEYS[4 + c], 'MAXLEN', '~', ARGV[2 + 3 * c], seq .. '-0', 'event', ARGV[at + 1], 'json', ARGV[at + 3], 'ts', ts, 'prev', prev)
  else
    redis.call('XADD', KEYS[4 + c], 'MAXLEN', '~', ARGV[2 + 3 * c], seq .. '-0', 'event', ARGV[at + 1], 'json', ARGV[at + 3], 'ts', ts, 'prev', prev, 'meta', ARGV[at + 2])
  end
  redis.call('PUBLISH', ARGV[2] .. ARGV[1 + 3 * c], epoch .. '\\n' .. seq .. '\\n' .. ts .. '\\n' .. prev .. '\\n' .. ARGV[at + 1] .. '\\n' .. ARGV[at + 2] .. '\\n' .. ARGV[at + 3])
  prevs[c] = seq
end
for c = 1, channels do
  local key = KEYS[4 + c]
  local channel = ARGV[1 + 3 * c]
  local maxAge = tonumber(ARGV[3 + 3 * c])
  redis.call('HSET', KEYS[3], channel, prevs[c])
  ${trimByAge("key", "channel", "now - maxAge", "now")}
  if redis.call('PTTL', key) < maxAge + margin / 2 then redis.call('PEXPIRE', key, string.format('%d', maxAge + margin)) end
end
return { epoch, string.format('%d', first), ts }
`;

/**
 * The exact count cap (publishes cap approximately) and the age trim of stream `key` (of
 * `channel`), before a read (Lua locals `key`, `channel`, `maxLen`, `cutoff`, `now`).
 */
const TRIM_ON_READ = `
  if redis.call('XLEN', key) > maxLen then redis.call('XTRIM', key, 'MAXLEN', maxLen) end
  if redis.call('EXISTS', key) == 1 then
    ${trimByAge("key", "channel", "cutoff", "now")}
  end
`;

/** Appends stream entry `entry`, the `j`-th read, to `flat` as id, event, json, ts, meta. */
const FLAT_ENTRY = `
    local fields = entry[2]
    local at = 5 * j
    flat[at - 4] = entry[1]
    flat[at - 3] = fields[2]
    flat[at - 2] = fields[4]
    flat[at - 1] = fields[6]
    flat[at] = fields[10] or ''
`;

/**
 * KEYS[5..] the channels' streams. ARGV: candidate epoch, after, limit per channel, then per
 * channel (same order as the streams) its name, maxLen and maxAgeMs. Returns
 * { epoch, head, gone1, events1, gone2, events2, ... } with gone the highest seq of the channel that
 * retention removed (0 for none; the reader compares it with its position) and events as one
 * flat list of id, event, json, ts, meta (`""` for none) per event (what a reader parses: about
 * half of XRANGE's strings).
 *
 * Per channel: the exact count cap (publishes cap approximately), the age trim, then what the log
 * no longer holds: the first retained entry's prev; for an empty or missing stream, the channel's
 * last seq. (An entry without prev, written by an older version, counts everything before it as
 * gone.)
 */
export const SNAPSHOT_SCRIPT = `${CURRENT_EPOCH}${NOW}
local head = redis.call('GET', KEYS[2])
local after = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local out = { epoch, head }
for i = 5, #KEYS do
  local key = KEYS[i]
  local j = 3 * (i - 4)
  local channel = ARGV[1 + j]
  local maxLen = tonumber(ARGV[2 + j])
  local cutoff = now - tonumber(ARGV[3 + j])
  ${TRIM_ON_READ}
  local gone
  local first = redis.call('XRANGE', key, '-', '+', 'COUNT', 1)[1]
  if first then
    gone = tonumber(first[2][8] or (tonumber(string.match(first[1], '^(%d+)')) - 1))
  else
    gone = tonumber(redis.call('HGET', KEYS[3], channel) or '0')
  end
  out[#out + 1] = gone
  -- The events, flat: id, event, json, ts, meta for each (no field names, no nested arrays).
  local flat = {}
  for j, entry in ipairs(redis.call('XRANGE', key, string.format('%d', after + 1) .. '-0', '+', 'COUNT', limit)) do
    ${FLAT_ENTRY}
  end
  out[#out + 1] = flat
end
return out
`;

/**
 * The end of one channel's log, for history. KEYS[5] the channel's stream. ARGV: candidate epoch,
 * the highest id to read (`{seq}-0`, or `+` for the newest), limit, maxLen, maxAgeMs, the channel.
 * Applies the same trims as a snapshot, then reads backwards. Returns { epoch, head, more, events }
 * with events flat as in a snapshot, newest first, and more 1 when older entries remain.
 */
export const LATEST_SCRIPT = `${CURRENT_EPOCH}${NOW}
local head = redis.call('GET', KEYS[2])
local key = KEYS[5]
local channel = ARGV[6]
local limit = tonumber(ARGV[3])
local maxLen = tonumber(ARGV[4])
local cutoff = now - tonumber(ARGV[5])
${TRIM_ON_READ}
local entries = redis.call('XREVRANGE', key, ARGV[2], '-', 'COUNT', limit + 1)
local flat = {}
for j, entry in ipairs(entries) do
  if j > limit then break end
  ${FLAT_ENTRY}
end
return { epoch, head, (#entries > limit) and 1 or 0, flat }
`;
