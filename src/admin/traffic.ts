import { parseSeries } from "../metrics/series";

export interface Traffic {
  requests: number;
  tokens: number;
  spendUsd: number;
  /** Broken streams continued by a model step (DESIGN §15). */
  continued: number;
}

/** Requests (by requested model), tokens and spend (by serving model) for the dashboard. */
export function trafficByModel(reported: Record<string, number>[]): Record<string, Traffic> {
  const out: Record<string, Traffic> = {};
  const at = (model: string) => (out[model] ??= { requests: 0, tokens: 0, spendUsd: 0, continued: 0 });
  for (const part of reported) {
    for (const [key, value] of Object.entries(part)) {
      const s = parseSeries(key);
      if (s?.name === "gateway_requests_total") at(s.labels.model).requests += value;
      else if (s?.name === "gateway_tokens_total") at(s.labels.model).tokens += value;
      else if (s?.name === "gateway_spend_usd_total") at(s.labels.model).spendUsd += value;
      else if (s?.name === "gateway_stream_continuations_total" && s.labels.outcome === "spliced") {
        at(s.labels.model).continued += value;
      }
    }
  }
  return out;
}
