import type { CircuitState, Outcome } from "../breaker/machine";
import type { ModelConfig } from "../config/resolve";

/**
 * What the chain asks of a model's breaker. The chain neither knows nor cares whether the answer
 * came from the isolate's snapshot or a Durable Object round trip.
 */
export type GateDecision =
  | { admitted: true; permitId: string | null; state: CircuitState }
  | { admitted: false; reason: "open" | "forced_open" | "half_open_full" | "cooling"; retryAt: number | null; state: CircuitState };

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
