/**
 * Where `RedisBroker` keeps each partition of its log: the keys of one partition share one hash
 * tag, so every script touches one Redis Cluster slot, and the tags of the partitions are chosen so
 * that their slots spread evenly over the 16,384 slots.
 */

/** The keys of one partition and the prefixes of its channels' streams and bus channels. */
export interface PartitionKeys {
  /** The hash tag, braces included (`{herald}` for a single partition). */
  readonly tag: string;
  /** The Cluster slot of every key of the partition. */
  readonly slot: number;
  /** epoch, seq, last, oldest, base: the fixed keys every script takes first, in that order. */
  readonly fixed: readonly [string, string, string, string, string];
  /** A channel's stream is this prefix and the channel's name. */
  readonly stream: string;
  /** A channel's bus (pub/sub) channel is this prefix and the channel's name. */
  readonly bus: string;
}

/** Slots of a Redis Cluster. */
const SLOTS = 16_384;

/** CRC16-CCITT (XMODEM) table, the checksum Redis Cluster hashes keys with. */
const CRC_TABLE = (() => {
  const table = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    table[i] = crc;
  }
  return table;
})();

/** CRC16 `crc` continued over the UTF-8 bytes of `text`. */
function crc16(crc: number, text: string): number {
  for (const byte of new TextEncoder().encode(text))
    crc = ((crc << 8) & 0xffff) ^ CRC_TABLE[((crc >> 8) ^ byte) & 0xff]!;
  return crc;
}

/** CRC16 `crc` continued over the decimal digits of `n`. */
function crc16Digits(crc: number, n: number): number {
  const digits = String(n);
  for (let i = 0; i < digits.length; i++)
    crc = ((crc << 8) & 0xffff) ^ CRC_TABLE[((crc >> 8) ^ digits.charCodeAt(i)) & 0xff]!;
  return crc;
}

/**
 * The Cluster slot of hash tag content `tag` (what stands between the braces): CRC16 of its UTF-8
 * bytes, modulo 16,384, as Redis computes it for any key holding `{tag}`.
 */
export function slotOfTag(tag: string): number {
  return crc16(0, tag) % SLOTS;
}

/**
 * The keys of every partition of prefix `prefix`'s log, partition by partition.
 *
 * One partition keeps the keys of a single-partition log: `{prefix}:epoch`, `{prefix}:seq`,
 * `{prefix}:last`, `{prefix}:oldest`, `{prefix}:base`, streams `{prefix}:log:{channel}` and bus
 * channels `prefix:bus:{channel}` (without a tag: classic pub/sub).
 *
 * With more, partition `p` of `P` has the tag `{prefix:p/P:N}` with the smallest `N` whose slot
 * lies within the first eighth of the slot range [p·16384/P, (p+1)·16384/P) (or, when that takes
 * too long, the closest to that range's start among those tried in it): the partitions' slots are
 * spread evenly, so masters that each own a contiguous share of the slots (what `redis-cli --cluster
 * create` and rebalancing make) get about the same number of partitions. The bus channels carry the
 * tag too (`{prefix:p/P:N}:bus:{channel}`), so a script publishes on them in its own slot (sharded
 * pub/sub). The tag names `P`: another partition count names other keys, and so starts new epochs
 * rather than mixing two layouts' positions.
 */
export function partitionLayout(prefix: string, partitions: number): PartitionKeys[] {
  if (partitions === 1) {
    const tag = `{${prefix}}`;
    return [
      {
        tag,
        slot: slotOfTag(prefix),
        fixed: [`${tag}:epoch`, `${tag}:seq`, `${tag}:last`, `${tag}:oldest`, `${tag}:base`],
        stream: `${tag}:log:`,
        bus: `${prefix}:bus:`,
      },
    ];
  }
  const width = SLOTS / partitions;
  const near = Math.max(1, width / 8);
  const layout: PartitionKeys[] = [];
  for (let p = 0; p < partitions; p++) {
    const start = p * width;
    const head = `${prefix}:${p}/${partitions}:`;
    const crc = crc16(0, head); // the CRC runs on from the fixed part of the tag
    let best: { n: number; slot: number } | undefined;
    for (let n = 0; ; n++) {
      const slot = crc16Digits(crc, n) % SLOTS;
      if (slot < start || slot >= start + width) continue;
      if (!best || slot < best.slot) best = { n, slot };
      if (best.slot < start + near || n >= 100_000) break;
    }
    const tag = `{${head}${best.n}}`;
    layout.push({
      tag,
      slot: best.slot,
      fixed: [`${tag}:epoch`, `${tag}:seq`, `${tag}:last`, `${tag}:oldest`, `${tag}:base`],
      stream: `${tag}:log:`,
      bus: `${tag}:bus:`,
    });
  }
  return layout;
}
