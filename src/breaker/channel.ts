import type { Outcome } from "../core/circuit";
import { log } from "../core/log";
import { type Batch, type Exchange, SyncChannel, type SyncTrouble } from "../core/sync-channel";
import { series } from "../metrics/series";
import { Outbox } from "./outbox";
import type { ObjectSettings, Report, Snapshot, SyncRequest, SyncResponse } from "./protocol";
import type { Admission } from "./state";

export type Sync = (req: SyncRequest) => Promise<SyncResponse>;

/** A request waiting for a probe permit; `gone` once it stopped waiting (a late grant goes back). */
interface Waiter {
  leaseMs: number;
  state: "waiting" | "answered" | "gone";
  grant: Admission | null;
}

/**
 * One isolate's line to one model's Durable Object (DESIGN §2.3, §10): the cached snapshot, the
 * outbox of outcomes and metric deltas, and the permit requests that ride on the next call.
 */
export class ModelChannel extends SyncChannel<Report, SyncResponse, Snapshot> {
  private readonly outbox = new Outbox();
  private waiters: Waiter[] = [];

  constructor(
    private readonly sync: Sync,
    private settings: ObjectSettings,
  ) {
    super("breaker_object", { model: settings.model });
  }

  /** The config changed: later calls carry the new settings (the object's machine follows them). */
  configure(settings: ObjectSettings): void {
    this.settings = settings;
  }

  snapshot(): Snapshot | null {
    return this.view();
  }

  /** Adds to a metric series; it reaches the object with the next report. */
  count(name: string, amount = 1): void {
    this.outbox.count(name, amount);
  }

  /** Null when no answer came in time: the caller decides from the snapshot. */
  async requestPermit(leaseMs: number, waitMs: number): Promise<Admission | null> {
    const waiter: Waiter = { leaseMs, state: "waiting", grant: null };
    this.waiters.push(waiter);
    await this.flush(waitMs);
    const i = this.waiters.indexOf(waiter);
    if (i >= 0) this.waiters.splice(i, 1); // its call never went out
    if (waiter.state === "answered") return waiter.grant;
    waiter.state = "gone";
    return null;
  }

  /** Queues an outcome; failures and probe outcomes go at once unless the circuit is open. */
  report(outcome: Outcome, permitId: string | null, ttlMs: number): Promise<void> {
    this.outbox.add(outcome, permitId);
    const s = this.view();
    if (outcome.kind === "rate_limited" && s) {
      const until = Date.now() + Math.min(outcome.retryAfterMs ?? 1000, this.settings.config.coolingMaxMs);
      this.amendView({ ...s, coolingUntil: Math.max(s.coolingUntil ?? 0, until) });
    }
    const open = s?.state === "open" || s?.state === "forced_open";
    const urgent = permitId !== null || outcome.kind === "rate_limited" || (outcome.kind === "failure" && !open);
    return urgent ? this.flush() : (this.flushWithin(ttlMs) ?? Promise.resolve());
  }

  protected takePending(): Report | null {
    return this.outbox.take();
  }

  protected wantsCall(): boolean {
    return this.waiters.length > 0 || !this.outbox.empty;
  }

  protected exchange(batches: Batch<Report>[]): Exchange<SyncResponse, Snapshot> {
    const waiters = this.waiters.splice(0);
    const request: SyncRequest = { settings: this.settings, reports: batches, permits: waiters.map((w) => w.leaseMs) };
    return {
      send: () => this.sync(request),
      answered: (res) => {
        for (const [i, w] of waiters.entries()) this.settle(w, res.grants[i] ?? null);
        return res.snapshot;
      },
      unanswered: () => {
        for (const w of waiters) if (w.state === "waiting") w.state = "gone";
      },
    };
  }

  protected counted(trouble: SyncTrouble): void {
    const kind = trouble === "dropped" ? "report_dropped" : trouble;
    this.outbox.count(series("gateway_breaker_object_errors_total", { model: this.settings.model, kind }));
  }

  /**
   * A permit granted after its request stopped waiting would hold a half-open slot with no probe
   * behind it until the lease ran out: it is handed back at once, as an ignored outcome.
   */
  private settle(w: Waiter, grant: Admission | null): void {
    if (w.state === "waiting") {
      w.state = "answered";
      w.grant = grant;
      return;
    }
    if (grant?.kind !== "admitted" || grant.permitId === null) return;
    this.outbox.add({ kind: "ignored" }, grant.permitId);
    log("info", "breaker_permit_handed_back", { model: this.settings.model });
    void this.flush();
  }
}
