"use server";
/** The demo's Server Actions: sign-in/out, starting reports, sending notifications, traffic bursts. */
import { randomBytes } from "node:crypto";
import { revalidatePath } from "next/cache";
import { cookies } from "next/headers";
import { redirect } from "next/navigation";
import type { TaskStartResult } from "herald";
import { getSession, requireSession, secureCookie } from "@/lib/auth";
import { activity, herald } from "@/lib/herald";
import { OPERATIONS_CHANNEL } from "@/lib/operations";
import { addToInbox, checkNotification, type DemoNotification } from "@/lib/inbox";
import { safeNext } from "@/lib/redirect";
import {
  REPORT_LIMIT,
  REPORT_SIZES,
  REPORT_STEPS,
  reportJob,
  type ReportResult,
  type ReportSize,
} from "@/lib/report-job";
import { checkName, encodeSession, newSession, SESSION_COOKIE, SESSION_MAX_AGE } from "@/lib/session";
import { addUser, getUser, removeUser } from "@/lib/users";

/** A refused sign-in: why, and the name as typed (React resets the form after an action). */
export type SignInState = { error: string; name: string };

/** Signs in with a display name and goes back to `next` (a path on this site) or the tasks page. */
export async function signIn(_prev: SignInState | null, form: FormData): Promise<SignInState | null> {
  const typed = String(form.get("name") ?? "").slice(0, 80);
  const checked = checkName(typed);
  if (!checked.ok) return { error: checked.error, name: typed };
  const session = newSession(checked.name);
  const added = addUser(session);
  if (!added.ok) return { error: added.error, name: typed };
  (await cookies()).set(SESSION_COOKIE, encodeSession(session), {
    httpOnly: true,
    sameSite: "lax",
    // Secure in production; DEMO_INSECURE_COOKIE=1 for plain http on a host other than localhost.
    secure: secureCookie(),
    path: "/",
    maxAge: SESSION_MAX_AGE,
  });
  activity("signin", { user: session });
  redirect(safeNext(form.get("next")));
}

/** Signs out: ends the session on the server (the cookie stops working everywhere) and clears the cookie. */
export async function signOut(): Promise<void> {
  const session = await getSession();
  (await cookies()).delete(SESSION_COOKIE);
  if (session) removeUser(session.id); // publishes `session-ended` to the user's other tabs
  redirect("/signin");
}

/** What {@link startReport} answers: the started task, or why not, in words for the page. */
export type StartReportResult = TaskStartResult<ReportResult>;

/**
 * Starts a report; resolves at once with the task's first snapshot while the job runs on. A
 * refusal is answered, never thrown (production Next.js would turn it into a 500 and hide its
 * message): past the cap of {@link REPORT_LIMIT} running reports, and an unknown size (including
 * inherited names such as `constructor` or `__proto__`).
 */
export async function startReport(size: unknown, fail: unknown): Promise<StartReportResult> {
  const session = await requireSession();
  if (typeof size !== "string" || !Object.hasOwn(REPORT_SIZES, size)) {
    const message = `Unknown report size. Pick one of: ${Object.keys(REPORT_SIZES).join(", ")}.`;
    return { ok: false, error: { code: "invalid_request", status: 400, message } };
  }
  const chosen = size as ReportSize;
  const job = reportJob({ size: chosen, fail: fail === true, pace: Number(process.env.DEMO_PACE ?? 1) || 1 });
  // Numbered per user, so reports of one size are told apart.
  const number = nextReportNumber(await herald.tasks.list(session.id));
  const title = `Report ${number} · ${REPORT_SIZES[chosen].rows.toLocaleString("en-US")} rows`;
  const started = await herald.tasks.tryStart<ReportResult>(
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
  if (!started.ok) {
    if (started.error.code !== "too_many_tasks") return started;
    const limit = started.error.limit ?? REPORT_LIMIT;
    return { ok: false, error: { ...started.error, message: `${limit} reports are running; wait for one to finish.` } };
  }
  activity("task-started", { user: session, title });
  // The tasks page is dynamic; drop any copy the client router kept, so it is current after navigation.
  revalidatePath("/tasks");
  return started;
}

/** One more than the highest "Report {n}" among the user's tasks. */
function nextReportNumber(tasks: ReadonlyArray<{ title: string | null }>): number {
  let highest = 0;
  for (const task of tasks) highest = Math.max(highest, Number(/^Report (\d+) /.exec(task.title ?? "")?.[1] ?? 0));
  return highest + 1;
}

/** Sends `message` to user `to` on their `user-{id}` channel. */
export async function sendNotification(
  to: string,
  message: string,
): Promise<{ ok: true } | { ok: false; error: string }> {
  const session = await requireSession();
  const checked = checkNotification(message);
  if (!checked.ok) return checked;
  const text = checked.text;
  const recipient = getUser(String(to));
  if (!recipient) return { ok: false, error: "That user has signed out." };
  const notification: DemoNotification = {
    id: randomBytes(6).toString("base64url"),
    from: { id: session.id, name: session.name },
    message: text,
    at: Date.now(),
  };
  addToInbox(recipient.id, notification);
  await herald.publish(`user-${recipient.id}`, "notification", notification);
  activity("notification", { from: session, to: { id: recipient.id, name: recipient.name } });
  return { ok: true };
}

/** Publishes a burst of events (about 3 s) so the dashboard has traffic to show. */
/**
 * Publishes a latency ping on the operations channel: the browser that asked times it from its
 * request to the event's arrival over its realtime connection.
 */
export async function pingOperations(nonce: string): Promise<void> {
  await requireSession();
  if (!/^[a-z0-9]{1,32}$/.test(nonce)) return;
  await herald.publish(OPERATIONS_CHANNEL, "ping", { nonce });
}

export async function publishBurst(): Promise<void> {
  const session = await requireSession();
  activity("burst", { user: session });
  let n = 0;
  const timer = setInterval(() => {
    for (let i = 0; i < 20; i++)
      void herald.publish("firehose", "sample", { n: n++, v: Math.random() }).catch(() => {});
    if (n >= 600) clearInterval(timer);
  }, 100);
}
