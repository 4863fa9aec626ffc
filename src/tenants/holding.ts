import { type Amounts, epochMinute, type LeaseGrant, type LeaseLimits } from "./protocol";

/** What an ask told the object this isolate holds: the answer is applied against it. */
export interface Held extends Amounts {
  minute: number;
}

export type Side = keyof Amounts;

/** Usage counted here and not yet sent: the object takes it off the lease when it lands. */
interface Unsent {
  minute: number;
  requests: number;
  usd: number;
}

const NONE: Amounts = { requests: 0, usd: 0 };

/** A waiting request's need on one side, with its floor: a sixteenth of the limit (DESIGN §13's slice policy). */
function wanted(limit: number | null, waiting: number, free: number, taken: number, whole: boolean) {
  if (limit === null) return { need: 0, want: 0 };
  const need = Math.max(0, waiting - free);
  const floor = whole ? Math.ceil(limit / 16) : limit / 16;
  // Twice the pace since the last grant; a request waiting also asks for the floor.
  const target = need > 0 ? Math.max(waiting, 2 * taken, floor) : 2 * taken;
  return { need, want: Math.max(need, target - free) };
}

/**
 * One isolate's share of one bucket's allowance (DESIGN §13): requests it may still admit in
 * `minute`, dollars it holds (free, and reserved by its requests in flight), and until when it may
 * admit against them without word from the usage object. Admission is a local decision against
 * this; only an ask changes what it holds. Times are passed in.
 */
export class Holding {
  private minute = 0;
  private requests = 0;
  private usd = 0;
  private reserved = 0;
  /** Admission against the free part stops then; the object keeps the lease longer (keepMs). */
  until = 0;
  /** Taken since the last grant: the pace the next slice follows. */
  private taken: Amounts = { ...NONE };
  /** What the last grant left to everyone (null: none yet), and the dollars other isolates held then. */
  private spare: Amounts | null = null;
  private othersUsd = 0;

  free(now: number): Amounts {
    const live = now < this.until;
    return {
      requests: live && this.minute === epochMinute(now) ? this.requests : 0,
      usd: live ? this.usd - this.reserved : 0,
    };
  }

  /** The side `need` does not fit on now, requests first; null when it fits. */
  short(now: number, limits: LeaseLimits, need: Amounts): Side | null {
    const free = this.free(now);
    if (limits.requestsPerMinute !== null && need.requests > free.requests) return "requests";
    if (limits.dailyBudgetUsd !== null && need.usd > free.usd) return "usd";
    return null;
  }

  /** The last grant left less than `need` lacks on `side`: the limit is reached, asking again will not help. */
  exhausted(now: number, side: Side, need: Amounts): boolean {
    return this.spare !== null && this.spare[side] < need[side] - this.free(now)[side];
  }

  /** Dollars that may come back soon: reserved by requests in flight here, or held by other isolates. */
  get heldUsd(): number {
    return this.reserved + this.othersUsd;
  }

  take(limits: LeaseLimits, need: Amounts): void {
    if (limits.requestsPerMinute !== null) this.requests -= need.requests;
    if (limits.dailyBudgetUsd !== null) this.reserved += need.usd;
    this.taken = { requests: this.taken.requests + need.requests, usd: this.taken.usd + need.usd };
  }

  /** An attempt's cost: `covered` of it came out of its request's reservation, the rest is beyond it. */
  charge(usd: number, covered: number): void {
    this.usd -= usd;
    this.unreserve(covered);
  }

  unreserve(usd: number): void {
    // Sums of floats: what is left of nothing is nothing.
    this.reserved = Math.max(0, this.reserved - usd);
    if (this.reserved < 1e-12) this.reserved = 0;
  }

  /** A lapsed lease whose free part has not gone back yet. */
  returnable(now: number): boolean {
    return now >= this.until && (this.requests > 0 || this.usd > this.reserved);
  }

  /**
   * What this isolate holds as the object will count it once `unsent` lands (it takes that off
   * again); a lapsed lease's free part goes back here, as it may no longer be admitted against.
   */
  held(now: number, unsent: Unsent): Held {
    if (now >= this.until) {
      this.requests = 0;
      this.usd = Math.min(this.usd, this.reserved);
    }
    const requests = this.requests + (unsent.minute === this.minute ? unsent.requests : 0);
    return { minute: this.minute, requests, usd: Math.max(0, this.usd + unsent.usd) };
  }

  /** What to ask for: the shortfall of the requests waiting, and the slice this isolate's pace wants. */
  wants(now: number, limits: LeaseLimits, waiting: Amounts): { need: Amounts; want: Amounts } {
    const free = this.free(now);
    const r = wanted(limits.requestsPerMinute, waiting.requests, free.requests, this.taken.requests, true);
    const d = wanted(limits.dailyBudgetUsd, waiting.usd, free.usd, this.taken.usd, false);
    return { need: { requests: r.need, usd: d.need }, want: { requests: r.want, usd: d.want } };
  }

  /** The grant that answers the ask which said `sent`, made at `sentAt`. */
  granted(sent: Held, grant: LeaseGrant, limits: LeaseLimits, sentAt: number, termMs: number): void {
    if (limits.dailyBudgetUsd !== null) this.usd += grant.hold.usd - sent.usd;
    if (limits.requestsPerMinute !== null) {
      if (grant.minute === sent.minute) this.requests += grant.hold.requests - sent.requests;
      else this.requests = grant.hold.requests;
      this.minute = grant.minute;
    }
    // A lapsed lease that got nothing stays lapsed; anything else may be admitted against for a term.
    const added = grant.hold.requests > sent.requests || grant.hold.usd > sent.usd;
    if (added || sentAt < this.until) this.until = sentAt + termMs;
    this.spare = grant.spare;
    this.othersUsd = grant.othersUsd;
    this.taken = { ...NONE };
  }
}
