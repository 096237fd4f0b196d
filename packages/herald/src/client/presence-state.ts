/** The members of the presence channels a client follows, built from `herald:presence` events. */
import type { PresenceMember, PresencePayload } from "../protocol/envelope.js";

/** Who is on a presence channel, as `HeraldClient.presence` returns it. */
export interface PresenceState {
  /** One entry per user, in the order they joined (as this client saw it). */
  members: PresenceMember[];
  /** This client's own member (null until the subscription succeeded, or when unknown). */
  me: PresenceMember | null;
  /** `members.length`. */
  count: number;
}

interface Entry {
  me: string | null;
  members: Map<string, unknown>;
  /** The state last handed out (null: changed since). */
  state: PresenceState | null;
}

/** See the module comment. */
export class PresenceBook {
  readonly #entries = new Map<string, Entry>();

  /** Applies one `herald:presence` payload. */
  apply(payload: PresencePayload): void {
    let p = this.#entries.get(payload.channel);
    if (payload.type === "members" || !p) {
      p = { me: payload.me ?? p?.me ?? null, members: new Map(), state: null };
      this.#entries.set(payload.channel, p);
    }
    for (const m of payload.members ?? []) p.members.set(m.id, m.info);
    if (payload.member) {
      if (payload.type === "added") p.members.set(payload.member.id, payload.member.info);
      else p.members.delete(payload.member.id);
    }
    p.state = null;
  }

  /** The channel's members (the same object until they change), or null before its member list came. */
  get(channel: string): PresenceState | null {
    const p = this.#entries.get(channel);
    if (!p) return null;
    if (!p.state) {
      const members = [...p.members].map(([id, info]) => ({ id, info }));
      const me = members.find((m) => m.id === p.me) ?? null;
      p.state = { members, me, count: members.length };
    }
    return p.state;
  }

  /** Forgets a channel (unsubscribed). */
  forget(channel: string): void {
    this.#entries.delete(channel);
  }
}
