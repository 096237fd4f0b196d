/**
 * A channel map declared once, with zod 4 for one channel pattern and valibot 1 for the others:
 * what the typed-channel tests (runtime and types) share, as an app's `lib/channels.ts` would.
 */
import * as v from "valibot";
import { z } from "zod";
import { defineChannels, type StandardSchemaV1 } from "../../src/protocol/index.js";

/** A Standard Schema written by hand, validating asynchronously: any implementation will do. */
export const asyncPositive: StandardSchemaV1<{ amount: number }> = {
  "~standard": {
    version: 1,
    vendor: "handwritten",
    validate: async (value) => {
      await new Promise((resolve) => setTimeout(resolve, 1));
      const amount = (value as { amount?: unknown } | null)?.amount;
      return typeof amount === "number" && amount > 0
        ? { value: { amount } }
        : { issues: [{ message: "amount must be a positive number", path: ["amount"] }] };
    },
  },
};

export const channels = defineChannels({
  "room-*": {
    message: z.object({ text: z.string().min(1).max(200), from: z.string().default("anonymous") }),
    typing: z.object({ user: z.string() }),
  },
  "room-vip-*": {
    message: z.object({ text: z.string(), tier: z.literal("gold") }),
  },
  notifications: {
    alert: v.object({ level: v.picklist(["info", "warning"]), text: v.pipe(v.string(), v.maxLength(50)) }),
    count: v.pipe(
      v.number(),
      v.transform((n) => Math.round(n)),
    ),
  },
  "private-chat-*": {
    "client-message": v.object({ text: v.string() }),
  },
  payments: { paid: asyncPositive },
});
