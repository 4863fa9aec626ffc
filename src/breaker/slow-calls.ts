import { BUCKETS, inWindow, slide } from "./trip";

/** The part of a breaker's config the slow-call rate reads (DESIGN §18). */
export interface SlowCallConfig {
  /** Null: no call is slow, and this rate never opens a circuit. */
  slowCallMs: number | null;
  slowCallRateThreshold: number;
  minimumCalls: number;
  windowMs: number;
}

/** One slice of the window, keyed by absolute bucket number like the rate rule's. */
export interface SlowBucket {
  index: number;
  calls: number;
  slow: number;
}

export interface SlowCallData {
  bucketMs: number;
  buckets: SlowBucket[];
  /** Lifetime: only grows, whatever the state. */
  total: number;
}

/**
 * The slow-call rate over the trip rule's window: slow successes among the calls that told the
 * circuit something about the model (successes and failures). It runs beside whichever trip rule
 * is configured, and like it the window belongs to the state it counts in: every transition
 * empties it.
 */
export class SlowCallRate {
  private readonly bucketMs: number;
  private buckets: SlowBucket[];
  private totalSlow: number;

  constructor(
    private readonly config: SlowCallConfig,
    saved: SlowCallData | undefined,
  ) {
    this.bucketMs = config.windowMs / BUCKETS;
    // Bucket numbers saved under another window length name other time spans: start over. So
    // does a window whose slow calls were just switched off, which must then show none.
    const kept = this.enabled && saved !== undefined && saved.bucketMs === this.bucketMs;
    this.buckets = kept ? saved.buckets.map((b) => ({ ...b })) : [];
    this.totalSlow = saved?.total ?? 0;
  }

  /** A config from an isolate that predates slow calls has no `slowCallMs` at all: off too. */
  get enabled(): boolean {
    return typeof this.config.slowCallMs === "number";
  }

  /** A slow call the circuit heard of, whatever its state: the lifetime total. */
  counted(): void {
    if (this.enabled) this.totalSlow += 1;
  }

  /** One call into the window; without `slowCallMs` the window stays empty. */
  add(now: number, slow: boolean): void {
    if (!this.enabled) return;
    const [buckets, current] = slide(this.buckets, this.index(now), (index) => ({ index, calls: 0, slow: 0 }));
    this.buckets = buckets;
    current.calls += 1;
    if (slow) current.slow += 1;
  }

  /** The closed state's rule: the ratio reached, once `minimumCalls` calls are in the window. */
  trips(now: number): boolean {
    const { calls, slow } = this.sums(now);
    return calls >= this.config.minimumCalls && this.reached(calls, slow);
  }

  /** Half-open's: the probes alone, however few, are too slow to close on. */
  tooSlow(now: number): boolean {
    const { calls, slow } = this.sums(now);
    return calls > 0 && this.reached(calls, slow);
  }

  /** Slow calls in the window at `now`; reads without changing anything. */
  slowInWindow(now: number): number {
    return this.sums(now).slow;
  }

  get total(): number {
    return this.totalSlow;
  }

  reset(): void {
    this.buckets = [];
  }

  toJSON(): SlowCallData {
    return { bucketMs: this.bucketMs, buckets: this.buckets.map((b) => ({ ...b })), total: this.totalSlow };
  }

  private reached(calls: number, slow: number): boolean {
    return this.enabled && slow / calls >= this.config.slowCallRateThreshold;
  }

  private sums(now: number): { calls: number; slow: number } {
    let calls = 0;
    let slow = 0;
    for (const b of inWindow(this.buckets, this.index(now))) {
      calls += b.calls;
      slow += b.slow;
    }
    return { calls, slow };
  }

  private index(now: number): number {
    return Math.floor(now / this.bucketMs);
  }
}
