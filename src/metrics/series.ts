/**
 * A Prometheus series name with its labels, in one canonical spelling so that deltas from every
 * isolate add up under the same key. Label values are escaped as the text format requires.
 */
export function series(name: string, labels: Record<string, string | number> = {}): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${String(v).replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`);
  return parts.length === 0 ? name : `${name}{${parts.join(",")}}`;
}

/** The metric name of a series key (everything before its labels). */
export function metricName(key: string): string {
  const brace = key.indexOf("{");
  return brace < 0 ? key : key.slice(0, brace);
}
