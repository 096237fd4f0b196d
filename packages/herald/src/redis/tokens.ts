/** Tokens in Redis: `RedisTokenStore`. */
import type { TokenRecord, TokenStore } from "../server/auth/tokens/store.js";
import type { RedisConnection } from "../brokers/redis.js";

/** Options for {@link RedisTokenStore}. */
export interface RedisTokenStoreOptions {
  /** Key prefix (default `herald`): tokens are `{prefix}:tok:{id}`, tombstones `{prefix}:used:{id}`. */
  prefix?: string;
}

/**
 * The {@link TokenStore} on Redis: a token issued by one process is accepted once, by any. One
 * command each: `put` → `SET … PX`, `take` → `GETDEL` (atomic: of two processes verifying the same
 * token at once, one gets the record and the other `token_used`), `markUsed` → `SET … PX`,
 * `wasUsed` → `EXISTS`. Records and tombstones expire with Redis' own TTLs. Each command touches one
 * key, so on a Cluster they spread over every node.
 */
export class RedisTokenStore implements TokenStore {
  private readonly prefix: string;

  constructor(
    private readonly redis: RedisConnection,
    options: RedisTokenStoreOptions = {},
  ) {
    this.prefix = options.prefix ?? "herald";
  }

  async put(id: string, record: TokenRecord, ttlMs: number): Promise<void> {
    await this.redis.set(`${this.prefix}:tok:${id}`, JSON.stringify(record), "PX", Math.max(1, Math.ceil(ttlMs)));
  }

  async take(id: string): Promise<TokenRecord | null> {
    const text = await this.redis.getdel(`${this.prefix}:tok:${id}`);
    if (text === null) return null;
    try {
      return JSON.parse(text) as TokenRecord;
    } catch {
      return null;
    }
  }

  async markUsed(id: string, ttlMs: number): Promise<void> {
    await this.redis.set(`${this.prefix}:used:${id}`, "1", "PX", Math.max(1, Math.ceil(ttlMs)));
  }

  async wasUsed(id: string): Promise<boolean> {
    return (await this.redis.exists(`${this.prefix}:used:${id}`)) === 1;
  }
}
