import { log } from "./log";
import { OBJECT_CALL_TIMEOUT_MS, settledWithin, sleep } from "./time";

/** A batch of what an isolate tells a Durable Object, with the id that lets the object apply it once. */
export interface Batch<P> {
  id: string;
  data: P;
}

/** Why a call brought no answer; `dropped`: a batch was given up on (the queue was full). */
export type SyncTrouble = "error" | "overloaded" | "timeout" | "dropped";

/** One call, as the specialisation makes it and hears its answer. */
export interface Exchange<R, V> {
  /** Makes the call; run a second time when the runtime says the first failure is retryable. */
  send(): Promise<R>;
  /** The answer came, possibly after the waits gave up on it; returns the view it carries. */
  answered(answer: R): V;
  /** No answer: the call failed, or the wait gave up on it (an answer may still come later). */
  unanswered(): void;
}

interface Flight<P, R, V> {
  batches: Batch<P>[];
  exchange: Exchange<R, V>;
  since: number;
  seq: number;
  abandoned: boolean;
  done: Promise<void>;
}

/** How long an isolate stops waiting on a Durable Object that just failed. */
const UNAVAILABLE_BACKOFF_MS = 1_000;
/** Batches kept for re-sending while the object fails; the oldest go first beyond this. */
const MAX_QUEUED_BATCHES = 16;
/** After this many failed calls in a row that carried batches, every other call goes without. */
const BARE_AFTER_FAILURES = 2;

function troubleOf(err: unknown): { retryable: boolean; overloaded: boolean } {
  const e = err as { retryable?: unknown; overloaded?: unknown } | null;
  return { retryable: e?.retryable === true, overloaded: e?.overloaded === true };
}

/**
 * One isolate's line to one Durable Object (DESIGN §2.3, §10): the last view it heard, batches
 * of what it has to say, and at most one call in flight, which everything else waiting on the
 * object rides on or queues behind. Every wait is bounded by the waiter's own timer: a Durable
 * Object call belongs to the request that started it, and if that request ends first the call
 * may never settle. A failed or abandoned call's batches are queued again with their ids, so the
 * object applies each once. When calls that carry batches keep failing (a batch the object cannot
 * take), every other call goes without them, so the view stays fresh all the same.
 */
export abstract class SyncChannel<P, R, V> {
  private current: V | null = null;
  private fetchedAt = 0;
  private unavailableUntil = 0;
  private queued: Batch<P>[] = [];
  private flight: Flight<P, R, V> | null = null;
  private next: Promise<void> | null = null;
  private timerArmed = false;
  private failures = 0;
  private batchFailures = 0;
  private bareNext = false;
  private seq = 0;
  private viewSeq = 0;

  constructor(
    /** Names the log events: `<what>_unavailable`, `<what>_report_dropped`. */
    private readonly what: string,
    private readonly fields: Record<string, unknown>,
  ) {}

  /** What has accumulated since the last call, emptied; null when there is nothing. */
  protected abstract takePending(): P | null;
  /** Whether something besides queued batches wants a call (pending data, permits). */
  protected abstract wantsCall(): boolean;
  protected abstract exchange(batches: Batch<P>[]): Exchange<R, V>;
  /** Counts a trouble where the specialisation keeps its metrics. */
  protected abstract counted(trouble: SyncTrouble): void;

  /** The last view heard from the object (null before the first answer). */
  view(): V | null {
    return this.current;
  }

  ageMs(now = Date.now()): number {
    return this.current === null ? Number.POSITIVE_INFINITY : now - this.fetchedAt;
  }

  /** Just after a failed call: callers decide from the view rather than wait on the object again. */
  unavailable(now = Date.now()): boolean {
    return this.unavailableUntil > now;
  }

  /**
   * Sends what is queued now, or right after the call in flight; resolves once it is out, or
   * after `waitMs` (the caller's own deadline), whichever is first (bounded).
   */
  flush(waitMs = OBJECT_CALL_TIMEOUT_MS): Promise<void> {
    return this.bounded(this.queue(), waitMs);
  }

  /** A fresh view: the call in flight already is one (bounded, and by `waitMs`). */
  refresh(waitMs = OBJECT_CALL_TIMEOUT_MS): Promise<void> {
    return this.bounded(this.flight?.done ?? this.send(), waitMs);
  }

  /**
   * Arms the timer that bounds how long a quiet isolate sits on what it has to say. Null when it
   * is armed already: another request's waitUntil holds it, so the caller need not.
   */
  flushWithin(ms: number): Promise<void> | null {
    if (this.timerArmed) return null;
    this.timerArmed = true;
    return sleep(ms).then(() => {
      this.timerArmed = false;
      return this.hasWork() ? this.flush() : undefined;
    });
  }

  /** Local knowledge ahead of the object's (a 429 just seen): kept until the next answer. */
  protected amendView(view: V): void {
    this.current = view;
  }

  /** What was taken for sending and is not known to have arrived. */
  protected undelivered(): P[] {
    return [...(this.flight?.batches ?? []), ...this.queued].map((b) => b.data);
  }

  private hasWork(): boolean {
    return this.queued.length > 0 || this.wantsCall();
  }

  private queue(): Promise<void> {
    const flight = this.flight;
    if (!flight) return this.send();
    if (this.next) return this.next;
    const next: Promise<void> = flight.done.then(() => {
      // An abandoned call's follow-up may run long after a newer one took its place.
      if (this.next === next) this.next = null;
      if (this.flight) return this.queue();
      return this.hasWork() ? this.send() : undefined;
    });
    this.next = next;
    return next;
  }

  private async bounded(work: Promise<void>, waitMs: number): Promise<void> {
    if (await settledWithin(work, Math.min(waitMs, OBJECT_CALL_TIMEOUT_MS))) return;
    const flight = this.flight;
    if (!flight || Date.now() - flight.since < OBJECT_CALL_TIMEOUT_MS) return;
    this.flight = null;
    this.next = null;
    flight.abandoned = true;
    this.requeue(flight.batches);
    flight.exchange.unanswered();
    this.failed("timeout", flight.batches.length > 0);
  }

  private send(): Promise<void> {
    const bare = this.bareNext;
    this.bareNext = false;
    const batches = bare ? [] : this.takeBatches();
    const exchange = this.exchange(batches);
    const flight: Flight<P, R, V> = {
      batches,
      exchange,
      since: Date.now(),
      seq: ++this.seq,
      abandoned: false,
      done: Promise.resolve(),
    };
    flight.done = this.call(exchange).then(
      (answer) => this.answered(flight, answer),
      (err: unknown) => this.unanswered(flight, err),
    );
    this.flight = flight;
    return flight.done;
  }

  private takeBatches(): Batch<P>[] {
    const fresh = this.takePending();
    if (fresh !== null) this.queued.push({ id: crypto.randomUUID(), data: fresh });
    const batches = this.queued;
    this.queued = [];
    return batches;
  }

  private answered(flight: Flight<P, R, V>, answer: R): void {
    if (this.flight === flight) this.flight = null;
    // Delivered after all: what was queued again for it need not go a second time.
    if (flight.abandoned) this.queued = this.queued.filter((b) => !flight.batches.includes(b));
    const view = flight.exchange.answered(answer);
    if (flight.seq > this.viewSeq) {
      this.viewSeq = flight.seq;
      this.current = view;
      this.fetchedAt = Date.now();
    }
    this.failures = 0;
    this.unavailableUntil = 0;
    if (flight.batches.length > 0) this.batchFailures = 0;
  }

  private unanswered(flight: Flight<P, R, V>, err: unknown): void {
    if (this.flight === flight) this.flight = null;
    if (flight.abandoned) return; // accounted for when it was given up on
    this.requeue(flight.batches);
    flight.exchange.unanswered();
    this.failed(troubleOf(err).overloaded ? "overloaded" : "error", flight.batches.length > 0);
  }

  private failed(trouble: SyncTrouble, carriedBatches: boolean): void {
    this.failures++;
    this.unavailableUntil = Date.now() + UNAVAILABLE_BACKOFF_MS;
    if (carriedBatches && ++this.batchFailures >= BARE_AFTER_FAILURES) this.bareNext = true;
    this.counted(trouble);
    log("warn", `${this.what}_unavailable`, { ...this.fields, kind: trouble, consecutive: this.failures });
  }

  /** Ahead of anything queued since, keeping order (the consecutive-failure rule depends on it). */
  private requeue(batches: Batch<P>[]): void {
    this.queued = [...batches, ...this.queued];
    while (this.queued.length > MAX_QUEUED_BATCHES) {
      const lost = this.queued.shift();
      this.counted("dropped");
      log("error", `${this.what}_report_dropped`, { ...this.fields, id: lost?.id });
    }
  }

  /** Retries once, with jitter, only what the runtime marks retryable and not overloaded. */
  private async call(exchange: Exchange<R, V>): Promise<R> {
    try {
      return await exchange.send();
    } catch (err) {
      const { retryable, overloaded } = troubleOf(err);
      if (!retryable || overloaded) throw err;
      await sleep(10 + Math.random() * 40);
      return exchange.send();
    }
  }
}
