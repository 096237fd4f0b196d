/** Tokens in Redis: `RedisTokenStore`. */
import type { TokenRecord, TokenStore } from "../server/auth/tokens/store.js";
import type { RedisConnection } from "../brokers/redis.js";

/** Options for {@link RedisTokenStore}. */
export interface RedisTokenStoreOptions {
  /** Key prefix (default `herald`): tokens are `{prefix}:tok:{{id}}`, tombstones `{prefix}:used:{{id}}`. */
  prefix?: string;
}

interface ScriptedTokens {
  heraldTokenTake(token: string, tombstone: string): Promise<string | null>;
}

/**
 * KEYS[1] the token, KEYS[2] its tombstone. `GETDEL` that also writes the tombstone in the same
 * step (for the token's remaining life; `markUsed` then sets its real one), so of two processes
 * verifying one token at once, the one that finds nothing is told `token_used`, never `token_invalid`.
 */
const TAKE_SCRIPT = `
local record = redis.call('GET', KEYS[1])
if not record then return false end
local ttl = redis.call('PTTL', KEYS[1])
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], '1', 'PX', ttl > 0 and ttl or 60000)
return record
`;

/**
 * The {@link TokenStore} on Redis: a token issued by one process is accepted once, by any. One
 * command each: `put` → `SET … PX`, `take` → a `GETDEL` script that writes the tombstone too
 * (atomic: of two processes verifying the same token at once, one gets the record and the other
 * `token_used`), `markUsed` → `SET … PX`, `wasUsed` → `EXISTS`. Records and tombstones expire with
 * Redis' own TTLs. A token and its tombstone share the hash tag `{id}`: one slot per token, so on a
 * Cluster tokens spread over every node.
 */
export class RedisTokenStore implements TokenStore {
  private readonly prefix: string;

  constructor(
    private readonly redis: RedisConnection,
    options: RedisTokenStoreOptions = {},
  ) {
    this.prefix = options.prefix ?? "herald";
    redis.defineCommand("heraldTokenTake", { numberOfKeys: 2, lua: TAKE_SCRIPT });
  }

  private tokenKey(id: string): string {
    return `${this.prefix}:tok:{${id}}`;
  }

  private usedKey(id: string): string {
    return `${this.prefix}:used:{${id}}`;
  }

  async put(id: string, record: TokenRecord, ttlMs: number): Promise<void> {
    await this.redis.set(this.tokenKey(id), JSON.stringify(record), "PX", Math.max(1, Math.ceil(ttlMs)));
  }

  async take(id: string): Promise<TokenRecord | null> {
    const text = await (this.redis as unknown as ScriptedTokens).heraldTokenTake(this.tokenKey(id), this.usedKey(id));
    if (text === null) return null;
    try {
      return JSON.parse(text) as TokenRecord;
    } catch {
      return null;
    }
  }

  async markUsed(id: string, ttlMs: number): Promise<void> {
    await this.redis.set(this.usedKey(id), "1", "PX", Math.max(1, Math.ceil(ttlMs)));
  }

  async wasUsed(id: string): Promise<boolean> {
    return (await this.redis.exists(this.usedKey(id))) === 1;
  }
}
