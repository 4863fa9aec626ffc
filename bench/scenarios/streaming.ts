// 3. Streaming: time to first and last byte, precise client.
import { say } from "../lib/output";
import { median } from "../lib/stats";
import { type Bench, chatBody, JSON_HEADERS } from "./context";
import { ms, sms } from "./format";
import { type SeqResult, sequential } from "./measure";

const isCleanStream = (status: number, _h: Record<string, unknown>, body: string): string | null =>
  status !== 200 ? "not 200" : body.trimEnd().endsWith("data: [DONE]") ? null : "stream did not end with [DONE]";

export async function streamingScenario(b: Bench): Promise<void> {
  const { reps, columns, rows, raw } = b;
  say("3/7 streaming, one client, time to first / last byte …");
  const streaming = b.byCol((): SeqResult[] => []);
  for (const c of columns) {
    await sequential({
      url: `${c.api}/chat/completions`,
      n: 30,
      method: "POST",
      headers: JSON_HEADERS,
      body: (i) => chatBody("gpt-4.1", `warms ${i}`, true),
      check: isCleanStream,
      what: `stream warm-up ${c.name}`,
    });
  }
  for (let rep = 0; rep < reps; rep++) {
    for (const c of columns) {
      streaming[c.name].push(
        await sequential({
          url: `${c.api}/chat/completions`,
          n: 200,
          method: "POST",
          headers: JSON_HEADERS,
          body: (i) => chatBody("gpt-4.1", `stream ${rep} ${i}`, true),
          check: isCleanStream,
          what: `streaming ${c.name}`,
        }),
      );
    }
  }
  raw.streaming = streaming;
  const stMed = b.byCol((c) => ({
    ttfb: median(streaming[c.name].map((r) => r.ttfbP50)),
    ttfb99: median(streaming[c.name].map((r) => r.ttfbP99)),
    ttlb: median(streaming[c.name].map((r) => r.p50)),
  }));
  const ttfbAdd = stMed.gateway.ttfb - stMed["bare Worker"].ttfb;
  rows.push(
    {
      scenario: "stream (9 events), 1 client, 200 req",
      metric: "first byte p50",
      direct: ms(stMed["upstream direct"].ttfb),
      bare: ms(stMed["bare Worker"].ttfb),
      gateway: ms(stMed.gateway.ttfb),
      vsBare: sms(ttfbAdd),
      target: "≤ +1 ms",
      met: ttfbAdd <= 1 ? "yes" : "no",
    },
    {
      scenario: "",
      metric: "first byte p99",
      direct: ms(stMed["upstream direct"].ttfb99),
      bare: ms(stMed["bare Worker"].ttfb99),
      gateway: ms(stMed.gateway.ttfb99),
      vsBare: sms(stMed.gateway.ttfb99 - stMed["bare Worker"].ttfb99),
      target: "",
      met: "—",
    },
    {
      scenario: "",
      metric: "last byte p50",
      direct: ms(stMed["upstream direct"].ttlb),
      bare: ms(stMed["bare Worker"].ttlb),
      gateway: ms(stMed.gateway.ttlb),
      vsBare: sms(stMed.gateway.ttlb - stMed["bare Worker"].ttlb),
      target: "",
      met: "—",
    },
  );
}
