import { describe, expect, it } from "vitest";
import { defaultAuthorize } from "./authorize.js";
import type { RequestContext } from "./request-context.js";

const request: RequestContext = {
  url: new URL("http://localhost/sse?channel=x"),
  header: () => null,
  ip: undefined,
  channels: ["x"],
  token: null,
};
const alice = { userId: "alice" };
const owners = new Map([["t1", "alice"]]);
const tasks = { ownerOf: async (id: string) => owners.get(id) ?? null };

describe("defaultAuthorize", () => {
  it.each([
    ["user-alice", alice, true],
    ["user-bob", alice, false],
    ["user-alice", null, false],
    ["user-", { userId: "" }, true],
    ["task-t1", alice, true],
    ["task-t1", { userId: "bob" }, false],
    ["task-t2", alice, false],
    ["task-t1", null, false],
    ["private-room", alice, false],
    ["presence-room", alice, false],
    ["news", null, true],
    ["news", alice, true],
  ] as const)("%s for %o → %s", async (channel, principal, allowed) => {
    const authorize = defaultAuthorize({ tasks });
    expect(await authorize(principal, channel, request)).toBe(allowed);
  });

  it("denies task channels when no task lookup is given", async () => {
    expect(await defaultAuthorize()(alice, "task-t1", request)).toBe(false);
  });

  it("hands private- and presence- channels to the app callback with the request", async () => {
    const seen: string[] = [];
    const authorize = defaultAuthorize({
      authorizePrivate: (principal, channel, req) => {
        seen.push(`${principal?.userId ?? "anon"}:${channel}:${req.channels.join()}`);
        return principal?.userId === "alice" && channel.endsWith("-team");
      },
    });
    expect(await authorize(alice, "private-team", request)).toBe(true);
    expect(await authorize(alice, "presence-other", request)).toBe(false);
    expect(await authorize(null, "private-team", request)).toBe(false);
    expect(seen).toEqual(["alice:private-team:x", "alice:presence-other:x", "anon:private-team:x"]);
  });
});
