/**
 * The Lua scripts of `RedisBroker`. Each runs atomically in Redis, so a publish (sequence number,
 * append, trim, fan-out) and a snapshot (epoch, head, per-channel ranges) are never interleaved.
 *
 * Every script works on one partition of the log (all its keys share one hash tag, so one Cluster
 * slot). Keys common to all scripts: KEYS[1] epoch, KEYS[2] seq, KEYS[3] last (hash: channel -> last
 * seq published), KEYS[4] oldest (hash: channel -> a time, in ms, no later than the `ts` of the
 * channel's oldest retained entry), KEYS[5] base (the seq the current epoch began after; absent:
 * 0), then channel streams. ARGV common to all: ARGV[1] a candidate epoch, ARGV[2] the epoch the
 * caller last saw and ARGV[3] the highest seq it saw in it (see CURRENT_EPOCH).
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
 * The epoch, valid only together with the seq counter. A new epoch (ARGV[1]) starts when either is
 * gone (Redis restarted without persistence, keys were deleted), and when the caller saw a higher
 * seq in this same epoch (ARGV[2], ARGV[3]) than the counter holds: the counter went back, which
 * happens when a replica that had not received the last writes was promoted, and the positions
 * after it were handed out already (to publishers, and live on the bus). Old cursors get a gap.
 *
 * With the counter gone, the log starts over from 0. With the counter there, the new epoch begins
 * after it: KEYS[5] (base) holds that seq, and reads leave out the entries at or below it (those of
 * the older epoch that streams still hold). Redis replicates in order, so a promoted replica holds
 * every write up to some point and none after: no stream holds an entry past the counter.
 */
const CURRENT_EPOCH = `
local epoch = redis.call('GET', KEYS[1])
local counter = redis.call('GET', KEYS[2])
if not (epoch and counter) or (epoch == ARGV[2] and tonumber(counter) < tonumber(ARGV[3])) then
  if counter then
    redis.call('SET', KEYS[5], counter)
  else
    redis.call('SET', KEYS[2], '0')
    redis.call('DEL', KEYS[3], KEYS[4], KEYS[5])
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

/** Redis 7.0 as `redis.REDIS_VERSION_NUM` gives it (absent before 7.0). */
const REDIS_7 = 0x070000;

/**
 * Publishes a batch of events of one partition (those published in one tick), in order. KEYS[6..]
 * the streams of the batch's channels. ARGV: candidate epoch, last seen epoch, highest seq seen in
 * it, bus prefix, the expiry margin in ms, `1` for sharded pub/sub (SPUBLISH, used when the server
 * is Redis 7 or later; else PUBLISH), then per channel (in KEYS order) its name, maxLen and
 * maxAgeMs (its retention), then per event its channel's position among them (1-based), its name,
 * its metadata (`""` for none) and its JSON. The events get consecutive seqs from one INCRBY; each
 * is appended to its stream with its channel's previous seq and published as
 * `epoch\nseq\nts\nprev\nevent\nmeta\njson` on its bus channel (`prev` 0 for none), so a subscriber
 * notices a message it never got. Returns { epoch, first seq, ts } (as strings).
 *
 * What is paid once per batch (the epoch check, the clock, the sequence) and once per channel
 * (its last seq, the age check, the expiry) is shared by the batch's events; each event costs an
 * XADD and a PUBLISH. The count cap is `MAXLEN ~` (whole stream nodes at a time: an exact cap
 * marks entries deleted one by one, several times the cost of the append); reads apply the exact
 * cap. A stream expires maxAgeMs plus the margin after its last publish; the expiry is renewed
 * only once it has run below maxAgeMs plus half the margin (PEXPIRE costs several times PTTL).
 */
export const PUBLISH_SCRIPT = `${CURRENT_EPOCH}${NOW}
local channels = #KEYS - 5
local from = 7 + 3 * channels
local n = (#ARGV - from + 1) / 4
local first = redis.call('INCRBY', KEYS[2], n) - n + 1
local ts = string.format('%d', now)
local margin = tonumber(ARGV[5])
local publish = (ARGV[6] == '1' and (redis.REDIS_VERSION_NUM or 0) >= ${REDIS_7}) and 'SPUBLISH' or 'PUBLISH'
local prevs = {}
for c = 1, channels do prevs[c] = redis.call('HGET', KEYS[3], ARGV[4 + 3 * c]) or '0' end
for i = 0, n - 1 do
  local at = from + 4 * i
  local c = tonumber(ARGV[at])
  local seq = string.format('%d', first + i)
  local prev = prevs[c]
  if ARGV[at + 2] == '' then
    redis.call('XADD', KEYS[5 + c], 'MAXLEN', '~', ARGV[5 + 3 * c], seq .. '-0', 'event', ARGV[at + 1], 'json', ARGV[at + 3], 'ts', ts, 'prev', prev)
  else
    redis.call('XADD', KEYS[5 + c], 'MAXLEN', '~', ARGV[5 + 3 * c], seq .. '-0', 'event', ARGV[at + 1], 'json', ARGV[at + 3], 'ts', ts, 'prev', prev, 'meta', ARGV[at + 2])
  end
  redis.call(publish, ARGV[4] .. ARGV[4 + 3 * c], epoch .. '\\n' .. seq .. '\\n' .. ts .. '\\n' .. prev .. '\\n' .. ARGV[at + 1] .. '\\n' .. ARGV[at + 2] .. '\\n' .. ARGV[at + 3])
  prevs[c] = seq
end
for c = 1, channels do
  local key = KEYS[5 + c]
  local channel = ARGV[4 + 3 * c]
  local maxAge = tonumber(ARGV[6 + 3 * c])
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
 * KEYS[6..] the channels' streams (of one partition). ARGV: candidate epoch, last seen epoch,
 * highest seq seen in it, after, limit per channel, then per channel (same order as the streams)
 * its name, maxLen and maxAgeMs. Returns { epoch, head, gone1, events1, gone2, events2, ... } with
 * gone the highest seq of the channel, in this epoch, that retention removed (0 for none; the
 * reader compares it with its position) and events as one flat list of id, event, json, ts, meta
 * (`""` for none) per event (what a reader parses: about half of XRANGE's strings). Entries at or
 * below the epoch's base are not read (they belong to an older epoch).
 *
 * Per channel: the exact count cap (publishes cap approximately), the age trim, then what the log
 * no longer holds: the first retained entry's prev; for an empty or missing stream, the channel's
 * last seq. (An entry without prev, written by an older version, counts everything before it as
 * gone.)
 */
export const SNAPSHOT_SCRIPT = `${CURRENT_EPOCH}${NOW}
local head = redis.call('GET', KEYS[2])
local base = tonumber(redis.call('GET', KEYS[5]) or '0')
local after = math.max(tonumber(ARGV[4]), base)
local limit = tonumber(ARGV[5])
local out = { epoch, head }
for i = 6, #KEYS do
  local key = KEYS[i]
  local j = 3 * (i - 6)
  local channel = ARGV[6 + j]
  local maxLen = tonumber(ARGV[7 + j])
  local cutoff = now - tonumber(ARGV[8 + j])
  ${TRIM_ON_READ}
  local gone
  local first = redis.call('XRANGE', key, '-', '+', 'COUNT', 1)[1]
  if first then
    gone = tonumber(first[2][8] or (tonumber(string.match(first[1], '^(%d+)')) - 1))
  else
    gone = tonumber(redis.call('HGET', KEYS[3], channel) or '0')
  end
  if gone <= base then gone = 0 end
  out[#out + 1] = gone
  -- The events, flat: id, event, json, ts, meta for each (no field names, no nested arrays).
  local flat = {}
  -- (XRANGE … COUNT 0 answers nil: a limit of 0 reads no events.)
  local entries = limit > 0 and redis.call('XRANGE', key, string.format('%d', after + 1) .. '-0', '+', 'COUNT', limit) or {}
  for j, entry in ipairs(entries) do
    ${FLAT_ENTRY}
  end
  out[#out + 1] = flat
end
return out
`;

/**
 * The end of one channel's log, for history. KEYS[6] the channel's stream. ARGV: candidate epoch,
 * last seen epoch, highest seq seen in it, the highest id to read (`{seq}-0`, or `+` for the
 * newest), limit, maxLen, maxAgeMs, the channel. Applies the same trims as a snapshot, then reads
 * backwards down to the epoch's base. Returns { epoch, head, more, events } with events flat as in
 * a snapshot, newest first, and more 1 when older entries (of this epoch) remain.
 */
export const LATEST_SCRIPT = `${CURRENT_EPOCH}${NOW}
local head = redis.call('GET', KEYS[2])
local base = tonumber(redis.call('GET', KEYS[5]) or '0')
local key = KEYS[6]
local channel = ARGV[8]
local limit = tonumber(ARGV[5])
local maxLen = tonumber(ARGV[6])
local cutoff = now - tonumber(ARGV[7])
${TRIM_ON_READ}
local lowest = base > 0 and (string.format('%d', base + 1) .. '-0') or '-'
local entries = redis.call('XREVRANGE', key, ARGV[4], lowest, 'COUNT', limit + 1)
local flat = {}
for j, entry in ipairs(entries) do
  if j > limit then break end
  ${FLAT_ENTRY}
end
return { epoch, head, (#entries > limit) and 1 or 0, flat }
`;

/** The server's version as `redis.REDIS_VERSION_NUM` gives it (0 before Redis 7.0, which lacks it). */
export const VERSION_SCRIPT = `return redis.REDIS_VERSION_NUM or 0`;

/** The first version with sharded pub/sub (SPUBLISH, SSUBSCRIBE), as {@link VERSION_SCRIPT} gives it. */
export const SHARDED_PUBSUB_VERSION = REDIS_7;
