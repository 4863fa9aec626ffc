import { metricName } from "../metrics/series";

export interface Traffic {
  requests: number;
  tokens: number;
  spendUsd: number;
}

function label(key: string, name: string): string | null {
  const match = new RegExp(`[{,]${name}="((?:[^"\\\\]|\\\\.)*)"`).exec(key);
  return match?.[1]?.replace(/\\(.)/g, "$1") ?? null;
}

/** Requests (by requested model), tokens and spend (by serving model) for the dashboard. */
export function trafficByModel(reported: Record<string, number>[]): Record<string, Traffic> {
  const out: Record<string, Traffic> = {};
  const at = (model: string) => (out[model] ??= { requests: 0, tokens: 0, spendUsd: 0 });
  for (const part of reported) {
    for (const [key, value] of Object.entries(part)) {
      const model = label(key, "model");
      if (model === null) continue;
      const name = metricName(key);
      if (name === "gateway_requests_total") at(model).requests += value;
      else if (name === "gateway_tokens_total") at(model).tokens += value;
      else if (name === "gateway_spend_usd_total") at(model).spendUsd += value;
    }
  }
  return out;
}
