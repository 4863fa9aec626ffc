// 1. One client, sequential, non-streaming, through wrangler's proxy; 1b. the same through each
// Worker's own workerd socket (no wrangler proxy hop).
import { say } from "../lib/output";
import { median } from "../lib/stats";
import { type Bench, chatBody, expectOk } from "./context";
import { ms, pct, rps, sms } from "./format";
import { type LoadResult, load } from "./measure";

export async function sequentialScenario(b: Bench): Promise<void> {
  const { reps, bare, gw, columns, rows, raw } = b;
  say("1/7 one client, sequential, non-streaming …");
  const seq = b.byCol((): LoadResult[] => []);
  // Also through the gateway on a model with caching off: how much of the gap is KV writes.
  const seqNoCache: LoadResult[] = [];
  for (let rep = 0; rep < reps; rep++) {
    for (const c of columns) {
      const r = await load({
        url: `${c.api}/chat/completions`,
        connections: 1,
        amount: 500,
        body: (i) => chatBody("gpt-4.1", `seq ${rep} ${i}`),
      });
      expectOk(`sequential ${c.name}`, r.non2xx === 0 && r.errors === 0, `${r.non2xx} non-2xx, ${r.errors} errors`);
      seq[c.name].push(r);
    }
    const r = await load({
      url: `${gw.url}/v1/chat/completions`,
      connections: 1,
      amount: 500,
      body: (i) => chatBody("gpt-4.1-nocache", `seqnc ${rep} ${i}`),
    });
    expectOk("sequential gateway, cache off", r.non2xx === 0 && r.errors === 0, `${r.non2xx} non-2xx, ${r.errors} errors`);
    seqNoCache.push(r);
  }
  raw.sequential = { ...seq, "gateway, cache off": seqNoCache };
  const seqMed = b.byCol((c) => ({
    p50: median(seq[c.name].map((r) => r.p50)),
    p99: median(seq[c.name].map((r) => r.p99)),
    rps: median(seq[c.name].map((r) => r.rps)),
  }));
  const addP50 = seqMed.gateway.p50 - seqMed["bare Worker"].p50;
  const addP99 = seqMed.gateway.p99 - seqMed["bare Worker"].p99;
  rows.push(
    {
      scenario: "1 client sequential (500 req)",
      metric: "p50",
      direct: ms(seqMed["upstream direct"].p50),
      bare: ms(seqMed["bare Worker"].p50),
      gateway: ms(seqMed.gateway.p50),
      vsBare: sms(addP50),
      target: "≤ +0.3 ms",
      met: addP50 <= 0.3 ? "yes" : "no",
    },
    {
      scenario: "",
      metric: "p99",
      direct: ms(seqMed["upstream direct"].p99),
      bare: ms(seqMed["bare Worker"].p99),
      gateway: ms(seqMed.gateway.p99),
      vsBare: sms(addP99),
      target: "≤ +2 ms",
      met: addP99 <= 2 ? "yes" : "no",
    },
    {
      scenario: "",
      metric: "throughput",
      direct: rps(seqMed["upstream direct"].rps),
      bare: rps(seqMed["bare Worker"].rps),
      gateway: rps(seqMed.gateway.rps),
      vsBare: pct(seqMed.gateway.rps / seqMed["bare Worker"].rps),
      target: "",
      met: "—",
    },
  );
  const n50 = median(seqNoCache.map((r) => r.p50));
  const n99 = median(seqNoCache.map((r) => r.p99));
  rows.push(
    {
      scenario: "  same, model with cache off",
      metric: "p50",
      direct: ms(seqMed["upstream direct"].p50),
      bare: ms(seqMed["bare Worker"].p50),
      gateway: ms(n50),
      vsBare: sms(n50 - seqMed["bare Worker"].p50),
      target: "(reference)",
      met: "—",
    },
    {
      scenario: "",
      metric: "p99",
      direct: ms(seqMed["upstream direct"].p99),
      bare: ms(seqMed["bare Worker"].p99),
      gateway: ms(n99),
      vsBare: sms(n99 - seqMed["bare Worker"].p99),
      target: "",
      met: "—",
    },
  );

  // 1b. The same through each Worker's own workerd socket (no wrangler proxy hop).
  const directBare = await bare.directUrl("/__ping", "ok");
  const directGw = await gw.directUrl("/healthz", "status");
  if (!directBare || !directGw) {
    say("  (could not find the Workers' own workerd sockets; skipping the no-proxy row)");
    return;
  }
  const d = { bare: [] as LoadResult[], gateway: [] as LoadResult[] };
  for (const base of [directBare, directGw]) {
    await load({
      url: `${base}/v1/chat/completions`,
      connections: 1,
      amount: 100,
      body: (i) => chatBody("gpt-4.1", `warmd ${i}`),
    });
  }
  for (let rep = 0; rep < reps; rep++) {
    for (const [k, base] of [
      ["bare", directBare],
      ["gateway", directGw],
    ] as const) {
      const r = await load({
        url: `${base}/v1/chat/completions`,
        connections: 1,
        amount: 500,
        body: (i) => chatBody("gpt-4.1", `seqd ${rep} ${i}`),
      });
      expectOk(`sequential direct ${k}`, r.non2xx === 0 && r.errors === 0, `${r.non2xx} non-2xx, ${r.errors} errors`);
      d[k].push(r);
    }
  }
  raw.sequentialWorkerdDirect = d;
  const b50 = median(d.bare.map((r) => r.p50));
  const g50 = median(d.gateway.map((r) => r.p50));
  const b99 = median(d.bare.map((r) => r.p99));
  const g99 = median(d.gateway.map((r) => r.p99));
  rows.push(
    {
      scenario: "  same, workerd socket (no proxy)",
      metric: "p50",
      direct: ms(seqMed["upstream direct"].p50),
      bare: ms(b50),
      gateway: ms(g50),
      vsBare: sms(g50 - b50),
      target: "≤ +0.3 ms",
      met: g50 - b50 <= 0.3 ? "yes" : "no",
    },
    {
      scenario: "",
      metric: "p99",
      direct: ms(seqMed["upstream direct"].p99),
      bare: ms(b99),
      gateway: ms(g99),
      vsBare: sms(g99 - b99),
      target: "≤ +2 ms",
      met: g99 - b99 <= 2 ? "yes" : "no",
    },
  );
}
