import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { inject } from "vitest";
import { createGateway } from "../../src/index";

export const UPSTREAM_KEY = "sk-test-primary-0000000000000000";
export const WEB_KEY = "gk-web-1111";
export const IOS_KEY = "gk-ios-2222";

const port = () => inject("upstreamPort");

/** A fault switchboard and request log of its own, on the shared fake upstream server. */
export class Upstream {
  readonly ns = `t${crypto.randomUUID().slice(0, 8)}`;
  get base(): string {
    return `http://127.0.0.1:${port()}/ns/${this.ns}/v1`;
  }
  get webhook(): string {
    return `http://127.0.0.1:${port()}/ns/${this.ns}/__fake/webhook`;
  }
  private url(path: string) {
    return `http://127.0.0.1:${port()}/ns/${this.ns}/__fake/${path}`;
  }
  async fault(...faults: Record<string, unknown>[]): Promise<void> {
    const res = await fetch(this.url("faults"), { method: "POST", body: JSON.stringify({ faults }) });
    if (!res.ok) throw new Error(`fault rejected: ${await res.text()}`);
  }
  async clearFaults(): Promise<void> {
    await (await fetch(this.url("faults"), { method: "DELETE" })).body?.cancel();
  }
  async stats(): Promise<{
    requests: {
      model: string;
      stream: boolean;
      keyFingerprint: string;
      aborted: boolean;
      completed: boolean;
      body: Record<string, unknown>;
    }[];
    inFlight: Record<string, number>;
    maxInFlight: Record<string, number>;
  }> {
    return (await fetch(this.url("stats"))).json();
  }
  async calls(model?: string): Promise<number> {
    const s = await this.stats();
    return s.requests.filter((r) => model === undefined || r.model === model).length;
  }
  async alerts(): Promise<Record<string, unknown>[]> {
    return ((await (await fetch(this.url("webhook"))).json()) as { received: Record<string, unknown>[] }).received;
  }
}

/** A model name of its own, so each test has its own circuit (the fake answers `gpt-4.1-*`). */
export function uniqueModel(base = "gpt-4.1"): string {
  return `${base}-${crypto.randomUUID().slice(0, 8)}`;
}

export interface GatewayUnderTest {
  env: Env;
  fetch(input: string | Request, init?: RequestInit): Promise<Response>;
  /** Waits for the background work (reports, cache writes) of every request made so far. */
  settle(): Promise<void>;
}

/**
 * One gateway "isolate" over the real Durable Objects and KV, with env overrides. Two of these
 * share storage but no memory, as two isolates do.
 */
export function gateway(
  upstream: Upstream,
  overrides: Partial<Record<keyof Env, unknown>> & { config?: unknown } = {},
): GatewayUnderTest {
  const { config = {}, ...vars } = overrides;
  // A short snapshot TTL keeps each test's background report flush (≤ TTL) quick to settle. Every
  // test shares the tenants `web` and `ios`, so their request limits are off unless a test sets them.
  const withTtl = {
    snapshotTtlMs: 50,
    tenants: { default: { requestsPerMinute: null }, ip: { requestsPerMinute: null } },
    ...(config as Record<string, unknown>),
  };
  const testEnv = {
    ...env,
    HOLYSHEEP_BASE_URL: upstream.base,
    GATEWAY_CONFIG: JSON.stringify(withTtl),
    ...vars,
  } as Env;
  const handler = createGateway();
  const pending: ExecutionContext[] = [];
  return {
    env: testEnv,
    async fetch(input, init) {
      const request = typeof input === "string" ? new Request(new URL(input, "http://gateway.test"), init) : input;
      const ctx = createExecutionContext();
      pending.push(ctx);
      const fetchHandler = handler.fetch;
      if (!fetchHandler) throw new Error("no fetch handler");
      return fetchHandler(request as Request<unknown, IncomingRequestCfProperties>, testEnv, ctx);
    },
    async settle() {
      await Promise.all(pending.splice(0).map((ctx) => waitOnExecutionContext(ctx)));
    },
  };
}

export function chatBody(model: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { model, messages: [{ role: "user", content: "hi there" }], ...extra };
}

export function chat(gw: GatewayUnderTest, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return gw.fetch("/v1/chat/completions", {
    method: "POST",
    headers: { authorization: `Bearer ${WEB_KEY}`, "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

/** The `data:` payloads of an SSE body, in order. */
export function sseData(text: string): string[] {
  return text
    .split("\n\n")
    .map((e) => e.trim())
    .filter((e) => e.startsWith("data:"))
    .map((e) => e.replace(/^data: ?/, ""));
}

/** The admin view of circuits, read through the same objects the gateway uses. */
export async function circuits(gw: GatewayUnderTest) {
  const { loadSettings } = await import("../../src/config/settings");
  const { Circuits } = await import("../../src/admin/circuits");
  const result = await loadSettings(gw.env);
  if (!result.ok) throw new Error(`bad settings: ${result.problem.path}`);
  const settings = result.settings;
  const api = new Circuits(gw.env, settings);
  const model = (name: string) => {
    const m = settings.config.models.get(name);
    if (!m) throw new Error(`unknown model ${name}`);
    return m;
  };
  return {
    detail: (name: string) => api.detail(model(name)),
    reset: (name: string, reason?: string) => api.reset(model(name), reason),
    forceOpen: (name: string, reason: string, durationMs: number | null) => api.forceOpen(model(name), reason, durationMs),
    series: (name: string) => api.series(model(name)),
    settings,
  };
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Waits out the end of the current UTC minute when less than `marginMs` of it is left: a test of
 * a per-minute limit must not see its requests split over two minutes.
 */
export async function awayFromMinuteEnd(marginMs = 8_000): Promise<void> {
  const left = 60_000 - (Date.now() % 60_000);
  if (left < marginMs) await sleep(left + 50);
}

/** Polls until `check` holds (or fails after `timeoutMs`): for effects that land in the background. */
export async function eventually(check: () => Promise<boolean> | boolean, timeoutMs = 3000): Promise<void> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > timeoutMs) throw new Error("condition not met in time");
    await sleep(20);
  }
}

/** A gateway with one configured model, short timeouts and no retries: most request-path tests. */
export function singleModel(vars: Partial<Record<keyof Env, unknown>> = {}, config: Record<string, unknown> = {}) {
  const up = new Upstream();
  const model = uniqueModel();
  const gw = gateway(up, {
    config: {
      models: { [model]: {} },
      retry: { maxRetries: 0 },
      timeouts: { requestMs: 300, streamIdleMs: 300, streamTotalMs: 3000, deadlineMs: 1000 },
      ...config,
    },
    ...vars,
  });
  return { up, model, gw };
}
