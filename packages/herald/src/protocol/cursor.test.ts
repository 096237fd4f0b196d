import { describe, expect, it } from "vitest";
import { decodeCursor, encodeCursor, encodePosition, newEpoch, parsePosition } from "./cursor.js";
import { checkPartitions, partitionOf } from "./partition.js";
import { assertChannelName, assertEventName } from "./names.js";

describe("cursor codec", () => {
  it("round-trips", () => {
    const epoch = newEpoch(1_700_000_000_000, () => 0.5);
    expect(encodePosition(epoch, 42)).toBe(`${epoch}-42`); // one partition: the format cursors always had
    expect(decodeCursor(encodePosition(epoch, 42))).toEqual(new Map([[0, { partition: 0, epoch, seq: 42 }]]));
  });

  it("writes a position per partition, the one asked for first, and reads an event's own position from its id", () => {
    const cursor = new Map([
      [0, { partition: 0, epoch: "aa", seq: 3 }],
      [17, { partition: 17, epoch: "bb", seq: 40 }],
      [5, { partition: 5, epoch: "aa", seq: 9 }],
    ]);
    expect(encodeCursor(cursor)).toBe("aa-3.17:bb-40.5:aa-9");
    const text = encodeCursor(cursor, 17);
    expect(text).toBe("17:bb-40.aa-3.5:aa-9");
    expect(decodeCursor(text)).toEqual(cursor);
    expect(parsePosition(text)).toEqual({ partition: 17, epoch: "bb", seq: 40 });
    expect(parsePosition("nope")).toBeNull();
  });

  it("refuses to write a position the broker damaged: an internal error, not the client's", () => {
    for (const [epoch, seq] of [
      ["a\nb", 1],
      ["", 1],
      ["ab", -1],
      ["ab", 2 ** 53],
    ] as const) {
      expect(() => encodePosition(epoch, seq)).toThrow(/damaged broker data/);
      expect(() => encodePosition(epoch, seq)).not.toThrow(expect.objectContaining({ code: expect.anything() }));
    }
  });

  it("spreads channels over partitions by a stable hash", () => {
    expect(partitionOf("anything", 1)).toBe(0);
    expect(partitionOf("chat-room-1", 32)).toBe(partitionOf("chat-room-1", 32));
    const counts = new Array<number>(8).fill(0);
    for (let i = 0; i < 8000; i++) counts[partitionOf(`task-${i}`, 8)]!++;
    for (const n of counts) expect(n).toBeGreaterThan(800); // about 1,000 each
    expect(() => checkPartitions(3)).toThrow(RangeError);
    expect(() => checkPartitions(512)).toThrow(RangeError);
    expect(checkPartitions(64)).toBe(64);
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
    "abc-1.abc-2", // partition 0 twice
    "3:abc-1.3:abc-2",
    "256:abc-1",
    "03:abc-1",
    "abc-1.",
    ".abc-1",
    "1:abc-1." + "2:abc-1.".repeat(2000) + "3:abc-1",
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
