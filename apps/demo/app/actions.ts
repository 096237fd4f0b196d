"use server";
/** The demo's Server Actions: sign-in/out, starting reports, sending notifications, traffic bursts. */
import { randomBytes } from "node:crypto";
import { cookies } from "next/headers";
import { redirect } from "next/navigation";
import type { TaskSnapshot } from "herald";
import { requireSession } from "@/lib/auth";
import { activity, getDemo } from "@/lib/herald";
import { addToInbox, type DemoNotification } from "@/lib/inbox";
import { REPORT_SIZES, REPORT_STEPS, reportJob, type ReportResult, type ReportSize } from "@/lib/report-job";
import { cleanName, encodeSession, newSession, SESSION_COOKIE, SESSION_MAX_AGE } from "@/lib/session";
import { getUser, removeUser, touchUser } from "@/lib/users";

/** Signs in with a display name and goes to `next` (or the tasks page). */
export async function signIn(_prev: { error: string } | null, form: FormData): Promise<{ error: string } | null> {
  const name = cleanName(String(form.get("name") ?? ""));
  if (name.length < 2) return { error: "Pick a name of at least 2 characters." };
  const session = newSession(name);
  (await cookies()).set(SESSION_COOKIE, encodeSession(session), {
    httpOnly: true,
    sameSite: "lax",
    // Behind HTTPS, set DEMO_SECURE_COOKIE=1; the demo itself serves plain http://localhost.
    secure: process.env.DEMO_SECURE_COOKIE === "1",
    path: "/",
    maxAge: SESSION_MAX_AGE,
  });
  touchUser(session);
  activity("signin", { user: session });
  const next = String(form.get("next") ?? "");
  redirect(next.startsWith("/") && !next.startsWith("//") ? next : "/tasks");
}

/** Signs out. */
export async function signOut(): Promise<void> {
  const session = await requireSession();
  (await cookies()).delete(SESSION_COOKIE);
  removeUser(session.id);
  activity("signout", { user: session });
  redirect("/signin");
}

/** Starts a report; resolves at once with the task's first snapshot while the job runs on. */
export async function startReport(size: ReportSize, fail: boolean): Promise<TaskSnapshot<ReportResult>> {
  const session = await requireSession();
  if (!(size in REPORT_SIZES)) throw new Error("unknown size");
  const { tasks } = getDemo();
  const job = reportJob({ size, fail, pace: Number(process.env.DEMO_PACE ?? 1) || 1 });
  const title = `Sales report · ${REPORT_SIZES[size].rows.toLocaleString("en-US")} rows`;
  const snapshot = await tasks.start<ReportResult>(
    session.id,
    async (ctx) => {
      try {
        const result = await job(ctx);
        activity("task-finished", { user: session, title, status: "succeeded" });
        return result;
      } catch (error) {
        activity("task-finished", { user: session, title, status: ctx.signal.aborted ? "canceled" : "failed" });
        throw error;
      }
    },
    { title, steps: REPORT_STEPS },
  );
  activity("task-started", { user: session, title });
  return snapshot;
}

/** Sends `message` to user `to` on their `user-{id}` channel. */
export async function sendNotification(
  to: string,
  message: string,
): Promise<{ ok: true } | { ok: false; error: string }> {
  const session = await requireSession();
  const text = String(message ?? "")
    .trim()
    .slice(0, 280);
  if (text.length === 0) return { ok: false, error: "Write a message first." };
  const recipient = getUser(String(to));
  if (!recipient) return { ok: false, error: "That user has signed out." };
  touchUser(session);
  const notification: DemoNotification = {
    id: randomBytes(6).toString("base64url"),
    from: { id: session.id, name: session.name },
    message: text,
    at: Date.now(),
  };
  addToInbox(recipient.id, notification);
  await getDemo().herald.publish(`user-${recipient.id}`, "notification", notification);
  activity("notification", { from: session, to: { id: recipient.id, name: recipient.name } });
  return { ok: true };
}

/** Publishes a burst of events (about 3 s) so the dashboard has traffic to show. */
export async function publishBurst(): Promise<void> {
  const session = await requireSession();
  const { herald } = getDemo();
  activity("burst", { user: session });
  let n = 0;
  const timer = setInterval(() => {
    for (let i = 0; i < 20; i++)
      void herald.publish("firehose", "sample", { n: n++, v: Math.random() }).catch(() => {});
    if (n >= 600) clearInterval(timer);
  }, 100);
}
