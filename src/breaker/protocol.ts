import type { CircuitState, Outcome } from "../core/circuit";
import type { Batch } from "../core/sync-channel";
import type { Admission, BreakerConfig, CircuitView, Transition } from "./state";

/**
 * What isolates and a model's Durable Object say to each other (DESIGN §2.3, §10). A report
 * carries outcomes in the order they happened, run-length encoded (`S×120, F, S×30`; slow
 * successes, DESIGN §18, make runs of their own), plus additive deltas of metric series, so a
 * busy model costs one call per isolate per TTL.
 */
export interface OutcomeRun {
  outcome: Outcome;
  n: number;
  /** Set on a half-open probe's outcome: it is never merged with others. */
  permitId: string | null;
}

export interface Report {
  outcomes: OutcomeRun[];
  /** Prometheus series (name with labels) → amount to add. */
  deltas: Record<string, number>;
}

/** Per-call settings: the caller's config wins, so every isolate and the object agree. */
export interface ObjectSettings {
  model: string;
  config: BreakerConfig;
  alertWebhookUrl: string | null;
}

export interface SyncRequest {
  settings: ObjectSettings;
  /** Oldest first; a batch sent again (its answer was lost) keeps its id and is applied once. */
  reports: Batch<Report>[];
  /** One lease length per permit wanted (stream or not decides it). */
  permits: number[];
}

/** What an isolate caches about a circuit; enough to decide CLOSED and OPEN locally. */
export interface Snapshot {
  state: CircuitState;
  nextAttemptAt: number | null;
  coolingUntil: number | null;
  /** half_open with every slot leased: when a slot frees at the latest. */
  recheckAt: number | null;
}

export interface SyncResponse {
  snapshot: Snapshot;
  grants: Admission[];
}

export interface TransitionRecord extends Transition {
  model: string;
}

export interface CircuitDetail extends CircuitView {
  model: string;
  config: BreakerConfig;
  /** Calls this object answered; the steady-state cost the bench and tests count. */
  calls: number;
  transitions: TransitionRecord[];
}
