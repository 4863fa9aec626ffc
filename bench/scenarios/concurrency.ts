// 2. Ten connections, 5 s, non-streaming, with the CPU each request costs; 5. Durable Object
// calls per 1,000 requests (gateway) in the same runs, a steady closed state.
import { say } from "../lib/output";
import { cpuMs } from "../lib/proc";
import { sleep } from "../lib/sleep";
import { median } from "../lib/stats";
import { type Bench, type Column, chatBody, expectOk } from "./context";
import { ms, ms2, pct, rps, sms, sms2 } from "./format";
import { type LoadResult, load } from "./measure";

export async function concurrencyScenario(b: Bench): Promise<void> {
  const { reps, fake, bare, gw, columns, admin, rows, raw } = b;
  say("2/7 10 connections, 5 s each, non-streaming (and Durable Object calls) …");
  const conc = b.byCol((): LoadResult[] => []);
  const doCalls: { requests: number; calls: number; per1000: number }[] = [];
  // CPU per request of the process answering (the Worker's workerd; the fake for "direct") and of wrangler's proxy.
  const cpu = b.byCol((): { worker: number; proxy: number }[] => []);
  const servingPid = (c: Column) =>
    (c.name === "gateway" ? gw.workerdPid() : c.name === "bare Worker" ? bare.workerdPid() : fake.pid) ?? 0;
  const proxyPid = (c: Column) => (c.name === "gateway" ? gw.proxyPid() : c.name === "bare Worker" ? bare.proxyPid() : null) ?? 0;
  for (let rep = 0; rep < reps; rep++) {
    for (const c of columns) {
      const before = c.name === "gateway" ? (await admin.circuit("gpt-4.1")).calls : 0;
      const cpu0 = { worker: cpuMs(servingPid(c)), proxy: cpuMs(proxyPid(c)) };
      const r = await load({
        url: `${c.api}/chat/completions`,
        connections: 10,
        duration: 5,
        body: (i) => chatBody("gpt-4.1", `conc ${rep} ${i}`),
      });
      cpu[c.name].push({
        worker: (cpuMs(servingPid(c)) - cpu0.worker) / r.count,
        proxy: (cpuMs(proxyPid(c)) - cpu0.proxy) / r.count,
      });
      expectOk(`10 connections ${c.name}`, r.non2xx === 0 && r.errors === 0, `${r.non2xx} non-2xx, ${r.errors} errors`);
      conc[c.name].push(r);
      if (c.name === "gateway") {
        // The last outcomes reach the object within snapshotTtlMs (1 s): count that flush too.
        await sleep(1500);
        const after = (await admin.circuit("gpt-4.1")).calls;
        doCalls.push({ requests: r.count, calls: after - before, per1000: ((after - before) / r.count) * 1000 });
      }
    }
  }
  raw.tenConnections = conc;
  raw.durableObjectCalls = doCalls;
  const concMed = b.byCol((c) => ({
    rps: median(conc[c.name].map((r) => r.rps)),
    p50: median(conc[c.name].map((r) => r.p50)),
    p99: median(conc[c.name].map((r) => r.p99)),
  }));
  const tputRatio = concMed.gateway.rps / concMed["bare Worker"].rps;
  rows.push(
    {
      scenario: "10 connections, 5 s",
      metric: "throughput",
      direct: rps(concMed["upstream direct"].rps),
      bare: rps(concMed["bare Worker"].rps),
      gateway: rps(concMed.gateway.rps),
      vsBare: pct(tputRatio),
      target: "≥ 80 %",
      met: tputRatio >= 0.8 ? "yes" : "no",
    },
    {
      scenario: "",
      metric: "p50",
      direct: ms2(concMed["upstream direct"].p50),
      bare: ms2(concMed["bare Worker"].p50),
      gateway: ms2(concMed.gateway.p50),
      vsBare: sms2(concMed.gateway.p50 - concMed["bare Worker"].p50),
      target: "",
      met: "—",
    },
    {
      scenario: "",
      metric: "p99",
      direct: ms2(concMed["upstream direct"].p99),
      bare: ms2(concMed["bare Worker"].p99),
      gateway: ms2(concMed.gateway.p99),
      vsBare: sms2(concMed.gateway.p99 - concMed["bare Worker"].p99),
      target: "",
      met: "—",
    },
  );
  raw.cpuPerRequest = cpu;
  const cpuW = b.byCol((c) => median(cpu[c.name].map((x) => x.worker)));
  const cpuP = b.byCol((c) => median(cpu[c.name].map((x) => x.proxy)));
  rows.push(
    {
      scenario: "",
      metric: "CPU / req, answering process",
      direct: `${ms(cpuW["upstream direct"])} (Node)`,
      bare: ms(cpuW["bare Worker"]),
      gateway: ms(cpuW.gateway),
      vsBare: sms(cpuW.gateway - cpuW["bare Worker"]),
      target: "",
      met: "—",
    },
    {
      scenario: "",
      metric: "CPU / req, wrangler's proxy",
      direct: "—",
      bare: ms(cpuP["bare Worker"]),
      gateway: ms(cpuP.gateway),
      vsBare: "",
      target: "",
      met: "—",
    },
  );
  const per1000 = median(doCalls.map((d) => d.per1000));
  rows.push({
    scenario: "steady closed state (the 10-conn runs)",
    metric: "DO calls / 1000 req",
    direct: "—",
    bare: "—",
    gateway: `${per1000.toFixed(2)} (${doCalls.map((d) => `${d.calls}/${d.requests}`).join(", ")})`,
    vsBare: "",
    target: "≤ 10",
    met: per1000 <= 10 ? "yes" : "no",
  });
}
