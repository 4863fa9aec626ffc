import type { ModelConfig } from "../config/resolve";

export type CircuitState = "closed" | "open" | "half_open" | "forced_open";

/** What an attempt told the breaker about its model. */
export type Outcome =
  /** `slow`: its first token came later than the model's `slowCallMs` (DESIGN §18). */
  | { kind: "success"; slow?: true }
  | { kind: "failure"; reason: string }
  | { kind: "rate_limited"; retryAfterMs: number | null }
  | { kind: "client_abort" }
  | { kind: "ignored" };

/** Why a circuit turned a request away without calling the model. */
export type SkipReason = "open" | "forced_open" | "half_open_full" | "cooling";

/**
 * A breaker's admission decision. The chain neither knows nor cares whether it came from the
 * isolate's snapshot or a Durable Object round trip.
 */
export type GateDecision =
  | { admitted: true; permitId: string | null; state: CircuitState }
  | {
      admitted: false;
      reason: SkipReason;
      retryAt: number | null;
      state: CircuitState;
    };

/** A gate's yes, with the probe permit it may carry. */
export type Admitted = Extract<GateDecision, { admitted: true }>;
export type Skipped = Extract<GateDecision, { admitted: false }>;

/** What one gated attempt hands back: the caller's value and the breaker's outcome. */
export interface Attempted<T> {
  value: T;
  /**
   * Known at once for a failure before commit; for a committed answer, once it ends. Null: the
   * model was never called (no key to call it with), so there is nothing to report but a probe
   * permit to hand back.
   */
  outcome: Outcome | Promise<Outcome> | null;
}

export type GateRun<T> =
  | { admitted: false; decision: Skipped }
  | {
      admitted: true;
      decision: Admitted;
      value: T;
      /** Settles once the outcome reached the breaker (the chain waits on it for a 429's cool-down). */
      reported: Promise<void>;
    };

/** What the gate needs to know of the attempt it admits. */
export interface AttemptShape {
  /** The upstream streams: a probe's lease lasts `streamTotalMs`, not `requestMs`. */
  stream: boolean;
  /** The request's deadline (epoch ms): waits on the breaker's object end there. */
  deadlineAt: number;
}

/** What the chain asks of a model's breaker. */
export interface ModelGate {
  /**
   * Admission, the attempt and its report as one call: the outcome is reported exactly once on
   * every exit, a thrown error included (as `ignored`, which hands a probe permit back).
   */
  run<T>(model: ModelConfig, shape: AttemptShape, attempt: (admitted: Admitted) => Promise<Attempted<T>>): Promise<GateRun<T>>;
  /** When the model's cool-down ends, as the isolate last heard it (null: not cooling). */
  coolingUntil(model: ModelConfig): number | null;
}
