/** Who is signed in, kept in memory (one process), newest first. */
import type { Session } from "./session";

/** A signed-in user as others see them. */
export interface DemoUser {
  id: string;
  name: string;
  /** When they signed in (or were first seen by this process), ms since the epoch. */
  since: number;
}

const store = globalThis as { __heraldDemoUsers?: Map<string, DemoUser> };
const users = (store.__heraldDemoUsers ??= new Map());

/** Records `session` as signed in (again); returns true when it was not known. */
export function touchUser(session: Session): boolean {
  const existing = users.get(session.id);
  if (existing) {
    existing.name = session.name;
    return false;
  }
  users.set(session.id, { id: session.id, name: session.name, since: Date.now() });
  return true;
}

/** Forgets a user (sign-out). */
export function removeUser(id: string): void {
  users.delete(id);
}

/** One user, or null. */
export function getUser(id: string): DemoUser | null {
  return users.get(id) ?? null;
}

/** Everyone signed in, newest first. */
export function listUsers(): DemoUser[] {
  return [...users.values()].sort((a, b) => b.since - a.since);
}

/** How many are signed in. */
export function userCount(): number {
  return users.size;
}
