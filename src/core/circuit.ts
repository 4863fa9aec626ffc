import type { ModelConfig } from "../config/resolve";

export type CircuitState = "closed" | "open" | "half_open" | "forced_open";

/** What an attempt told the breaker about its model. */
export type Outcome =
  | { kind: "success" }
  | { kind: "failure"; reason: string }
  | { kind: "rate_limited"; retryAfterMs: number | null }
  | { kind: "client_abort" }
  | { kind: "ignored" };

/** Why a circuit turned a request away without calling the model. */
export type SkipReason = "open" | "forced_open" | "half_open_full" | "cooling";

/**
 * What the chain asks of a model's breaker. The chain neither knows nor cares whether the answer
 * came from the isolate's snapshot or a Durable Object round trip.
 */
export type GateDecision =
  | { admitted: true; permitId: string | null; state: CircuitState }
  | {
      admitted: false;
      reason: SkipReason;
      retryAt: number | null;
      state: CircuitState;
    };

export interface ModelGate {
  admit(model: ModelConfig, stream: boolean): Promise<GateDecision>;
  /**
   * Fire-and-forget: reports ride on later refreshes or go at once (failures, probes, 429s). The
   * promise says when this one reached the breaker; only a caller that needs its answer awaits it.
   */
  report(model: ModelConfig, permitId: string | null, outcome: Outcome): Promise<void>;
  /** When the model's cool-down ends, as the isolate last heard it (null: not cooling). */
  coolingUntil(model: ModelConfig): number | null;
}
