import { log } from "../core/log";
import { type Batch, type Exchange, SyncChannel } from "../core/sync-channel";
import { sleep } from "../core/time";
import { type Held, Holding } from "./holding";
import { PendingUsers } from "./pending-users";
import {
  type Amounts,
  epochMinute,
  isPersonal,
  type LeaseAsk,
  type LeaseLimits,
  lifetimeOf,
  MAX_IPS_PER_REPORT,
  type UsageAnswer,
  type UsageDelta,
  type UsageLifetime,
  type UsageView,
  type UserTag,
} from "./protocol";

export type UsageSync = (batches: Batch<UsageDelta>[], lifetime: UsageLifetime, ask?: LeaseAsk) => Promise<UsageAnswer>;

/** How an isolate leases from this bucket: set by the guard from the settings on each admission. */
export interface LeaseTerms {
  limits: LeaseLimits;
  /** How long a grant may be admitted against. */
  termMs: number;
  /** How long the object keeps this isolate's dollars without word from it: a term and a request's longest life. */
  keepMs: number;
}

const isAmount = (v: number) => Number.isFinite(v) && v >= 0;
const limited = (l: LeaseLimits) => l.requestsPerMinute !== null || l.dailyBudgetUsd !== null;

/**
 * One isolate's line to one bucket's usage object (DESIGN §13): what this isolate counted and has
 * not sent yet, and its Holding, the lease it admits requests against with no round trip. Every
 * call for a limited bucket carries an ask, so the report that rides on it renews the lease too.
 */
export class UsageChannel extends SyncChannel<UsageDelta, UsageAnswer, UsageView> {
  /** This isolate's name on the object's leases. */
  readonly holder = crypto.randomUUID();
  readonly holding = new Holding();
  terms: LeaseTerms | null = null;
  /** Requests waiting on a grant, and the dollars they would reserve. */
  readonly waitingFor: Amounts = { requests: 0, usd: 0 };
  /** Grants heard: a waiter that sees this unchanged after its wait heard nothing. */
  grants = 0;
  private pending: UsageDelta = { requests: 0, spendUsd: 0, minute: 0 };
  private ips = new Map<string, number>();
  private readonly users = new PendingUsers();
  private lastBatch = 0;
  private lastAsk = 0;
  /** The until the latest give-back timer waits for. */
  private armedUntil = 0;
  private readonly lifetime: UsageLifetime;

  constructor(
    private readonly sync: UsageSync,
    bucket: string,
  ) {
    // An IP's or a user's bucket names them: logs say only which kind it is.
    super("tenant_usage", { bucket: isPersonal(bucket) ? bucket.slice(0, bucket.indexOf(":")) : bucket });
    this.lifetime = lifetimeOf(bucket);
  }

  /**
   * Counts requests admitted at `now` and dollars spent, for end user `user` too when a tenant's
   * request has one; an amount that is no amount (NaN, negative) is dropped.
   */
  add(requests: number, spendUsd: number, now = Date.now(), user?: UserTag): void {
    const valid = isAmount(requests) && isAmount(spendUsd);
    if (!valid) log("warn", "tenant_usage_delta_dropped", { requests: String(requests), spendUsd: String(spendUsd) });
    const p = this.pending;
    const minute = epochMinute(now);
    if (p.minute !== minute) this.users.newMinute();
    if (user && valid) this.users.add(user, requests, spendUsd);
    // Requests of a minute that is over count in the day only, not in the next minute.
    const earlier = (p.earlierRequests ?? 0) + (p.minute === minute ? 0 : p.requests);
    this.pending = {
      requests: (p.minute === minute ? p.requests : 0) + (isAmount(requests) ? requests : 0),
      spendUsd: p.spendUsd + (isAmount(spendUsd) ? spendUsd : 0),
      minute,
      ...(earlier > 0 ? { earlierRequests: earlier } : {}),
    };
  }

  /** One request of this tenant's from `ip`, for the tenant's top IPs (its IP object limits it). */
  addIp(ip: string): void {
    const seen = this.ips.get(ip);
    if (seen !== undefined) this.ips.set(ip, seen + 1);
    else if (this.ips.size < MAX_IPS_PER_REPORT) this.ips.set(ip, 1);
  }

  /**
   * Arms the timer that hands back a lapsed lease's free part (DESIGN §13), for the current
   * lease; null when one is armed for it already.
   */
  giveBackTimer(): Promise<void> | null {
    const until = this.holding.until;
    if (until <= this.armedUntil) return null;
    this.armedUntil = until;
    return this.giveBack(until);
  }

  private async giveBack(target: number): Promise<void> {
    for (;;) {
      await sleep(Math.max(0, target - Date.now()) + 5);
      if (this.armedUntil !== target) return; // a later timer took over
      if (Date.now() < this.holding.until) {
        // Renewed without an admission to arm a timer for it: wait for the new end.
        target = this.armedUntil = this.holding.until;
        continue;
      }
      if (this.holding.returnable(Date.now())) await this.flush();
      return;
    }
  }

  protected takePending(): UsageDelta | null {
    if (!this.hasUsage()) return null;
    const delta: UsageDelta = { ...this.pending, holder: this.holder, seq: ++this.lastBatch };
    if (this.ips.size > 0) delta.ips = Object.fromEntries(this.ips);
    if (this.users.size > 0) delta.users = this.users.take();
    this.pending = { requests: 0, spendUsd: 0, minute: this.pending.minute };
    this.ips = new Map();
    return delta;
  }

  protected wantsCall(): boolean {
    return this.hasUsage() || this.holding.returnable(Date.now());
  }

  private hasUsage(): boolean {
    const p = this.pending;
    return p.requests > 0 || (p.earlierRequests ?? 0) > 0 || p.spendUsd > 0 || this.ips.size > 0 || this.users.size > 0;
  }

  protected exchange(batches: Batch<UsageDelta>[]): Exchange<UsageAnswer, UsageView> {
    const terms = this.terms;
    if (terms === null || !limited(terms.limits)) {
      return { send: () => this.sync(batches, this.lifetime), answered: (view) => view, unanswered: () => {} };
    }
    const now = Date.now();
    const { unsent, asOf } = this.unsent();
    const hold = this.holding.held(now, unsent);
    const ask = this.ask(now, terms, hold, asOf);
    return {
      send: () => this.sync(batches, this.lifetime, ask),
      answered: (answer) => {
        // Only the latest ask's grant: an earlier one's was replaced on the object by the latest.
        if (answer.lease && answer.lease.op === this.lastAsk) {
          this.holding.granted(hold, answer.lease, terms.limits, now, terms.termMs);
          this.grants++;
        }
        return answer;
      },
      unanswered: () => {},
    };
  }

  /**
   * What this isolate used that the object has not counted: what is pending, and batches queued
   * again after failed calls that this call does not carry (a call without reports). The lease
   * holds them until they land, and `asOf` stops short of them, so the object takes each off the
   * lease when it arrives rather than counting it nowhere meanwhile.
   */
  private unsent(): { unsent: { minute: number; requests: number; usd: number }; asOf: number } {
    const p = this.pending;
    const unsent = { minute: p.minute ?? 0, requests: p.requests, usd: p.spendUsd };
    let asOf = this.lastBatch;
    for (const d of this.undelivered()) {
      if (d.minute === unsent.minute) unsent.requests += d.requests;
      unsent.usd += d.spendUsd;
      if (d.seq !== undefined) asOf = Math.min(asOf, d.seq - 1);
    }
    return { unsent, asOf };
  }

  private ask(now: number, terms: LeaseTerms, hold: Held, asOf: number): LeaseAsk {
    const { need, want } = this.holding.wants(now, terms.limits, this.waitingFor);
    return {
      holder: this.holder,
      op: ++this.lastAsk,
      asOf,
      limits: terms.limits,
      hold,
      need,
      want,
      keepMs: terms.keepMs,
    };
  }

  /** Logged by the channel; usage objects keep no metric series of their own. */
  protected counted(): void {}
}
