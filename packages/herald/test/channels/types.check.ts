/**
 * Type tests of typed channels, compiled by `tsc` in typed-channels.test.ts (never run): every line
 * under `@ts-expect-error` must fail to compile, every other line must compile.
 */
import { expectTypeOf } from "vitest";
import { createHerald } from "../../src/server/index.js";
import { createHeraldHooks } from "../../src/react/index.js";
import { createNodeHandler, createRouteHandlers } from "../../src/next/index.js";
import { createTasks, type Herald } from "../../src/server/index.js";
import type { EventEnvelope } from "../../src/protocol/index.js";
import { channels } from "./channels.fixture.js";

export async function server(roomId: string): Promise<void> {
  const herald = createHerald({ channels });
  await herald.publish("room-lobby", "message", { text: "hi" });
  await herald.publish(`room-${roomId}`, "typing", { user: "ann" });
  await herald.publish("notifications", "alert", { level: "info", text: "x" });
  await herald.publish("notifications", "count", 3);
  await herald.publish("payments", "paid", { amount: 5 });
  // Undeclared channels stay untyped.
  await herald.publish("task-1", "anything", { at: 1 });
  // @ts-expect-error an event the channel does not declare
  await herald.publish("room-lobby", "mesage", { text: "hi" });
  // @ts-expect-error a payload of the wrong shape
  await herald.publish("room-lobby", "message", { txt: "hi" });
  // @ts-expect-error a field of the wrong type
  await herald.publish("room-lobby", "message", { text: 42 });
  // @ts-expect-error a value outside the picklist
  await herald.publish("notifications", "alert", { level: "fatal", text: "x" });
  // @ts-expect-error the more specific pattern's schema applies (tier is required on room-vip-*)
  await herald.publish("room-vip-1", "message", { text: "hi" });
  // @ts-expect-error data is required
  await herald.publish("notifications", "count");

  const page = await herald.history("room-lobby", { limit: 50 });
  for (const event of page.events) {
    if (event.event === "message") expectTypeOf(event.data).toEqualTypeOf<{ text: string; from: string }>();
    else expectTypeOf(event.data).toEqualTypeOf<{ user: string }>();
  }

  // A typed instance goes wherever a Herald does.
  const asPlain: Herald = herald;
  createRouteHandlers({ herald });
  createNodeHandler({ herald });
  createTasks(herald);
  void asPlain;

  // Without a map, everything is as before.
  const plain = createHerald();
  await plain.publish("room-lobby", "whatever", { any: "thing" });
}

const hooks = createHeraldHooks(channels);
const typesOnly = createHeraldHooks<typeof channels>();
/** Presence member info per channel pattern: a type only, as the server signs it. */
type Members = {
  "presence-room-*": { name: string };
  "presence-room-staff-*": { name: string; role: "admin" | "mod" };
};
const withPresence = createHeraldHooks<typeof channels, Members>(channels);

export function Component({ roomId }: { roomId: string | null }): null {
  hooks.useEvent("room-lobby", "message", (data, envelope) => {
    expectTypeOf(data).toEqualTypeOf<{ text: string; from: string }>();
    expectTypeOf(envelope).toEqualTypeOf<EventEnvelope<{ text: string; from: string }>>();
  });
  hooks.useEvent("notifications", "count", (data) => expectTypeOf(data).toEqualTypeOf<number>());
  hooks.useEvent("notifications", "*", (data) =>
    expectTypeOf(data).toEqualTypeOf<number | { level: "info" | "warning"; text: string }>(),
  );
  typesOnly.useEvent(roomId ? `room-${roomId}` : null, "typing", (data) => {
    expectTypeOf(data).toEqualTypeOf<{ user: string }>();
  });
  // @ts-expect-error an event the channel does not declare
  hooks.useEvent("room-lobby", "mesage", () => undefined);
  // @ts-expect-error the handler expects another payload
  hooks.useEvent("room-lobby", "typing", (data: { text: string }) => data);
  // @ts-expect-error the types-only hooks check the same
  typesOnly.useEvent("notifications", "alrt", () => undefined);

  const { events } = hooks.useChannel("room-lobby");
  const last = events.at(-1);
  if (last?.event === "typing") expectTypeOf(last.data).toEqualTypeOf<{ user: string }>();
  // @ts-expect-error `text` is not on every event of the channel
  void last?.data.text;

  const history = typesOnly.useHistory("notifications", { limit: 20 });
  for (const event of history.events) {
    if (event.event === "count") expectTypeOf(event.data).toEqualTypeOf<number>();
  }
  const send = hooks.useClientEvent(`private-chat-${roomId}`, "client-message", (data) =>
    expectTypeOf(data).toEqualTypeOf<{ text: string }>(),
  );
  send({ text: "hi" });
  // @ts-expect-error a client event sends what its schema accepts
  send({ body: "hi" });
  // @ts-expect-error an event the channel does not declare
  hooks.useClientEvent("private-chat-1", "client-typing");
  // Undeclared channels stay untyped.
  hooks.useEvent("anything", "whatever", (data) => expectTypeOf(data).toEqualTypeOf<unknown>());

  // Presence: each member's info is what the presence map declares for the channel.
  const room = withPresence.usePresence(roomId ? `presence-room-${roomId}` : null);
  for (const member of room.members) expectTypeOf(member.info).toEqualTypeOf<{ name: string }>();
  expectTypeOf(room.me?.info).toEqualTypeOf<{ name: string } | undefined>();
  expectTypeOf(room.count).toEqualTypeOf<number>();
  // @ts-expect-error the info declared has no `avatar`
  void room.members[0]?.info.avatar;
  // The most specific pattern applies, as for channel maps.
  const staff = withPresence.usePresence("presence-room-staff-1");
  expectTypeOf(staff.members[0]!.info.role).toEqualTypeOf<"admin" | "mod">();
  // @ts-expect-error a name is a string
  const wrong: number = staff.me!.info.name;
  void wrong;
  // A presence channel the map does not declare, and hooks without a presence map: `unknown`.
  expectTypeOf(withPresence.usePresence("presence-elsewhere").members[0]!.info).toEqualTypeOf<unknown>();
  expectTypeOf(hooks.usePresence("presence-room-1").members[0]!.info).toEqualTypeOf<unknown>();
  // @ts-expect-error unknown info must be narrowed before use
  void hooks.usePresence("presence-room-1").me?.info.name;
  return null;
}
