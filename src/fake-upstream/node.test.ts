// Talks to the Node server that global setup started, through real sockets.
import { describe, expect, inject, it } from "vitest";
import { chatRequest, events, hello, readUntilError } from "../../test/support/fake-upstream";
import type { StatsSnapshot } from "./stats";

const origin = `http://127.0.0.1:${inject("upstreamPort")}`;
const ns = (name: string): string => `${origin}/ns/${name}-${crypto.randomUUID()}`;

async function stats(base: string): Promise<StatsSnapshot> {
  return (await fetch(`${base}/__fake/stats`)).json<StatsSnapshot>();
}

describe("node adapter", () => {
  it("keeps each namespace's faults and stats to itself", async () => {
    const broken = ns("broken");
    const healthy = ns("healthy");
    const set = await fetch(`${broken}/__fake/faults`, {
      method: "POST",
      body: JSON.stringify({ model: "gpt-4.1", mode: "status", status: 502 }),
    });
    expect(set.status).toBe(200);

    const a = await fetch(chatRequest(hello(), { base: `${broken}/v1` }));
    expect(a.status).toBe(502);
    await a.body?.cancel();
    const b = await fetch(chatRequest(hello(), { base: `${healthy}/v1` }));
    expect(b.status).toBe(200);
    expect(await b.json()).toMatchObject({ choices: [{ message: { content: "Hello from gpt-4.1. You said: hi there" } }] });

    expect((await stats(broken)).requests).toHaveLength(1);
    expect((await stats(healthy)).requests).toHaveLength(1);
    expect(await (await fetch(`${healthy}/__fake/faults`)).json()).toEqual({ faults: [] });
    const models = await fetch(`${healthy}/v1/models`, { headers: { authorization: "Bearer k" } });
    expect(await models.json()).toMatchObject({ object: "list", data: [{ id: "gpt-4.1" }, {}, {}, {}] });
  });

  it("streams chunk by chunk and notices a client that goes away", async () => {
    const base = ns("stream");
    await fetch(`${base}/__fake/faults`, {
      method: "POST",
      body: JSON.stringify({ model: "gpt-4.1", mode: "slow_chunks", delayMs: 200 }),
    });
    const client = new AbortController();
    const res = await fetch(chatRequest(hello("gpt-4.1", { stream: true }), { base: `${base}/v1`, signal: client.signal }));
    const reader = res.body?.getReader();
    const first = await reader?.read();
    expect(events(new TextDecoder().decode(first?.value))).toHaveLength(1);
    client.abort();

    await expect.poll(async () => (await stats(base)).requests[0]?.aborted, { timeout: 2000 }).toBe(true);
    expect((await stats(base)).inFlight["gpt-4.1"]).toBe(0);
  });

  it("drops the connection on a simulated cut", async () => {
    const base = ns("cut");
    await fetch(`${base}/__fake/faults`, { method: "POST", body: JSON.stringify({ model: "*", mode: "cut_after", after: 2 }) });
    const res = await fetch(chatRequest(hello("deepseek-v3.2", { stream: true }), { base: `${base}/v1` }));
    expect(res.status).toBe(200);
    const { text, error } = await readUntilError(res);
    expect(error).not.toBeNull();
    // The events before the cut arrive; only then does the connection drop.
    expect(text.match(/^data: /gm)).toHaveLength(2);
    expect(text).not.toContain("[DONE]");
  });
});
