"use server";
import { setTimeout as sleep } from "node:timers/promises";
import { cookies } from "next/headers";
import { counter } from "@/lib/counter";
import { herald } from "@/lib/herald";
import { currentUserId } from "@/lib/session";

export async function startReport() {
  // Resolves with { ok: true, task } or, when refused (signed out, 5 already running), { ok: false, error }.
  return herald.tasks.tryStart(
    await currentUserId(),
    async (task) => {
      task.step("fetch", "active");
      for (let i = 1; i <= 10; i++) {
        await sleep(250, null, { signal: task.signal }); // stops when the task is canceled
        task.progress(i * 5);
      }
      task.step("fetch", "done");
      task.step("write", "active");
      for (const [i, word] of ["Sales", "rose", "in", "every", "region", "this", "month."].entries()) {
        await sleep(250, null, { signal: task.signal });
        task.text(`${word} `);
        task.progress(50 + ((i + 1) / 7) * 50);
      }
      task.step("write", "done");
      return { pages: 12 };
    },
    { title: "Monthly report", steps: ["fetch", "write"] },
  );
}

export async function notifyMe() {
  const userId = await currentUserId();
  if (!userId) throw new Error("sign in first");
  await herald.publish(`user-${userId}`, "notification", { message: `Hello, ${userId}!` });
}

export async function increment() {
  await herald.publish("counter", "update", { count: counter.increment() });
}

export async function signIn(form: FormData) {
  const name = String(form.get("name") ?? "").trim();
  if (!/^[A-Za-z0-9_-]{1,32}$/.test(name)) throw new Error("letters, digits, _ and - only");
  (await cookies()).set("user", name, { httpOnly: true, sameSite: "lax", path: "/" });
}

export async function signOut() {
  (await cookies()).delete("user");
}
