import type { Outcome } from "../core/circuit";
import { log } from "../core/log";
import { OBJECT_CALL_TIMEOUT_MS, settledWithin, sleep } from "../core/time";
import { series } from "../metrics/series";
import { Outbox } from "./outbox";
import type { ObjectSettings, Snapshot, SyncRequest, SyncResponse } from "./protocol";
import type { Admission } from "./state";

export type Sync = (req: SyncRequest) => Promise<SyncResponse>;

interface Waiter {
  leaseMs: number;
  resolve: (grant: Admission | null) => void;
}

/** How long an isolate stops waiting on a Durable Object that just failed. */
const UNAVAILABLE_BACKOFF_MS = 1_000;

function failureKind(err: unknown): { retryable: boolean; overloaded: boolean } {
  const e = err as { retryable?: unknown; overloaded?: unknown } | null;
  return { retryable: e?.retryable === true, overloaded: e?.overloaded === true };
}

/**
 * One isolate's line to one model's Durable Object (DESIGN §2.3, §10): the cached snapshot,
 * the outbox of outcomes, and at most one call in flight. Everything that wants the object while
 * a call is out (refreshes, permits, urgent reports) rides on the single next call.
 */
export class ModelChannel {
  snapshot: Snapshot | null = null;
  fetchedAt = 0;
  /** After a failed call, requests stop waiting on the object for a while and use the snapshot. */
  unavailableUntil = 0;
  readonly outbox = new Outbox();
  private waiters: Waiter[] = [];
  private inflight: Promise<void> | null = null;
  private inflightSince = 0;
  private next: Promise<void> | null = null;
  private timerArmed = false;

  constructor(
    private readonly sync: Sync,
    public settings: ObjectSettings,
  ) {}

  /** Sends what is queued now, or right after the call in flight; resolves once it is out. */
  flush(): Promise<void> {
    return this.bounded(this.queue());
  }

  /** A fresh snapshot: the call in flight already is one. */
  refresh(): Promise<void> {
    return this.bounded(this.inflight ?? this.send());
  }

  /** Null when no answer came: the caller decides from the snapshot. */
  requestPermit(leaseMs: number): Promise<Admission | null> {
    return new Promise((resolve) => {
      const waiter = { leaseMs, resolve };
      this.waiters.push(waiter);
      void this.flush().then(() => {
        // Given up on before its call went out: a permit granted later would go unused.
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve(null);
      });
    });
  }

  private queue(): Promise<void> {
    if (!this.inflight) return this.send();
    this.next ??= this.inflight.then(() => {
      this.next = null;
      if (this.inflight) return this.queue();
      return this.waiters.length > 0 || !this.outbox.empty ? this.send() : undefined;
    });
    return this.next;
  }

  /**
   * Every wait on the shared call is bounded by the waiter's own timer. A Durable Object call
   * belongs to the request that started it; if that request ends first, the call never settles,
   * and without this every later request would wait on it forever.
   */
  private async bounded(work: Promise<void>): Promise<void> {
    if (await settledWithin(work, OBJECT_CALL_TIMEOUT_MS)) return;
    if (this.inflight && Date.now() - this.inflightSince >= OBJECT_CALL_TIMEOUT_MS) {
      this.inflight = null;
      this.next = null;
      this.unavailableUntil = Date.now() + UNAVAILABLE_BACKOFF_MS;
      this.outbox.count(series("gateway_breaker_object_errors_total", { model: this.settings.model, kind: "timeout" }));
      log("warn", "breaker_object_call_abandoned", { model: this.settings.model });
    }
  }

  /** Queues an outcome; failures and probe outcomes go at once unless the circuit is open. */
  report(outcome: Outcome, permitId: string | null, ttlMs: number): Promise<void> {
    this.outbox.add(outcome, permitId);
    if (outcome.kind === "rate_limited" && this.snapshot) {
      const until = Date.now() + Math.min(outcome.retryAfterMs ?? 1000, this.settings.config.coolingMaxMs);
      this.snapshot = { ...this.snapshot, coolingUntil: Math.max(this.snapshot.coolingUntil ?? 0, until) };
    }
    const open = this.snapshot?.state === "open" || this.snapshot?.state === "forced_open";
    const urgent = permitId !== null || outcome.kind === "rate_limited" || (outcome.kind === "failure" && !open);
    return urgent ? this.flush() : (this.flushWithin(ttlMs) ?? Promise.resolve());
  }

  /**
   * Arms the timer that bounds how long a quiet isolate sits on its reports. Null when it is
   * armed already: another request's waitUntil holds it, so the caller need not.
   */
  flushWithin(ttlMs: number): Promise<void> | null {
    if (this.timerArmed) return null;
    this.timerArmed = true;
    return sleep(ttlMs).then(() => {
      this.timerArmed = false;
      return this.outbox.empty ? undefined : this.flush();
    });
  }

  private send(): Promise<void> {
    const waiters = this.waiters.splice(0);
    const report = this.outbox.take();
    const request: SyncRequest = { settings: this.settings, report, permits: waiters.map((w) => w.leaseMs) };
    const call: Promise<void> = this.call(request)
      .then(
        (res) => {
          this.snapshot = res.snapshot;
          this.fetchedAt = Date.now();
          this.unavailableUntil = 0;
          for (const [i, w] of waiters.entries()) w.resolve(res.grants[i] ?? null);
        },
        (err: unknown) => {
          if (report) this.outbox.restore(report);
          const { overloaded } = failureKind(err);
          const kind = overloaded ? "overloaded" : "error";
          this.unavailableUntil = Date.now() + UNAVAILABLE_BACKOFF_MS;
          this.outbox.count(series("gateway_breaker_object_errors_total", { model: this.settings.model, kind }));
          log("warn", "breaker_object_unavailable", { model: this.settings.model, kind });
          for (const w of waiters) w.resolve(null);
        },
      )
      .finally(() => {
        if (this.inflight === call) this.inflight = null;
      });
    this.inflight = call;
    this.inflightSince = Date.now();
    return call;
  }

  /** Retries once, with jitter, only what the runtime marks retryable and not overloaded. */
  private async call(request: SyncRequest): Promise<SyncResponse> {
    try {
      return await this.sync(request);
    } catch (err) {
      const { retryable, overloaded } = failureKind(err);
      if (!retryable || overloaded) throw err;
      await sleep(10 + Math.random() * 40);
      return this.sync(request);
    }
  }
}
