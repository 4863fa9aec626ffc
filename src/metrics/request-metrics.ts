import type { ModelConfig } from "../config/resolve";
import type { Usage } from "../core/openai";
import { METRICS } from "./registry";
import { type SeriesKey, series } from "./series";

const LATENCY_BUCKETS = METRICS.gateway_upstream_latency_seconds.buckets;

export type Count = (series: SeriesKey, amount?: number) => void;

interface HistogramNames {
  buckets: SeriesKey[];
  inf: SeriesKey;
  sum: SeriesKey;
  count: SeriesKey;
}

const histograms = new Map<string, HistogramNames>();

/** A model's latency histogram series, spelled once per isolate rather than per request. */
function histogram(model: string): HistogramNames {
  let h = histograms.get(model);
  if (!h) {
    h = {
      buckets: LATENCY_BUCKETS.map((le) => series("gateway_upstream_latency_seconds_bucket", { model, le })),
      inf: series("gateway_upstream_latency_seconds_bucket", { model, le: "+Inf" }),
      sum: series("gateway_upstream_latency_seconds_sum", { model }),
      count: series("gateway_upstream_latency_seconds_count", { model }),
    };
    histograms.set(model, h);
  }
  return h;
}

/** Dollars for `usage` at the model's prices: finite and never negative, whatever it is handed. */
export function spendUsd(model: ModelConfig, usage: Usage): number {
  const usd = (usage.prompt_tokens * model.price.input + usage.completion_tokens * model.price.output) / 1_000_000;
  return Number.isFinite(usd) && usd > 0 ? usd : 0;
}

/**
 * One request's contribution to the metrics, as additive deltas. They travel to the Durable
 * Objects with the breaker reports, so recording costs no I/O of its own.
 */
export class RequestMetrics {
  constructor(
    private readonly count: Count,
    private readonly tenant: string,
  ) {}

  droppedEvents(model: ModelConfig, n: number): void {
    this.count(series("gateway_upstream_dropped_events_total", { model: model.name }), n);
  }

  attempt(model: ModelConfig, outcome: string, latencyMs: number): void {
    this.count(series("gateway_upstream_attempts_total", { model: model.name, outcome }));
    const h = histogram(model.name);
    const seconds = latencyMs / 1000;
    LATENCY_BUCKETS.forEach((le, i) => {
      if (seconds <= le) this.count(h.buckets[i] as SeriesKey);
    });
    this.count(h.inf);
    this.count(h.sum, seconds);
    this.count(h.count);
  }

  continuation(broken: ModelConfig, by: string | null): void {
    const outcome = by === null ? "none" : "spliced";
    this.count(series("gateway_stream_continuations_total", { model: broken.name, by: by ?? "", outcome }));
  }

  answered(requested: ModelConfig, servedModel: string, source: string, status: number): void {
    const statusClass = `${Math.floor(status / 100)}xx`;
    this.count(
      series("gateway_requests_total", { model: requested.name, tenant: this.tenant, source, status_class: statusClass }),
    );
    if (status >= 400) return;
    if (source === "cache") this.count(series("gateway_fallbacks_total", { model: requested.name, step: "cache" }));
    else if (servedModel !== requested.name)
      this.count(series("gateway_fallbacks_total", { model: requested.name, step: "model" }));
  }

  usage(requested: ModelConfig, served: ModelConfig, usage: Usage): void {
    const labels = { model: served.name, tenant: this.tenant };
    this.count(series("gateway_tokens_total", { ...labels, kind: "prompt" }), usage.prompt_tokens);
    this.count(series("gateway_tokens_total", { ...labels, kind: "completion" }), usage.completion_tokens);
    const spend = spendUsd(served, usage);
    this.count(series("gateway_spend_usd_total", labels), spend);
    if (served.name !== requested.name) {
      // Same tokens priced at both models; two counters, since a counter never goes down.
      const delta = spendUsd(requested, usage) - spend;
      const pair = { requested: requested.name, served: served.name };
      if (delta > 0) this.count(series("gateway_fallback_spend_saved_usd_total", pair), delta);
      if (delta < 0) this.count(series("gateway_fallback_spend_added_usd_total", pair), -delta);
    }
  }
}
