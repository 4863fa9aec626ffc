import { log } from "../core/log";
import { type Batch, type Exchange, SyncChannel } from "../core/sync-channel";
import {
  epochMinute,
  lifetimeOf,
  MAX_IPS_PER_REPORT,
  type UsageDelta,
  type UsageLifetime,
  type UsageView,
  utcDay,
} from "./protocol";

export type UsageSync = (batches: Batch<UsageDelta>[], lifetime: UsageLifetime) => Promise<UsageView>;

const NOTHING: UsageDelta = { requests: 0, spendUsd: 0 };

const isAmount = (v: number) => Number.isFinite(v) && v >= 0;

/**
 * One isolate's line to one tenant's usage object: the last view it heard, plus what this isolate
 * counted that the view does not hold yet. Estimates add the two, so a limit holds within one
 * snapshot TTL of traffic per isolate without a round trip per request.
 */
export class UsageChannel extends SyncChannel<UsageDelta, UsageView, UsageView> {
  private pending: UsageDelta = NOTHING;
  private ips = new Map<string, number>();
  private readonly lifetime: UsageLifetime;

  constructor(
    private readonly sync: UsageSync,
    bucket: string,
  ) {
    // An IP's bucket names its address: logs say only that it is one.
    super("tenant_usage", { bucket: bucket.startsWith("ip:") ? "ip" : bucket });
    this.lifetime = lifetimeOf(bucket);
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

  /** One request of this tenant's from `ip`, for the tenant's top IPs (its IP object limits it). */
  addIp(ip: string): void {
    const seen = this.ips.get(ip);
    if (seen !== undefined) this.ips.set(ip, seen + 1);
    else if (this.ips.size < MAX_IPS_PER_REPORT) this.ips.set(ip, 1);
  }

  protected takePending(): UsageDelta | null {
    if (!this.wantsCall()) return null;
    const delta = this.ips.size > 0 ? { ...this.pending, ips: Object.fromEntries(this.ips) } : this.pending;
    this.pending = NOTHING;
    this.ips = new Map();
    return delta;
  }

  protected wantsCall(): boolean {
    return this.pending.requests > 0 || this.pending.spendUsd > 0 || this.ips.size > 0;
  }

  protected exchange(batches: Batch<UsageDelta>[]): Exchange<UsageView, UsageView> {
    return { send: () => this.sync(batches, this.lifetime), answered: (view) => view, unanswered: () => {} };
  }

  /** Logged by the channel; usage objects keep no metric series of their own. */
  protected counted(): void {}
}
