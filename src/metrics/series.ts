const SPECIAL = /[\\"\n]/;

function escapeLabel(value: string | number): string {
  const s = String(value);
  return SPECIAL.test(s) ? s.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n") : s;
}

/**
 * A Prometheus series name with its labels, in one canonical spelling so that deltas from every
 * isolate add up under the same key. Label values are escaped as the text format requires.
 */
export function series(name: string, labels: Record<string, string | number> = {}): string {
  let out = "";
  for (const key in labels) out += `${out ? "," : ""}${key}="${escapeLabel(labels[key] ?? "")}"`;
  return out ? `${name}{${out}}` : name;
}

/** The metric name of a series key (everything before its labels). */
export function metricName(key: string): string {
  const brace = key.indexOf("{");
  return brace < 0 ? key : key.slice(0, brace);
}
