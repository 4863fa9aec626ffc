// The soak's load: CONCURRENCY clients, each sending one request after another until the plan is
// spent or its time is up, with a mix of models, streaming, repeated prompts and no-fallback calls.
import { keepAlive, send } from "../lib/http";
import { say } from "../lib/output";
import { CONCURRENCY, MODELS, PLAN, short, TIMEOUTS } from "./config";
import { judge, type Outcome } from "./judge";

export async function runLoad(gwUrl: string, endAt: number, t0: number): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  const pool = Array.from({ length: 40 }, (_, i) => `a question asked often, number ${i}`);
  let issued = 0;
  const agent = keepAlive(CONCURRENCY);
  const client = async (id: number) => {
    while (issued < PLAN.requests && performance.now() < endAt) {
      const n = issued++;
      const r = Math.random();
      const model = MODELS[r < 0.4 ? 0 : r < 0.6 ? 1 : r < 0.8 ? 2 : 3] as string;
      const stream = Math.random() < 0.5;
      const prompt = Math.random() < 0.3 ? (pool[n % pool.length] as string) : `soak ${id} ${n} ${Math.random()}`;
      const headers: Record<string, string> = { "content-type": "application/json", authorization: "Bearer sk-any" };
      if (Math.random() < 0.1) headers["x-gateway-fallback"] = "none";
      const res = await send(`${gwUrl}/v1/chat/completions`, {
        method: "POST",
        headers,
        body: JSON.stringify({ model, stream, messages: [{ role: "user", content: prompt }] }),
        agent,
        timeoutMs: TIMEOUTS.deadlineMs + TIMEOUTS.streamTotalMs + 5000,
      });
      outcomes.push(judge(model, stream, res));
    }
  };
  const progress = setInterval(
    () => {
      const s = (performance.now() - t0) / 1000;
      say(`  ${outcomes.length} answers after ${s.toFixed(0)} s`);
    },
    short ? 10_000 : 30_000,
  );
  await Promise.all(Array.from({ length: CONCURRENCY }, (_, i) => client(i)));
  clearInterval(progress);
  agent.destroy();
  return outcomes;
}
