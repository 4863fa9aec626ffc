import { mkdirSync } from "node:fs";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { launchChromium } from "./chromium";

const url = inject("gatewayUrl");
let browser: Browser;

beforeAll(async () => {
  browser = await launchChromium();
  mkdirSync("test-results", { recursive: true });
});

afterAll(async () => {
  await browser?.close();
  await fetch(`${url}/admin/demo/faults`, { method: "DELETE", headers: { authorization: `Bearer ${inject("adminToken")}` } });
});

/** A phone-sized tab with the dashboard open and the admin token entered. */
async function openDashboard(): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 420, height: 900 } });
  await page.goto(`${url}/admin`);
  await page.getByTestId("token-input").fill(inject("adminToken"));
  await page.getByTestId("token-submit").click();
  return page;
}

describe("the admin dashboard in a real browser", () => {
  it("logs in, shows every model, breaks one, watches it open, resets it to closed", async () => {
    const page = await openDashboard();
    const cards = page.getByTestId("circuit");
    await expect.poll(() => cards.count()).toBe(4);
    const names = await cards.evaluateAll((els) => els.map((e) => e.getAttribute("data-model")));
    expect(names.sort()).toEqual(["claude-sonnet-4.5", "deepseek-v3.2", "gemini-2.5-flash", "gpt-4.1"]);

    const model = "claude-sonnet-4.5";
    const card = page.locator(`[data-testid="circuit"][data-model="${model}"]`);
    await expect.poll(() => card.getAttribute("data-state")).toBe("closed");
    await page.getByTestId("demo").waitFor({ state: "visible" });
    await page.getByTestId("demo-model").selectOption(model);
    await page.getByTestId("demo-mode").selectOption("status");
    await page.getByTestId("demo-break").click();
    await page.getByTestId("demo-traffic").click();
    await expect.poll(() => card.getAttribute("data-state"), { timeout: 15_000 }).toBe("open");
    expect(await card.getByTestId("state").textContent()).toMatch(/open/i);
    await page.screenshot({ path: "test-results/dashboard-open.png", fullPage: true });

    await page.getByTestId("demo-clear").click();
    await card.getByTestId("reset").click();
    await card.getByTestId("confirm-reset").click();
    await expect
      .poll(() => page.locator(`[data-testid="circuit"][data-model="${model}"]`).getAttribute("data-state"), { timeout: 10_000 })
      .toBe("closed");
    await expect
      .poll(() => page.locator(`[data-testid="circuit"][data-model="${model}"] li`).first().textContent())
      .toContain("reset");
    await page.screenshot({ path: "test-results/dashboard-closed.png", fullPage: true });
    await page.close();
  });

  it("shows each tenant's spend and requests against its limits, and the demo tenant's user after a request with a dev token", async () => {
    const minted = (await (await fetch(`${url}/__dev/token?tenant=demo&sub=alice&plan=pro`)).json()) as { token: string };
    const res = await fetch(`${url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${minted.token}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "gpt-4.1", messages: [{ role: "user", content: "hello from alice" }] }),
    });
    expect(res.status).toBe(200);
    await res.text();

    const page = await openDashboard();
    const demo = page.locator('[data-testid="tenant"][data-tenant="demo"]');
    await demo.waitFor({ state: "visible" });
    const alice = demo.locator('[data-testid="tenant-user"][data-user="alice"]');
    await expect.poll(() => alice.count(), { timeout: 10_000 }).toBe(1);
    const cells = await alice.locator("td").allTextContents();
    expect(cells[0]).toBe("alice");
    expect(cells[1]).toBe("pro");
    expect(cells[2]).toMatch(/^\$0\.\d{4}$/);
    expect(Number(cells[3])).toBeGreaterThanOrEqual(1);
    // The demo tenant's requests this minute, against the default tenant limit, as a bar.
    const meter = demo.locator('[role="meter"][aria-label="Requests this minute"]');
    expect(Number(await meter.getAttribute("aria-valuenow"))).toBeGreaterThanOrEqual(1);
    await page.screenshot({ path: "test-results/dashboard-tenants.png", fullPage: true });
    await page.getByTestId("tenants").screenshot({ path: "test-results/dashboard-tenants-panel.png" });
    await page.close();
  });

  it("a page on an allowed origin calls the API with fetch and reads the x-gateway-* headers", async () => {
    const page = await browser.newPage();
    await page.goto(inject("pageOrigin"));
    const result = await page.evaluate(async (api) => {
      const res = await fetch(`${api}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-gateway-fallback": "all", "x-stainless-lang": "js" },
        body: JSON.stringify({ model: "gpt-4.1", messages: [{ role: "user", content: "from the browser" }] }),
      });
      return {
        status: res.status,
        model: res.headers.get("x-gateway-model"),
        source: res.headers.get("x-gateway-source"),
        circuit: res.headers.get("x-gateway-circuit"),
        requestId: res.headers.get("x-request-id"),
        body: (await res.json()) as { choices: { message: { content: string } }[] },
      };
    }, url);
    expect(result.status).toBe(200);
    expect(result.model).toBe("gpt-4.1");
    expect(result.source).toBe("upstream");
    expect(result.circuit).toBe("closed");
    expect(result.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(result.body.choices[0]?.message.content).toContain("from the browser");
    await page.close();
  });
});
