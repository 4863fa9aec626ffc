import type { ModelConfig } from "../config/resolve";
import type { Settings } from "../config/settings";
import type { Admitted, Attempted, GateDecision, GateRun, ModelGate, Outcome } from "../core/circuit";
import { series } from "../metrics/series";
import type { ModelChannel } from "./channel";
import type { ObjectSettings, Snapshot } from "./protocol";
import type { Admission, BreakerConfig } from "./state";

/** The Durable Object's settings for a model, built from the isolate's validated config. */
export function objectSettings(model: ModelConfig, settings: Settings): ObjectSettings {
  const config: BreakerConfig = { ...model.breaker, coolingMaxMs: settings.config.retry.maxDelayMs };
  return { model: model.name, config, alertWebhookUrl: settings.alertWebhookUrl };
}

type Local = { decided: GateDecision } | { decided: null; stale: boolean };

/**
 * Admission as DESIGN §2.3 lays it out: CLOSED and OPEN are decided from the isolate's snapshot
 * with no round trip; only a cold isolate, an open circuit past its wait and HALF_OPEN ask the
 * Durable Object, which alone hands out probe permits.
 */
export class BreakerGate implements ModelGate {
  constructor(
    private readonly channel: (model: ModelConfig) => ModelChannel,
    private readonly settings: Settings,
    private readonly waitUntil: (work: Promise<unknown>) => void,
  ) {}

  private async admit(model: ModelConfig, stream: boolean): Promise<GateDecision> {
    const ch = this.channel(model);
    const ttl = this.settings.config.snapshotTtlMs;
    if (ch.unavailableUntil > Date.now()) return this.fromSnapshot(ch.snapshot);
    const local = this.decideLocally(ch.snapshot, ch.fetchedAt, Date.now());
    const age = Date.now() - ch.fetchedAt;
    if (local.decided) {
      if (age >= ttl) this.waitUntil(ch.refresh());
      if (!local.decided.admitted)
        ch.outbox.count(series("gateway_local_skips_total", { model: model.name, reason: local.decided.reason }));
      return local.decided;
    }
    if (local.stale) {
      // A closed snapshot past twice its TTL is too old to trust: wait for the refresh.
      await ch.refresh();
      const fresh = this.decideLocally(ch.snapshot, ch.fetchedAt, Date.now());
      if (fresh.decided) return fresh.decided;
    }
    const leaseMs = stream ? model.timeouts.streamTotalMs : model.timeouts.requestMs;
    const grant = await ch.requestPermit(leaseMs + LEASE_MARGIN_MS);
    return grant ? this.fromGrant(grant, ch.snapshot) : this.fromSnapshot(ch.snapshot);
  }

  async run<T>(model: ModelConfig, stream: boolean, attempt: (admitted: Admitted) => Promise<Attempted<T>>): Promise<GateRun<T>> {
    const decision = await this.admit(model, stream);
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
    const delivered = this.channel(model).report(outcome, permitId, this.settings.config.snapshotTtlMs);
    this.waitUntil(delivered);
    return delivered;
  }

  coolingUntil(model: ModelConfig): number | null {
    const until = this.channel(model).snapshot?.coolingUntil ?? null;
    return until !== null && until > Date.now() ? until : null;
  }

  private decideLocally(s: Snapshot | null, fetchedAt: number, now: number): Local {
    if (!s) return { decided: null, stale: false };
    if (s.coolingUntil !== null && s.coolingUntil > now) {
      return { decided: { admitted: false, reason: "cooling", retryAt: s.coolingUntil, state: s.state } };
    }
    switch (s.state) {
      case "closed": {
        // Older than 2×TTL, a closed snapshot is not trusted: admit waits for a refresh.
        return now - fetchedAt < 2 * this.settings.config.snapshotTtlMs
          ? { decided: { admitted: true, permitId: null, state: "closed" } }
          : { decided: null, stale: true };
      }
      case "open":
        if (s.nextAttemptAt !== null && s.nextAttemptAt > now) {
          return { decided: { admitted: false, reason: "open", retryAt: s.nextAttemptAt, state: "open" } };
        }
        return { decided: null, stale: false };
      case "forced_open":
        if (s.nextAttemptAt === null || s.nextAttemptAt > now) {
          return { decided: { admitted: false, reason: "forced_open", retryAt: s.nextAttemptAt, state: "forced_open" } };
        }
        return { decided: null, stale: false };
      case "half_open":
        if (s.recheckAt !== null && s.recheckAt > now) {
          return { decided: { admitted: false, reason: "half_open_full", retryAt: s.recheckAt, state: "half_open" } };
        }
        return { decided: null, stale: false };
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
    const local = this.decideLocally(s, Date.now(), Date.now());
    if (local.decided) return local.decided;
    if (s.state === "open" || s.state === "forced_open")
      return { admitted: false, reason: s.state, retryAt: s.nextAttemptAt, state: s.state };
    return {
      admitted: false,
      reason: "half_open_full",
      retryAt: Date.now() + this.settings.config.snapshotTtlMs,
      state: s.state,
    };
  }
}

const IGNORED: Outcome = { kind: "ignored" };

/** Extra lease time so a probe that just made its deadline is not counted as lost. */
const LEASE_MARGIN_MS = 5_000;
