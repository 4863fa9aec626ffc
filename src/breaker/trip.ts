/** Decides when a closed circuit opens. Sees only outcomes reported while closed. */
export interface TripRule {
  /** Transition reason used when this rule trips. */
  readonly reason: string;
  onSuccess(now: number): void;
  /** True when the circuit should open now. */
  onFailure(now: number): boolean;
  /** Forget everything: the counters belong to the closed state, which every transition leaves or re-enters fresh. */
  reset(): void;
  toJSON(): TripRuleData;
}

/** One slice of the rate window, keyed by absolute bucket number (floor(now / bucketMs)). */
export interface RateBucket {
  index: number;
  successes: number;
  failures: number;
}

export type TripRuleData = { kind: "consecutive"; failures: number } | { kind: "rate"; bucketMs: number; buckets: RateBucket[] };

/** The part of a breaker's config its trip rule reads. */
export interface TripConfig {
  trip: "consecutive" | "rate";
  failureThreshold: number;
  failureRateThreshold: number;
  minimumCalls: number;
  windowMs: number;
}

/** Saved data of the other kind (the config changed between deploys) is ignored: the rule starts empty. */
export function createTripRule(config: TripConfig, saved?: TripRuleData): TripRule {
  switch (config.trip) {
    case "consecutive":
      return new ConsecutiveFailures(config.failureThreshold, saved?.kind === "consecutive" ? saved.failures : 0);
    case "rate":
      return new FailureRate(config, saved?.kind === "rate" ? saved : undefined);
  }
}

class ConsecutiveFailures implements TripRule {
  readonly reason = "failure_threshold";

  constructor(
    private readonly threshold: number,
    private failures: number,
  ) {}

  onSuccess(): void {
    this.failures = 0;
  }

  onFailure(): boolean {
    this.failures += 1;
    return this.failures >= this.threshold;
  }

  reset(): void {
    this.failures = 0;
  }

  toJSON(): TripRuleData {
    return { kind: "consecutive", failures: this.failures };
  }
}

/**
 * The window is BUCKETS slices of windowMs / BUCKETS, so memory stays bounded however busy the
 * model is. The oldest slice ages out whole, so the window really spans between
 * (BUCKETS - 1) / BUCKETS of windowMs and all of it.
 */
export const BUCKETS = 10;

/** The buckets still inside the window that ends with bucket `index`. */
export function inWindow<B extends { index: number }>(buckets: B[], index: number): B[] {
  // Also drops "future" buckets if the clock stepped back, which keeps at most BUCKETS entries.
  return buckets.filter((b) => b.index > index - BUCKETS && b.index <= index);
}

/** The window slid to bucket `index`, and that bucket (made fresh if it is new). */
export function slide<B extends { index: number }>(buckets: B[], index: number, fresh: (index: number) => B): [B[], B] {
  const live = inWindow(buckets, index);
  const found = live.find((b) => b.index === index);
  if (found) return [live, found];
  const made = fresh(index);
  return [[...live, made], made];
}

class FailureRate implements TripRule {
  readonly reason = "failure_rate";
  private readonly threshold: number;
  private readonly minimumCalls: number;
  private readonly bucketMs: number;
  private buckets: RateBucket[];

  constructor(config: TripConfig, saved: Extract<TripRuleData, { kind: "rate" }> | undefined) {
    this.threshold = config.failureRateThreshold;
    this.minimumCalls = config.minimumCalls;
    this.bucketMs = config.windowMs / BUCKETS;
    // Bucket numbers saved under another window length name other time spans: start over.
    this.buckets = saved !== undefined && saved.bucketMs === this.bucketMs ? saved.buckets.map((b) => ({ ...b })) : [];
  }

  onSuccess(now: number): void {
    this.add(now, false);
  }

  onFailure(now: number): boolean {
    this.add(now, true);
    let calls = 0;
    let failures = 0;
    for (const b of this.buckets) {
      calls += b.successes + b.failures;
      failures += b.failures;
    }
    return calls >= this.minimumCalls && failures / calls >= this.threshold;
  }

  reset(): void {
    this.buckets = [];
  }

  toJSON(): TripRuleData {
    return { kind: "rate", bucketMs: this.bucketMs, buckets: this.buckets.map((b) => ({ ...b })) };
  }

  private add(now: number, failed: boolean): void {
    const [buckets, current] = slide(this.buckets, Math.floor(now / this.bucketMs), (index) => ({
      index,
      successes: 0,
      failures: 0,
    }));
    this.buckets = buckets;
    if (failed) current.failures += 1;
    else current.successes += 1;
  }
}
