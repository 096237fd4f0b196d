import { describe, expect, it } from "vitest";
import { decodeCursor, encodeCursor, newEpoch } from "./cursor.js";
import { assertChannelName, assertEventName } from "./names.js";

describe("cursor codec", () => {
  it("round-trips", () => {
    const epoch = newEpoch(1_700_000_000_000, () => 0.5);
    expect(decodeCursor(encodeCursor(epoch, 42))).toEqual({ epoch, seq: 42 });
  });

  it.each([
    "",
    "abc",
    "abc-",
    "-1",
    "ABC-1",
    "abc-01",
    "abc--1",
    "abc-1.5",
    "abc-1\r\nevent: x",
    "abc-1\0",
    "a".repeat(40) + "-1",
    "abc-99999999999999999",
    "abc-9007199254740993",
  ])("rejects malformed cursor %j", (text) => {
    expect(() => decodeCursor(text)).toThrow(expect.objectContaining({ code: "invalid_cursor" }));
  });
});

describe("names", () => {
  it.each(["", "a b", "a\nb", "a\rb", "ch\u2028", "é", "x".repeat(165), "a/b", 'a"b'])("rejects channel %j", (name) => {
    expect(() => assertChannelName(name)).toThrow(expect.objectContaining({ code: "invalid_channel" }));
  });

  it("accepts Pusher-style channel names", () => {
    for (const name of ["user-42", "private-chat.room_1", "presence-lobby", "task-abc=@,.;"]) assertChannelName(name);
  });

  it("rejects reserved and unsafe event names", () => {
    for (const name of ["herald:connected", "pusher:ping", "a\nb", "", 'x"y', 1]) {
      expect(() => assertEventName(name)).toThrow(expect.objectContaining({ code: "invalid_event" }));
    }
    assertEventName("task:progress");
  });
});
