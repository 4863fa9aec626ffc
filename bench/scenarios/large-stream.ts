// 4. A 50 MB stream: it completes, and the Worker's workerd stays flat.
import { call, keepAlive, send } from "../lib/http";
import { say } from "../lib/output";
import { memoryOf, resetPeak } from "../lib/proc";
import { sleep } from "../lib/sleep";
import { median } from "../lib/stats";
import { type Bench, type ColumnName, chatBody, expectOk, JSON_HEADERS, problems } from "./context";
import { MB, mib } from "./format";

const LARGE_BYTES = 50 * MB;

type Big = {
  seconds: number;
  bytes: number;
  rssBefore: number;
  peak: number;
  rssAfter: number;
  hwmBefore: number;
  hwmAfter: number;
  peakReset: boolean;
};

/** One big stream, with the serving process's RSS before, at its peak (VmHWM reset first, and sampled) and after. */
async function bigStream(api: string, pid: number, model: string, what: string, rep: number): Promise<Big> {
  const before = memoryOf(pid);
  const peakReset = resetPeak(pid);
  let sampled = before.rss;
  const sampler = setInterval(() => {
    try {
      sampled = Math.max(sampled, memoryOf(pid).rss);
    } catch {
      // Gone.
    }
  }, 20);
  const agent = keepAlive(1);
  const r = await send(`${api}/chat/completions`, {
    method: "POST",
    headers: JSON_HEADERS,
    body: chatBody(model, `large ${rep}`, true),
    agent,
    discardBody: true,
    timeoutMs: 120_000,
  });
  agent.destroy();
  clearInterval(sampler);
  await sleep(200);
  const after = memoryOf(pid);
  const ok = r.status === 200 && r.transportError === null && r.body.trimEnd().endsWith("data: [DONE]");
  expectOk(what, ok, `status ${r.status}, ${r.bytes} bytes, ${r.transportError ?? ""} ends ${JSON.stringify(r.body.slice(-30))}`);
  return {
    seconds: r.ttlb / 1000,
    bytes: r.bytes,
    rssBefore: before.rss,
    peak: Math.max(sampled, peakReset ? after.hwm : 0),
    rssAfter: after.rss,
    hwmBefore: before.hwm,
    hwmAfter: after.hwm,
    peakReset,
  };
}

export async function largeStreamScenario(b: Bench): Promise<void> {
  const { reps, fake, bare, gw, columns, rows, raw } = b;
  say("4/7 a 50 MiB stream …");
  await call("POST", `${fake.url}/__fake/faults`, {
    faults: [
      { model: "gpt-4.1-large", mode: "large", bytes: LARGE_BYTES, chunkBytes: 16_384 },
      { model: "gpt-4.1-large-control", mode: "large", bytes: LARGE_BYTES / 10, chunkBytes: 16_384 },
    ],
  });
  const large = b.byCol((): Big[] => []);
  const control: Big[] = [];
  for (let rep = 0; rep < reps; rep++) {
    for (const c of columns) {
      const pid = c.name === "gateway" ? gw.workerdPid() : c.name === "bare Worker" ? bare.workerdPid() : fake.pid;
      if (!pid) throw new Error(`no process for ${c.name}`);
      if (c.name === "gateway") control.push(await bigStream(c.api, pid, "gpt-4.1-large-control", "5 MiB stream gateway", rep));
      large[c.name].push(await bigStream(c.api, pid, "gpt-4.1-large", `50 MiB stream ${c.name}`, rep));
    }
  }
  await call("DELETE", `${fake.url}/__fake/faults`);
  raw.largeStream = { ...large, "gateway, 5 MiB control": control };
  const lg = b.byCol((c) => ({
    seconds: median(large[c.name].map((r) => r.seconds)),
    growth: median(large[c.name].map((r) => r.peak - r.rssBefore)),
    before: median(large[c.name].map((r) => r.rssBefore)),
    peak: median(large[c.name].map((r) => r.peak)),
    after: median(large[c.name].map((r) => r.rssAfter)),
  }));
  const controlGrowth = median(control.map((r) => r.peak - r.rssBefore));
  const mbps = (c: ColumnName) => `${((large[c][0]?.bytes ?? 0) / MB / lg[c].seconds).toFixed(0)} MiB/s`;
  // "Flat": the peak grows by less than a fifth of the stream (holding it would take ≥ 50 MiB,
  // twice that as JS strings); repetitions vary by a few MiB as V8 sizes its heap.
  const flatLimit = LARGE_BYTES / 5;
  const lastBad = problems.some((p) => p.startsWith("50 MiB stream gateway"));
  rows.push(
    {
      scenario: "50 MiB stream (3,200 events)",
      metric: "time to last byte",
      direct: `${lg["upstream direct"].seconds.toFixed(2)} s (${mbps("upstream direct")})`,
      bare: `${lg["bare Worker"].seconds.toFixed(2)} s (${mbps("bare Worker")})`,
      gateway: `${lg.gateway.seconds.toFixed(2)} s (${mbps("gateway")})`,
      vsBare: `${(lg.gateway.seconds / lg["bare Worker"].seconds).toFixed(2)}×`,
      target: "completes",
      met: lastBad ? "no" : "yes",
    },
    {
      scenario: "",
      metric: "peak RSS growth",
      direct: `${mib(lg["upstream direct"].growth)} (Node)`,
      bare: mib(lg["bare Worker"].growth),
      gateway: `${mib(lg.gateway.growth)} (5 MiB stream: ${mib(controlGrowth)})`,
      vsBare: "",
      target: "flat: < 10 MiB",
      met: lg.gateway.growth <= flatLimit ? "yes" : "no",
    },
    {
      scenario: "",
      metric: "  each repetition",
      direct: "",
      bare: `${large["bare Worker"]
        .map((r) => (r.peak - r.rssBefore) / MB)
        .map((v) => v.toFixed(1))
        .join(" / ")} MiB`,
      gateway: `${large.gateway.map((r) => ((r.peak - r.rssBefore) / MB).toFixed(1)).join(" / ")} MiB`,
      vsBare: "",
      target: "",
      met: "—",
    },
    {
      scenario: "",
      metric: "workerd RSS before → peak → after",
      direct: "",
      bare: `${mib(lg["bare Worker"].before)} → ${mib(lg["bare Worker"].peak)} → ${mib(lg["bare Worker"].after)}`,
      gateway: `${mib(lg.gateway.before)} → ${mib(lg.gateway.peak)} → ${mib(lg.gateway.after)}`,
      vsBare: "",
      target: "",
      met: "—",
    },
  );
}
