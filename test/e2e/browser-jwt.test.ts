import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { launchChromium } from "./chromium";

const url = inject("gatewayUrl");
let browser: Browser;

beforeAll(async () => {
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
});

describe("the browser example (examples/browser) against `npm run dev`", () => {
  it("fetches a user token from the dev token route and streams an answer with the OpenAI SDK", async () => {
    const page = await browser.newPage();
    const chats: { authorization: string | null; status: number }[] = [];
    page.on("response", (res) => {
      if (res.url().endsWith("/v1/chat/completions") && res.request().method() === "POST") {
        chats.push({ authorization: res.request().headers().authorization ?? null, status: res.status() });
      }
    });
    // Served on the origin the gateway allows (ALLOWED_ORIGINS), as serve.mjs would serve it.
    await page.goto(`${inject("pageOrigin")}/example/?gateway=${encodeURIComponent(url)}`);
    await page.fill("#user", "browser-user");
    await page.fill("#prompt", "streamed to a browser");
    await page.click("#send");
    await expect.poll(() => page.getAttribute("#status", "data-state"), { timeout: 20_000 }).toMatch(/done|error/);
    expect(await page.textContent("#status")).toMatch(/^Done/);
    expect(await page.textContent("#answer")).toBe("Hello from gpt-4.1. You said: streamed to a browser");
    // Streamed: the answer arrived in several chunks, each appended as it came.
    expect(Number(await page.getAttribute("#answer", "data-chunks"))).toBeGreaterThan(3);
    // The SDK sent the user's JWT, not a client key.
    expect(chats).toEqual([{ authorization: expect.stringMatching(/^Bearer [\w-]+\.[\w-]+\.[\w-]+$/), status: 200 }]);
    await page.close();
  });
});
