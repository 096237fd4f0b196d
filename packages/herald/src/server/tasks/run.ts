/**
 * One task's event pipeline: changes are queued, published on `task-{id}` one at a time, and only
 * then applied to the stored state with the position the broker gave them. So a stored snapshot
 * always equals "every event up to `seq`", and nothing a client replays after it is applied twice.
 */
import { encodePosition, type Position } from "../../protocol/cursor.js";
import { isHeraldError } from "../../protocol/errors.js";
import type { Publisher } from "../core/publish.js";
import { applyTaskEvent } from "../../protocol/tasks.js";
import type { TaskStore } from "./store.js";
import { isFinished, type TaskEventMap, type TaskEventName, type TaskSnapshot } from "./types.js";

/** Longest text chunk published as one event; longer chunks are split. */
export const MAX_TEXT_CHUNK = 8192;

interface Op {
  event: TaskEventName;
  data: TaskEventMap[TaskEventName];
  waiters: Array<() => void>;
}

/** What a pipeline needs from its owner. */
export interface PipelineDeps {
  publisher: Publisher;
  store: TaskStore;
  finishedTtlMs: number;
  now: () => number;
  onError: (error: unknown, taskId: string) => void;
}

/** Serializes one task's events and commits each to the store after the broker has placed it. */
export class TaskPipeline {
  private readonly queue: Op[] = [];
  private pumping = false;
  private idle: Array<() => void> = [];

  constructor(
    /** The committed state: every published event up to `state.seq`. */
    public state: TaskSnapshot,
    private readonly deps: PipelineDeps,
  ) {}

  /** Queues an event; resolves once it is published and stored (or has failed). */
  push<E extends TaskEventName>(event: E, data: TaskEventMap[E]): Promise<void> {
    return new Promise((resolve) => {
      const last = this.queue[this.queue.length - 1];
      if (last && last.event === "progress" && event === "progress") {
        last.data = data;
        last.waiters.push(resolve);
        return;
      }
      if (last && last.event === "text" && event === "text") {
        const merged = (last.data as TaskEventMap["text"]).chunk + (data as TaskEventMap["text"]).chunk;
        if (merged.length <= MAX_TEXT_CHUNK) {
          last.data = { chunk: merged };
          last.waiters.push(resolve);
          return;
        }
      }
      this.queue.push({ event, data, waiters: [resolve] });
      if (!this.pumping) void this.pump();
    });
  }

  /** Resolves when everything queued so far is committed. */
  drained(): Promise<void> {
    if (!this.pumping && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    while (this.queue.length > 0) {
      const op = this.queue.shift()!;
      await this.commit(op);
      for (const resolve of op.waiters) resolve();
    }
    this.pumping = false;
    const idle = this.idle;
    this.idle = [];
    for (const resolve of idle) resolve();
  }

  private async commit(op: Op): Promise<void> {
    const { publisher, store, finishedTtlMs, now, onError } = this.deps;
    const channel = `task-${this.state.id}`;
    let { event, data } = op;
    let at: Position | null = null;
    try {
      at = await publisher.publishAt(channel, event, data);
    } catch (error) {
      onError(error, this.state.id);
      if (event === "result" && isHeraldError(error)) {
        // The result cannot travel (too large, not JSON): the task fails visibly instead.
        event = "error";
        data = { status: "failed", error: { message: `result could not be published: ${error.message}` } };
        try {
          at = await publisher.publishAt(channel, event, data);
        } catch (again) {
          onError(again, this.state.id);
        }
      }
    }
    let next: TaskSnapshot;
    if (at !== null) {
      next = applyTaskEvent(this.state, event, data, at.seq, now(), encodePosition(at.epoch, at.seq, at.partition));
    } else if (
      event === "result" ||
      event === "error" ||
      (event === "status" && isFinished((data as TaskEventMap["status"]).status))
    ) {
      // The broker is unavailable: still record the end, so pollers see it; the position stays put.
      next = {
        ...applyTaskEvent(this.state, event, data, this.state.seq + 1, now(), this.state.cursor),
        seq: this.state.seq,
      };
    } else {
      return;
    }
    this.state = next;
    try {
      await store.put(next, isFinished(next.status) ? finishedTtlMs : undefined);
    } catch (error) {
      onError(error, this.state.id);
    }
  }
}
