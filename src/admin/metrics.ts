import type { CircuitDetail } from "../breaker/protocol";
import { renderExposition } from "../metrics/exposition";
import { series } from "../metrics/series";

const STATES = ["closed", "open", "half_open", "forced_open"] as const;

function circuitSeries(c: CircuitDetail, now: number): Record<string, number> {
  const m = { model: c.model };
  const out: Record<string, number> = {};
  for (const state of STATES) out[series("gateway_circuit_state", { ...m, state })] = c.state === state ? 1 : 0;
  const cooling = c.coolingUntil !== null && c.coolingUntil > now;
  out[series("gateway_circuit_cooling", m)] = cooling ? 1 : 0;
  out[series("gateway_circuit_cooling_remaining_seconds", m)] =
    cooling && c.coolingUntil !== null ? (c.coolingUntil - now) / 1000 : 0;
  out[series("gateway_circuit_consecutive_failures", m)] = c.consecutiveFailures;
  out[series("gateway_circuit_half_open_in_flight", m)] = c.halfOpenInFlight;
  const l = c.lifetime;
  const outcomes = {
    success: l.successes,
    failure: l.failures,
    rate_limited: l.rateLimited,
    client_abort: l.clientAborts,
    ignored: l.ignored,
  };
  for (const [outcome, n] of Object.entries(outcomes)) out[series("gateway_circuit_outcomes_total", { ...m, outcome })] = n;
  out[series("gateway_circuit_opens_total", m)] = l.opens;
  out[series("gateway_circuit_slow_calls_total", m)] = c.slowCallsTotal;
  out[series("gateway_circuit_expired_leases_total", m)] = l.expiredLeases;
  out[series("gateway_breaker_object_calls_total", m)] = c.calls;
  return out;
}

/** The Prometheus text exposition of every circuit and every series the isolates reported. */
export function renderMetrics(circuits: CircuitDetail[], reported: Record<string, number>[], now: number): string {
  return renderExposition([...reported, ...circuits.map((c) => circuitSeries(c, now))]);
}
