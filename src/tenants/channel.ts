import { log } from "../core/log";
import { type Batch, type Exchange, SyncChannel } from "../core/sync-channel";
import { epochMinute, type UsageDelta, type UsageView, utcDay } from "./protocol";

export type UsageSync = (batches: Batch<UsageDelta>[]) => Promise<UsageView>;

const NOTHING: UsageDelta = { requests: 0, spendUsd: 0 };

const isAmount = (v: number) => Number.isFinite(v) && v >= 0;

/**
 * One isolate's line to one tenant's usage object: the last view it heard, plus what this isolate
 * counted that the view does not hold yet. Estimates add the two, so a limit holds within one
 * snapshot TTL of traffic per isolate without a round trip per request.
 */
export class UsageChannel extends SyncChannel<UsageDelta, UsageView, UsageView> {
  private pending: UsageDelta = NOTHING;

  constructor(
    private readonly sync: UsageSync,
    bucket: string,
  ) {
    // An anonymous caller's bucket names its IP address: logs say only that it is one.
    super("tenant_usage", { bucket: bucket.startsWith("ip:") ? "ip" : bucket });
  }

  get known(): boolean {
    return this.view() !== null;
  }

  stale(now: number, ttlMs: number): boolean {
    return this.ageMs(now) >= ttlMs;
  }

  estimate(now: number): { minuteRequests: number; daySpendUsd: number } {
    const v = this.view();
    let requests = v && v.minute === epochMinute(now) ? v.minuteRequests : 0;
    let spend = v && v.day === utcDay(now) ? v.daySpendUsd : 0;
    for (const d of [this.pending, ...this.undelivered()]) {
      requests += d.requests;
      spend += d.spendUsd;
    }
    return { minuteRequests: requests, daySpendUsd: spend };
  }

  /** An amount that is no amount (NaN, infinite, negative) is dropped: it would void every limit. */
  add(requests: number, spendUsd: number): void {
    if (!isAmount(requests) || !isAmount(spendUsd)) {
      log("warn", "tenant_usage_delta_dropped", { requests: String(requests), spendUsd: String(spendUsd) });
    }
    this.pending = {
      requests: this.pending.requests + (isAmount(requests) ? requests : 0),
      spendUsd: this.pending.spendUsd + (isAmount(spendUsd) ? spendUsd : 0),
    };
  }

  protected takePending(): UsageDelta | null {
    if (!this.wantsCall()) return null;
    const delta = this.pending;
    this.pending = NOTHING;
    return delta;
  }

  protected wantsCall(): boolean {
    return this.pending.requests > 0 || this.pending.spendUsd > 0;
  }

  protected exchange(batches: Batch<UsageDelta>[]): Exchange<UsageView, UsageView> {
    return { send: () => this.sync(batches), answered: (view) => view, unanswered: () => {} };
  }

  /** Logged by the channel; usage objects keep no metric series of their own. */
  protected counted(): void {}
}
