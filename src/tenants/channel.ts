import { log } from "../core/log";
import { OBJECT_CALL_TIMEOUT_MS, settledWithin, sleep } from "../core/time";
import { epochMinute, type UsageDelta, type UsageView, utcDay } from "./protocol";

/**
 * One isolate's line to one tenant's usage object: the last view it heard, plus what this isolate
 * counted since that view was asked for. Estimates add the two, so a limit holds within one
 * snapshot TTL of traffic per isolate without a round trip per request.
 */
export class UsageChannel {
  private view: UsageView | null = null;
  private fetchedAt = 0;
  private pending: UsageDelta = { requests: 0, spendUsd: 0 };
  /** Local totals, and their values when the current view was requested. */
  private requests = 0;
  private spend = 0;
  private base = { requests: 0, spend: 0 };
  private inflight: Promise<void> | null = null;
  private timerArmed = false;

  constructor(private readonly sync: (delta: UsageDelta) => Promise<UsageView>) {}

  get known(): boolean {
    return this.view !== null;
  }

  stale(now: number, ttlMs: number): boolean {
    return now - this.fetchedAt >= ttlMs;
  }

  estimate(now: number): { minuteRequests: number; daySpendUsd: number } {
    const v = this.view;
    const minute = v && v.minute === epochMinute(now) ? v.minuteRequests : 0;
    const day = v && v.day === utcDay(now) ? v.daySpendUsd : 0;
    return { minuteRequests: minute + this.requests - this.base.requests, daySpendUsd: day + this.spend - this.base.spend };
  }

  add(requests: number, spendUsd: number): void {
    this.requests += requests;
    this.spend += spendUsd;
    this.pending = { requests: this.pending.requests + requests, spendUsd: this.pending.spendUsd + spendUsd };
  }

  /**
   * Sends what is pending (one call in flight at most); resolves once the view is fresh, or after
   * OBJECT_CALL_TIMEOUT_MS, when a call that never settled (its request ended) is given up on.
   */
  async refresh(): Promise<void> {
    const call = this.inflight ?? this.send();
    if (await settledWithin(call, OBJECT_CALL_TIMEOUT_MS)) return;
    if (this.inflight === call) this.inflight = null;
  }

  private send(): Promise<void> {
    const delta = this.pending;
    const base = { requests: this.requests, spend: this.spend };
    this.pending = { requests: 0, spendUsd: 0 };
    const call: Promise<void> = this.sync(delta)
      .then(
        (view) => {
          this.view = view;
          this.fetchedAt = Date.now();
          this.base = base;
        },
        () => {
          this.pending = { requests: this.pending.requests + delta.requests, spendUsd: this.pending.spendUsd + delta.spendUsd };
          log("warn", "tenant_usage_unavailable", {});
        },
      )
      .finally(() => {
        if (this.inflight === call) this.inflight = null;
      });
    this.inflight = call;
    return call;
  }

  /** Arms the report timer; null when it is armed already (another request's waitUntil holds it). */
  flushWithin(ttlMs: number): Promise<void> | null {
    if (this.timerArmed) return null;
    this.timerArmed = true;
    return sleep(ttlMs).then(() => {
      this.timerArmed = false;
      return this.pending.requests > 0 || this.pending.spendUsd > 0 ? this.refresh() : undefined;
    });
  }
}
