import type { ModelConfig } from "../config/resolve";
import type { Settings } from "../config/settings";
import type { Admitted, Attempted, AttemptShape, GateDecision, GateRun, ModelGate, Outcome } from "../core/circuit";
import { series } from "../metrics/series";
import type { ModelChannel } from "./channel";
import type { ObjectSettings, Snapshot } from "./protocol";
import type { Admission, BreakerConfig } from "./state";

/** The Durable Object's settings for a model, built from the isolate's validated config. */
export function objectSettings(model: ModelConfig, settings: Settings): ObjectSettings {
  const config: BreakerConfig = { ...model.breaker, coolingMaxMs: settings.config.retry.maxDelayMs };
  return { model: model.name, config, alertWebhookUrl: settings.alertWebhookUrl };
}

/**
 * Admission as DESIGN §2.3 lays it out: CLOSED and OPEN are decided from the isolate's snapshot
 * with no round trip; only a cold isolate, an open circuit past its wait and HALF_OPEN ask the
 * Durable Object, which alone hands out probe permits.
 */
export class BreakerGate implements ModelGate {
  constructor(
    private readonly channel: (model: ModelConfig) => ModelChannel,
    /** `snapshotTtlMs`, read once for the request. */
    private readonly ttlMs: number,
    private readonly waitUntil: (work: Promise<unknown>) => void,
  ) {}

  /** Waits on the object end at the request's deadline: past it, the snapshot decides. */
  private async admit(model: ModelConfig, attempt: AttemptShape): Promise<GateDecision> {
    const ch = this.channel(model);
    const ttl = this.ttlMs;
    const waitMs = () => Math.max(0, attempt.deadlineAt - Date.now());
    if (ch.unavailable() || waitMs() === 0) return this.fromSnapshot(ch.snapshot());
    if (ch.snapshot() !== null && ch.ageMs() >= 2 * ttl) {
      // Too old to trust, whatever it says (a reset or an opening elsewhere): a bounded wait for a
      // fresh one, so an isolate that had not asked about this model for a while decides on news.
      await ch.refresh(waitMs());
      if (ch.unavailable() || ch.ageMs() >= 2 * ttl) return this.fromSnapshot(ch.snapshot());
    }
    const local = this.decideLocally(ch.snapshot(), Date.now());
    if (local) {
      if (ch.ageMs() >= ttl) this.waitUntil(ch.refresh());
      if (!local.admitted) ch.count(series("gateway_local_skips_total", { model: model.name, reason: local.reason }));
      return local;
    }
    const leaseMs = attempt.stream ? model.timeouts.streamTotalMs : model.timeouts.requestMs;
    const grant = await ch.requestPermit(leaseMs + LEASE_MARGIN_MS, waitMs());
    return grant ? this.fromGrant(grant, ch.snapshot()) : this.fromSnapshot(ch.snapshot());
  }

  async run<T>(
    model: ModelConfig,
    shape: AttemptShape,
    attempt: (admitted: Admitted) => Promise<Attempted<T>>,
  ): Promise<GateRun<T>> {
    const decision = await this.admit(model, shape);
    if (!decision.admitted) return { admitted: false, decision };
    let attempted: Attempted<T>;
    try {
      attempted = await attempt(decision);
    } catch (err) {
      this.report(model, decision.permitId, IGNORED);
      throw err;
    }
    if (attempted.outcome === null) {
      const handedBack = decision.permitId === null ? Promise.resolve() : this.report(model, decision.permitId, IGNORED);
      return { admitted: true, decision, value: attempted.value, reported: handedBack };
    }
    const reported = Promise.resolve(attempted.outcome).then(
      (outcome) => this.report(model, decision.permitId, outcome),
      () => this.report(model, decision.permitId, IGNORED),
    );
    this.waitUntil(reported);
    return { admitted: true, decision, value: attempted.value, reported };
  }

  private report(model: ModelConfig, permitId: string | null, outcome: Outcome): Promise<void> {
    const delivered = this.channel(model).report(outcome, permitId, this.ttlMs);
    this.waitUntil(delivered);
    return delivered;
  }

  coolingUntil(model: ModelConfig): number | null {
    const until = this.channel(model).snapshot()?.coolingUntil ?? null;
    return until !== null && until > Date.now() ? until : null;
  }

  /** Null when only the Durable Object can decide (no snapshot, open past its wait, half-open). */
  private decideLocally(s: Snapshot | null, now: number): GateDecision | null {
    if (!s) return null;
    if (s.coolingUntil !== null && s.coolingUntil > now) {
      return { admitted: false, reason: "cooling", retryAt: s.coolingUntil, state: s.state };
    }
    switch (s.state) {
      case "closed":
        return { admitted: true, permitId: null, state: "closed" };
      case "open":
        if (s.nextAttemptAt !== null && s.nextAttemptAt > now) {
          return { admitted: false, reason: "open", retryAt: s.nextAttemptAt, state: "open" };
        }
        return null;
      case "forced_open":
        if (s.nextAttemptAt === null || s.nextAttemptAt > now) {
          return { admitted: false, reason: "forced_open", retryAt: s.nextAttemptAt, state: "forced_open" };
        }
        return null;
      case "half_open":
        if (s.recheckAt !== null && s.recheckAt > now) {
          return { admitted: false, reason: "half_open_full", retryAt: s.recheckAt, state: "half_open" };
        }
        return null;
    }
  }

  private fromGrant(grant: Admission, s: Snapshot | null): GateDecision {
    const state = s?.state ?? "closed";
    if (grant.kind === "admitted") return { admitted: true, permitId: grant.permitId, state };
    return { admitted: false, reason: grant.reason, retryAt: grant.retryAt, state };
  }

  /**
   * The Durable Object did not answer: the last snapshot stands, whatever its age (closed admits,
   * open skips until its time). A half-open circuit skips too: only the object may hand out probes.
   */
  private fromSnapshot(s: Snapshot | null): GateDecision {
    if (!s) return { admitted: true, permitId: null, state: "closed" };
    const local = this.decideLocally(s, Date.now());
    if (local) return local;
    if (s.state === "open" || s.state === "forced_open")
      return { admitted: false, reason: s.state, retryAt: s.nextAttemptAt, state: s.state };
    return {
      admitted: false,
      reason: "half_open_full",
      retryAt: Date.now() + this.ttlMs,
      state: s.state,
    };
  }
}

const IGNORED: Outcome = { kind: "ignored" };

/** Extra lease time so a probe that just made its deadline is not counted as lost. */
const LEASE_MARGIN_MS = 5_000;
