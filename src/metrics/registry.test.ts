import { describe, expect, it } from "vitest";
import { renderExposition } from "./exposition";
import { METRICS, type MetricName } from "./registry";
import { parseSeries, series, seriesKey } from "./series";

const ODD = 'a "quoted" \\back\\slashed\nmulti-line model';

/** One key per declared metric (a histogram by its `_count`), spelled by hand from the declaration. */
function oneOfEach(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, d] of Object.entries(METRICS)) {
    const labels = d.labels.map((l) => `${l}="x"`).join(",");
    out[`${name}${d.type === "histogram" ? "_count" : ""}{${labels}}`] = 1;
  }
  return out;
}

describe("series keys", () => {
  it("round-trips name and labels through the key, in the declared label order", () => {
    const key = series("gateway_tokens_total", { kind: "prompt", tenant: "web", model: "gpt-4.1" });
    expect(key).toBe('gateway_tokens_total{model="gpt-4.1",tenant="web",kind="prompt"}');
    const parsed = parseSeries(key);
    expect(parsed).toEqual({
      metric: "gateway_tokens_total",
      name: "gateway_tokens_total",
      labels: { model: "gpt-4.1", tenant: "web", kind: "prompt" },
    });
    expect(parsed && seriesKey(parsed)).toBe(key);
  });

  it("round-trips histogram samples, with le only on buckets", () => {
    const bucket = series("gateway_upstream_latency_seconds_bucket", { model: "m", le: 0.05 });
    expect(bucket).toBe('gateway_upstream_latency_seconds_bucket{model="m",le="0.05"}');
    expect(parseSeries(bucket)).toEqual({
      metric: "gateway_upstream_latency_seconds",
      name: "gateway_upstream_latency_seconds_bucket",
      labels: { model: "m", le: "0.05" },
    });
    const count = series("gateway_upstream_latency_seconds_count", { model: "m" });
    expect(parseSeries(count)?.metric).toBe("gateway_upstream_latency_seconds");
    expect(parseSeries('gateway_upstream_latency_seconds{model="m"}')).toBeNull();
  });

  it("escapes quotes, backslashes and newlines, and reads them back", () => {
    const key = series("gateway_fallback_spend_saved_usd_total", { requested: ODD, served: "}{,=" });
    expect(key).toBe(
      'gateway_fallback_spend_saved_usd_total{requested="a \\"quoted\\" \\\\back\\\\slashed\\nmulti-line model",served="}{,="}',
    );
    expect(parseSeries(key)?.labels).toEqual({ requested: ODD, served: "}{,=" });
  });

  it("reads back only declared names with exactly their labels, in any order", () => {
    expect(parseSeries('gateway_circuit_state{state="open",model="m"}')?.labels).toEqual({ model: "m", state: "open" });
    for (const key of [
      'gateway_request_total{model="m",tenant="t",source="s",status_class="2xx"}',
      'gateway_circuit_state{model="m"}',
      'gateway_circuit_state{model="m",state="open",extra="1"}',
      'gateway_circuit_state{model="m",model="n"}',
      'gateway_circuit_state{model="m",state="open"',
      'gateway_circuit_state{model="m,state="open"}',
      'gateway_circuit_state{model="m\\t",state="open"}',
      'gateway_circuit_state{model="m";state="open"}',
      "gateway_circuit_opens_total",
    ])
      expect(parseSeries(key), key).toBeNull();
  });

  it("rejects an undeclared name, a missing label and an extra label at compile time", () => {
    // tsc checks these: each @ts-expect-error fails the build if its line compiles. Never called.
    const wrong = [
      // @ts-expect-error a misspelt name
      () => series("gateway_request_total", { model: "m" }),
      // @ts-expect-error a missing label
      () => series("gateway_circuit_state", { model: "m" }),
      // @ts-expect-error a label the metric does not declare
      () => series("gateway_circuit_opens_total", { model: "m", state: "open" }),
      // @ts-expect-error le belongs to buckets only
      () => series("gateway_upstream_latency_seconds_sum", { model: "m", le: 1 }),
    ];
    expect(wrong).toHaveLength(4);
  });
});

describe("exposition", () => {
  it("renders every declared metric under its HELP and TYPE", () => {
    const text = renderExposition([oneOfEach()]);
    const names = Object.keys(METRICS) as MetricName[];
    expect(names.filter((n) => METRICS[n].type === "counter").length).toBeGreaterThan(10);
    for (const name of names) {
      const { help, type } = METRICS[name];
      expect(text).toContain(`# HELP ${name} ${help}\n# TYPE ${name} ${type}\n${name}`);
    }
    expect(text.match(/^# TYPE /gm)).toHaveLength(names.length);
  });

  it("sums keys spelled in another label order into one line and leaves undeclared keys out", () => {
    const text = renderExposition([
      { 'gateway_cache_writes_total{model="m",result="ok"}': 2, 'gateway_cache_write_total{model="m",result="ok"}': 5 },
      { 'gateway_cache_writes_total{result="ok",model="m"}': 1.5 },
    ]);
    expect(text).toBe(
      "# HELP gateway_cache_writes_total Fallback cache writes by model and result (ok, failed).\n" +
        "# TYPE gateway_cache_writes_total counter\n" +
        'gateway_cache_writes_total{model="m",result="ok"} 3.5\n',
    );
  });

  it("lists every bucket of a histogram, for a model whose name needs escaping too", () => {
    const count = series("gateway_upstream_latency_seconds_count", { model: ODD });
    const inf = series("gateway_upstream_latency_seconds_bucket", { model: ODD, le: "+Inf" });
    const text = renderExposition([{ [count]: 2, [inf]: 2 }]);
    const buckets = text.split("\n").filter((l) => l.startsWith("gateway_upstream_latency_seconds_bucket"));
    const declared = METRICS.gateway_upstream_latency_seconds.buckets;
    expect(buckets).toHaveLength(declared.length + 1);
    for (const le of declared)
      expect(buckets).toContain(`${series("gateway_upstream_latency_seconds_bucket", { model: ODD, le })} 0`);
    expect(buckets).toContain(`${inf} 2`);
  });
});
