import { spawnSync } from "node:child_process";
import { describe, expect, inject, it } from "vitest";

const url = inject("gatewayUrl");

describe("GET /admin/metrics", () => {
  it("passes `promtool check metrics` after real traffic", async () => {
    for (const model of ["gpt-4.1", "deepseek-v3.2"]) {
      const res = await fetch(`${url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model, stream: true, messages: [{ role: "user", content: `metrics ${crypto.randomUUID()}` }] }),
      });
      await res.text();
    }
    // Reports reach the breaker objects within snapshotTtlMs (200 ms in the e2e config).
    let text = "";
    for (let i = 0; i < 50 && !text.includes("gateway_tokens_total"); i++) {
      await new Promise((r) => setTimeout(r, 100));
      text = await (await fetch(`${url}/admin/metrics`, { headers: { authorization: `Bearer ${inject("adminToken")}` } })).text();
    }
    expect(text).toContain("gateway_requests_total");
    expect(text).toContain("gateway_upstream_latency_seconds_bucket");
    const check = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
    if (check.error) throw new Error(`promtool is not installed (apt-get install prometheus): ${check.error.message}`);
    expect(check.stderr + check.stdout).toBe("");
    expect(check.status).toBe(0);
  });
});
