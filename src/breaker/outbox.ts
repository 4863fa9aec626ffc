import type { Outcome } from "../core/circuit";
import { log } from "../core/log";
import type { OutcomeRun, Report } from "./protocol";

function sameOutcome(a: Outcome, b: Outcome): boolean {
  if (a.kind !== b.kind) return false;
  // Slow successes run apart from plain ones: the slow-call rate counts them (DESIGN §18).
  if (a.kind === "success" && b.kind === "success") return (a.slow === true) === (b.slow === true);
  if (a.kind === "failure" && b.kind === "failure") return a.reason === b.reason;
  if (a.kind === "rate_limited" && b.kind === "rate_limited") return a.retryAfterMs === b.retryAfterMs;
  return true;
}

/**
 * Outcomes and metric deltas waiting to reach a model's Durable Object. Order is kept (the
 * consecutive-failure rule depends on it) and equal neighbours are merged into runs (`S×120, F, slow S×3`).
 */
export class Outbox {
  private runs: OutcomeRun[] = [];
  private deltas: Record<string, number> = {};
  private size = 0;

  add(outcome: Outcome, permitId: string | null): void {
    const last = this.runs.at(-1);
    if (permitId === null && last && last.permitId === null && sameOutcome(last.outcome, outcome)) last.n++;
    else this.runs.push({ outcome, n: 1, permitId });
    this.size++;
  }

  /** A value that is no count (NaN, infinite, negative) is dropped: merged, it would spoil the series. */
  count(series: string, amount = 1): void {
    if (!(Number.isFinite(amount) && amount >= 0)) {
      log("warn", "metric_delta_dropped", { series, amount: String(amount) });
      return;
    }
    if (!(series in this.deltas)) this.size++;
    this.deltas[series] = (this.deltas[series] ?? 0) + amount;
  }

  get empty(): boolean {
    return this.size === 0;
  }

  take(): Report | null {
    if (this.empty) return null;
    const report = { outcomes: this.runs, deltas: this.deltas };
    this.runs = [];
    this.deltas = {};
    this.size = 0;
    return report;
  }
}
