import { METRICS, SAMPLES, type Sample, type SampleLabels, type SampleName } from "./registry";

declare const spelled: unique symbol;

/** A series key spelled by series(): `name{label="value",…}` in the declared label order. */
export type SeriesKey = string & { readonly [spelled]: true };

type LabelValue = string | number;

const SPECIAL = /[\\"\n]/;

function escapeLabel(value: LabelValue): string {
  const s = String(value);
  return SPECIAL.test(s) ? s.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n") : s;
}

function spell(name: string, labels: Readonly<Record<string, LabelValue>>): SeriesKey {
  let out = "";
  for (const key of SAMPLES.get(name)?.labels ?? []) out += `${out ? "," : ""}${key}="${escapeLabel(labels[key] ?? "")}"`;
  return (out ? `${name}{${out}}` : name) as SeriesKey;
}

/**
 * A declared series with exactly its labels, in one canonical spelling (the declared label order,
 * values escaped as the text format requires) so that deltas from every isolate add up under the
 * same key.
 */
export function series<S extends SampleName>(name: S, labels: SampleLabels<S, LabelValue>): SeriesKey {
  return spell(name, labels);
}

/** The key of a parsed (or built) sample: parseSeries's inverse. */
export function seriesKey(sample: Sample<LabelValue>): SeriesKey {
  return spell(sample.name, sample.labels);
}

function unescaped(c: string | undefined): string | null {
  if (c === "n") return "\n";
  return c === "\\" || c === '"' ? c : null;
}

/** `a="1",b="x\"y"` → its label values, or null when it is not in the text format's spelling. */
function parseLabels(body: string): Map<string, string> | null {
  const out = new Map<string, string>();
  let i = 0;
  while (i < body.length) {
    const eq = body.indexOf('="', i);
    if (eq < 0) return null;
    const name = body.slice(i, eq);
    let value = "";
    let j = eq + 2;
    for (; j < body.length && body[j] !== '"'; j++) {
      const c = body[j] === "\\" ? unescaped(body[++j]) : body[j];
      if (c == null) return null;
      value += c;
    }
    if (j >= body.length || out.has(name)) return null;
    out.set(name, value);
    i = j + 1;
    if (i < body.length && body[i++] !== ",") return null;
  }
  return out;
}

/**
 * A series key read back into its declared sample, or null when the name is not declared or the
 * labels are not exactly the declared ones (in any order).
 */
export function parseSeries(key: string): Sample | null {
  const brace = key.indexOf("{");
  const name = brace < 0 ? key : key.slice(0, brace);
  const shape = SAMPLES.get(name);
  if (!shape) return null;
  if (brace >= 0 && !key.endsWith("}")) return null;
  const found = brace < 0 ? new Map<string, string>() : parseLabels(key.slice(brace + 1, -1));
  if (!found || found.size !== shape.labels.length) return null;
  const labels: Record<string, string> = {};
  for (const label of shape.labels) {
    const value = found.get(label);
    if (value === undefined) return null;
    labels[label] = value;
  }
  // Checked against the declaration just above, which is what the type says.
  return { metric: shape.metric, name, labels } as Sample;
}

/** For a histogram's `_count` sample: the keys of every bucket it must list (declared and +Inf). */
export function histogramBuckets(sample: Sample): SeriesKey[] {
  const declared = METRICS[sample.metric];
  if (!("buckets" in declared) || sample.name !== `${sample.metric}_count`) return [];
  const bucket = `${sample.metric}_bucket`;
  return [...declared.buckets, "+Inf"].map((le) => spell(bucket, { ...sample.labels, le }));
}
