import { METRICS, type MetricName } from "./registry";
import { histogramBuckets, parseSeries, type SeriesKey, seriesKey } from "./series";

function formatValue(v: number): string {
  return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(12)));
}

/** Sums every part's values by metric and canonical key; keys that name no declared series drop out. */
function byMetric(parts: Record<string, number>[]): Map<MetricName, Map<SeriesKey, number>> {
  const out = new Map<MetricName, Map<SeriesKey, number>>();
  for (const part of parts) {
    for (const [key, value] of Object.entries(part)) {
      const sample = parseSeries(key);
      if (!sample) continue;
      const values = out.get(sample.metric) ?? new Map<SeriesKey, number>();
      out.set(sample.metric, values);
      const canonical = seriesKey(sample);
      values.set(canonical, (values.get(canonical) ?? 0) + value);
      // Histograms must list every bucket: fill the ones no observation reached yet.
      for (const bucket of histogramBuckets(sample)) if (!values.has(bucket)) values.set(bucket, 0);
    }
  }
  return out;
}

/**
 * The Prometheus text exposition of the summed parts: one HELP and TYPE per declared metric that
 * has series, in declaration order, its series sorted by key.
 */
export function renderExposition(parts: Record<string, number>[]): string {
  const metrics = byMetric(parts);
  let text = "";
  for (const [name, declared] of Object.entries(METRICS)) {
    const values = metrics.get(name as MetricName);
    if (!values) continue;
    const lines = [...values.keys()].sort().map((key) => `${key} ${formatValue(values.get(key) ?? 0)}`);
    text += `# HELP ${name} ${declared.help}\n# TYPE ${name} ${declared.type}\n${lines.join("\n")}\n`;
  }
  return text;
}
