// How the simulated upstream routes: by the path's end, whatever the base URL, with OpenAI-shaped
// 404s and 405s, and a failing request rejected rather than answered with a 500.
import { describe, expect, it } from "vitest";
import { chatRequest, fake, hello, KEY, setFaults } from "../../test/support/fake-upstream";

const auth = { authorization: `Bearer ${KEY}` };

describe("routes", () => {
  it("serves under any base URL, and trailing slashes do not count", async () => {
    const { handler } = fake();
    for (const base of ["http://upstream.test", "http://upstream.test/v1", "http://upstream.test/openai/v1/"]) {
      expect((await handler(chatRequest(hello(), { base }))).status).toBe(200);
    }
    for (const path of ["/v1/models", "/models//", "/a/b/models/"]) {
      const res = await handler(new Request(`http://upstream.test${path}`, { headers: auth }));
      expect(await res.json()).toMatchObject({ object: "list" });
    }
    expect((await handler(new Request("http://upstream.test/ns/x/__fake/stats/"))).status).toBe(200);
  });

  it("answers an unknown path with 404 naming it, and another method with 405", async () => {
    const { handler } = fake();
    const unknown = await handler(new Request("http://upstream.test/v1/embeddings/", { method: "POST", headers: auth }));
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({
      error: { message: "Unknown path /v1/embeddings", type: "invalid_request_error", code: "unknown_url", param: null },
    });
    const cases: [string, string][] = [
      ["GET", "/v1/chat/completions"],
      ["DELETE", "/v1/models"],
      ["PUT", "/__fake/faults"],
      ["POST", "/__fake/stats"],
      ["PATCH", "/__fake/webhook"],
      ["HEAD", "/v1/models"],
    ];
    for (const [method, path] of cases) {
      const res = await handler(new Request(`http://upstream.test${path}`, { method, headers: auth }));
      expect([method, path, res.status]).toEqual([method, path, 405]);
    }
    const res = await handler(new Request("http://upstream.test/v1/chat/completions", { headers: auth }));
    expect(await res.json()).toEqual({
      error: { message: "Method not allowed.", type: "invalid_request_error", code: null, param: null },
    });
  });

  it("keeps the webhook's last deliveries, readable and clearable", async () => {
    const { handler } = fake();
    const hook = "http://upstream.test/__fake/webhook";
    await handler(new Request(hook, { method: "POST", body: '{"text":"one"}' }));
    await handler(new Request(hook, { method: "POST", body: "not json" }));
    expect(await (await handler(new Request(hook))).json()).toEqual({ received: [{ text: "one" }, null] });
    await handler(new Request(hook, { method: "DELETE" }));
    expect(await (await handler(new Request(hook))).json()).toEqual({ received: [] });
  });

  it("rejects a request whose client went away instead of answering it", async () => {
    const { handler } = fake();
    await setFaults(handler, { model: "gpt-4.1", mode: "hang" });
    const client = new AbortController();
    const pending = handler(chatRequest(hello(), { signal: client.signal }));
    client.abort(new Error("client gone"));
    await expect(pending).rejects.toThrow("client gone");
  });
});
