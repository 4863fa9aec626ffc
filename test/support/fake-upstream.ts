// The simulated upstream's own tests (src/fake-upstream/*.test.ts) drive it in-process with these.
import { type FaultInput, MemoryFaultStore } from "../../src/fake-upstream/faults";
import { createFakeUpstream, type FetchHandler } from "../../src/fake-upstream/handler";
import { FakeStats } from "../../src/fake-upstream/stats";

export const BASE = "http://upstream.test/v1";
export const KEY = "sk-test-key-1";

export function fake(): { handler: FetchHandler; stats: FakeStats; faults: MemoryFaultStore } {
  const faults = new MemoryFaultStore();
  const stats = new FakeStats();
  const handler = createFakeUpstream({ models: ["gpt-4.1", "deepseek-v3.2"], faults, stats });
  return { handler, stats, faults };
}

export function chatRequest(body: unknown, init: { key?: string | null; signal?: AbortSignal; base?: string } = {}): Request {
  const headers = new Headers({ "content-type": "application/json" });
  const key = init.key === undefined ? KEY : init.key;
  if (key !== null) headers.set("authorization", `Bearer ${key}`);
  const raw = typeof body === "string" ? body : JSON.stringify(body);
  return new Request(`${init.base ?? BASE}/chat/completions`, { method: "POST", headers, body: raw, signal: init.signal });
}

export function hello(model = "gpt-4.1", extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { model, messages: [{ role: "user", content: "hi there" }], ...extra };
}

export async function setFaults(handler: FetchHandler, faults: FaultInput | { faults: FaultInput[] }): Promise<void> {
  const res = await handler(new Request("http://upstream.test/__fake/faults", { method: "POST", body: JSON.stringify(faults) }));
  if (res.status !== 200) throw new Error(`setting faults failed: ${res.status} ${await res.text()}`);
}

/** The `data:` payloads of an SSE body, in order. */
export function events(text: string): string[] {
  return text
    .split("\n\n")
    .filter((e) => e !== "")
    .map((e) => e.replace(/^data: /, ""));
}

/** Reads a body chunk by chunk, noting when each chunk arrived. */
export async function timedChunks(res: Response): Promise<{ text: string; at: number }[]> {
  if (res.body === null) return [];
  const out: { text: string; at: number }[] = [];
  const decoder = new TextDecoder();
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return out;
    out.push({ text: decoder.decode(value), at: performance.now() });
  }
}

/** Reads a body until it fails, as a cut stream must: the text that arrived, and the error. */
export async function readUntilError(res: Response): Promise<{ text: string; error: unknown }> {
  const reader = res.body?.getReader();
  if (reader === undefined) throw new Error("no body");
  const decoder = new TextDecoder();
  let text = "";
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return { text, error: null };
      text += decoder.decode(value, { stream: true });
    }
  } catch (error) {
    return { text, error };
  }
}
