import OpenAI from "openai";
import { expect } from "vitest";
import { chat, circuits, type GatewayUnderTest, gateway, sseData, Upstream, uniqueModel, WEB_KEY } from "./harness";

/** Helpers shared by the fallback-chain, cache and key/retry tests. */

export type Config = Record<string, unknown>;

/** A requested model falling back to one cheaper model, plus whatever else the test wants. */
export function chainSetup(opts: { model?: Record<string, unknown>; fallback?: Record<string, unknown>; extra?: Config } = {}) {
  const up = new Upstream();
  const model = uniqueModel();
  const fb = uniqueModel("deepseek-v3.2");
  const config: Config = {
    models: {
      [model]: { fallbacks: [fb], ...opts.model },
      [fb]: { fallbacks: [], ...opts.fallback },
    },
    retry: { maxRetries: 0, baseDelayMs: 10 },
    timeouts: { requestMs: 2000, streamIdleMs: 2000, streamTotalMs: 5000, deadlineMs: 4000 },
    ...opts.extra,
  };
  return { up, model, fb, config, gw: gateway(up, { config }) };
}

/** A single model with no fallback models (the cache step stays in the chain). */
export function soloSetup(opts: { model?: Record<string, unknown>; extra?: Config } = {}) {
  const up = new Upstream();
  const model = uniqueModel();
  const config: Config = {
    models: { [model]: { fallbacks: [], ...opts.model } },
    retry: { maxRetries: 0, baseDelayMs: 10 },
    timeouts: { requestMs: 2000, streamIdleMs: 2000, streamTotalMs: 5000, deadlineMs: 4000 },
    ...opts.extra,
  };
  return { up, model, config, gw: gateway(up, { config }) };
}

/** The official SDK, pointed at a gateway "isolate" through its `fetch` option. */
export function sdk(gw: GatewayUnderTest, apiKey = WEB_KEY): OpenAI {
  return new OpenAI({
    apiKey,
    baseURL: "http://gateway.test/v1",
    fetch: (url, init) => gw.fetch(new Request(url, init)),
    maxRetries: 0,
    timeout: 5000,
  });
}

export interface Chunk {
  object: string;
  model: string;
  choices: {
    index: number;
    delta: { role?: string; content?: string | null; tool_calls?: ToolDelta[] };
    finish_reason: string | null;
  }[];
  usage?: unknown;
}
interface ToolDelta {
  index: number;
  id?: string;
  type?: string;
  function?: { name?: string; arguments?: string };
}
export interface ToolCall {
  id: string;
  type: string;
  function: { name: string; arguments: string };
}

/** What a raw SSE body says: its chunks, the text, tool calls, finish reason, [DONE] and error events. */
export function parseStream(text: string) {
  const data = sseData(text);
  const done = data.at(-1) === "[DONE]";
  const parsed = data
    .filter((d) => d !== "[DONE]")
    .map((d) => JSON.parse(d) as Chunk & { error?: { message: string; type: string; code: string } });
  const errors = parsed.filter((p) => p.error !== undefined).map((p) => p.error!);
  const chunks = parsed.filter((p) => p.error === undefined);
  let content = "";
  let finish: string | null = null;
  const calls: ToolCall[] = [];
  for (const c of chunks) {
    const choice = c.choices[0];
    content += choice?.delta.content ?? "";
    finish = choice?.finish_reason ?? finish;
    for (const d of choice?.delta.tool_calls ?? []) {
      const call = (calls[d.index] ??= { id: "", type: "function", function: { name: "", arguments: "" } });
      if (d.id) call.id = d.id;
      if (d.type) call.type = d.type;
      if (d.function?.name) call.function.name += d.function.name;
      if (d.function?.arguments) call.function.arguments += d.function.arguments;
    }
  }
  return { data, done, chunks, errors, content, finish, toolCalls: calls, doneCount: data.filter((d) => d === "[DONE]").length };
}

export interface Completion {
  id: string;
  object: string;
  model: string;
  choices: { index: number; message: { role: string; content: string | null; tool_calls?: ToolCall[] }; finish_reason: string }[];
  usage?: { total_tokens: number };
}

/** The fake upstream's deterministic answer text. */
export const hello = (model: string, said = "hi there") => `Hello from ${model}. You said: ${said}`;

/** Sends one chat request and reads it to the end, then waits for its background work (cache write, reports). */
export async function primed(gw: GatewayUnderTest, body: Record<string, unknown>, headers: Record<string, string> = {}) {
  const res = await chat(gw, body, headers);
  const text = await res.text();
  await gw.settle();
  return { res, text };
}

/**
 * Whether the cache holds an answer for `body` (of `model`, for the client `key`): the model's
 * circuit is forced open, a fresh isolate asks with `x-gateway-fallback: cache`, so only the
 * cache step may answer; then the circuit is reset. Returns the probe's response and body text.
 */
export async function probeCache(
  up: Upstream,
  config: Config,
  model: string,
  body: Record<string, unknown>,
  opts: { key?: string; headers?: Record<string, string>; env?: Record<string, unknown> } = {},
) {
  const isolate = gateway(up, { config, ...opts.env });
  const c = await circuits(isolate);
  await c.forceOpen(model, "probe the cache", 60_000);
  try {
    const res = await chat(isolate, body, {
      authorization: `Bearer ${opts.key ?? WEB_KEY}`,
      "x-gateway-fallback": "cache",
      ...opts.headers,
    });
    const text = await res.text();
    await isolate.settle();
    return { res, text, hit: res.status === 200 && res.headers.get("x-gateway-source") === "cache" };
  } finally {
    await c.reset(model, "probe done");
  }
}

/** Forces `model` open for `ms` (null: until reset) and returns a fresh isolate that sees it at once. */
export async function openAndFresh(
  up: Upstream,
  config: Config,
  model: string,
  ms: number | null = 60_000,
  env: Record<string, unknown> = {},
) {
  const isolate = gateway(up, { config, ...env });
  await (await circuits(isolate)).forceOpen(model, "test", ms);
  return isolate;
}

export function retryAfterOf(res: Response): { seconds: number; ms: number } {
  const ra = res.headers.get("retry-after");
  const ms = res.headers.get("retry-after-ms");
  expect(ra, "retry-after header").not.toBeNull();
  expect(ra).toMatch(/^\d+$/);
  expect(ms, "retry-after-ms header").not.toBeNull();
  expect(ms).toMatch(/^\d+$/);
  expect(Number(ra)).toBeGreaterThanOrEqual(1);
  return { seconds: Number(ra), ms: Number(ms) };
}

/** The fake's key fingerprint (first 8 hex of SHA-256), as in `up.stats()` and key alerts. */
export async function fingerprintOf(key: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(key)));
  return [...digest.slice(0, 4)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export { WEB_KEY };
