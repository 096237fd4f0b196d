/**
 * Partitions of the log. A broker may split its log into a fixed number of partitions (a power of
 * two), each with its own sequence and epoch, so that their writes can go to different Redis
 * masters. Every channel belongs to one partition, by a stable hash of its name that every process
 * (and every broker implementation) computes the same way.
 */
/** Most partitions a log may have. */
export const MAX_PARTITIONS = 256;

/** Checks a partition count: a power of two from 1 to {@link MAX_PARTITIONS}. */
export function checkPartitions(partitions: number): number {
  if (
    !Number.isInteger(partitions) ||
    partitions < 1 ||
    partitions > MAX_PARTITIONS ||
    (partitions & (partitions - 1)) !== 0
  )
    throw new RangeError(`partitions must be a power of two from 1 to ${MAX_PARTITIONS}, got ${partitions}`);
  return partitions;
}

/** The partition of `channel` among `partitions` (FNV-1a of its UTF-16 code units; 0 when there is one). */
export function partitionOf(channel: string, partitions: number): number {
  if (partitions === 1) return 0;
  let hash = 0x811c9dc5;
  for (let i = 0; i < channel.length; i++) {
    hash ^= channel.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) & (partitions - 1);
}
