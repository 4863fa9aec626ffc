// Needs src/index.ts to export this module's FakeUpstreamObject (the FAKE_UPSTREAM binding).
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { chatRequest, hello } from "../../test/support/fake-upstream";
import { type FaultInput, FaultSchema } from "./faults";
import { createFakeUpstream } from "./handler";
import { DurableFaultStore } from "./object";

const fresh = (): DurableFaultStore => {
  const name = crypto.randomUUID();
  return new DurableFaultStore(() => env.FAKE_UPSTREAM.getByName(name));
};
const fault = (f: FaultInput) => FaultSchema.parse(f);

describe("Durable Object fault store", () => {
  it("keeps, selects and consumes faults like the memory store", async () => {
    const store = fresh();
    await store.set(fault({ model: "*", mode: "status", body: { error: { message: "x" } } }));
    await store.set(fault({ model: "gpt-4.1", mode: "bad_json", times: 2, key: "sk-a" }));
    expect(await store.list()).toHaveLength(2);

    expect((await store.take("gpt-4.1", "sk-a"))?.mode).toBe("bad_json");
    expect((await store.take("gpt-4.1", "sk-b"))?.body).toEqual({ error: { message: "x" } });
    expect((await store.list())[1]?.times).toBe(1);
    await store.take("gpt-4.1", "sk-a");
    expect(await store.list()).toHaveLength(1);

    await store.clear();
    expect(await store.list()).toEqual([]);
    expect(await store.take("gpt-4.1", null)).toBeNull();
  });

  it("hands out a limited fault exactly `times` times under concurrency", async () => {
    const store = fresh();
    await store.set(fault({ model: "gpt-4.1", mode: "hang", times: 5 }));
    const taken = await Promise.all(Array.from({ length: 20 }, () => store.take("gpt-4.1", null)));
    expect(taken.filter((t) => t !== null)).toHaveLength(5);
  });

  it("drives the handler", async () => {
    const handler = createFakeUpstream({ models: ["gpt-4.1"], faults: fresh() });
    const set = new Request("http://upstream.test/__fake/faults", {
      method: "POST",
      body: JSON.stringify({ model: "gpt-4.1", mode: "status", status: 429, retryAfter: "3", times: 1 }),
    });
    expect((await handler(set)).status).toBe(200);
    const limited = await handler(chatRequest(hello()));
    expect([limited.status, limited.headers.get("retry-after")]).toEqual([429, "3"]);
    expect((await handler(chatRequest(hello()))).status).toBe(200);
  });
});
