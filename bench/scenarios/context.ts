// What every scenario of the bench is given: the columns it compares and the processes behind
// them, the gateway's admin API, and where its rows, raw numbers and wrong answers go.
import { call, getJson } from "../lib/http";
import type { FakeProcess, WranglerProcess } from "../lib/processes";

export const TOKEN = "bench-admin-token";
export const KEY = "sk-bench-dummy";

export type ColumnName = "upstream direct" | "bare Worker" | "gateway";
export interface Column {
  name: ColumnName;
  /** Base URL of the OpenAI API (…/v1). */
  api: string;
}

export interface Row {
  scenario: string;
  metric: string;
  direct: string;
  bare: string;
  gateway: string;
  vsBare: string;
  target: string;
  met: "yes" | "no" | "—";
}

export interface Bench {
  reps: number;
  fake: FakeProcess;
  bare: WranglerProcess;
  gw: WranglerProcess;
  columns: Column[];
  admin: Admin;
  rows: Row[];
  raw: Record<string, unknown>;
  /** One value per column, keyed by its name. */
  byCol<T>(f: (c: Column) => T): Record<ColumnName, T>;
}

export const JSON_HEADERS = { "content-type": "application/json", authorization: `Bearer ${KEY}` };
export const chatBody = (model: string, prompt: string, stream = false) =>
  JSON.stringify({ model, stream, messages: [{ role: "user", content: prompt }] });

/** Problems with answers (wrong status, bad body): these, not timings, fail the bench. */
export const problems: string[] = [];
export function expectOk(what: string, cond: boolean, detail: string): void {
  if (!cond && problems.length < 50) problems.push(`${what}: ${detail}`);
}

interface CircuitJson {
  model: string;
  state: string;
  calls: number;
}

export type Admin = ReturnType<typeof admin>;
export const admin = (gw: WranglerProcess) => ({
  circuit: (model: string) => getJson<CircuitJson>(`${gw.url}/admin/circuits/${encodeURIComponent(model)}`, TOKEN),
  open: (model: string) => call("POST", `${gw.url}/admin/circuits/${encodeURIComponent(model)}/open`, { reason: "bench" }, TOKEN),
  reset: (model: string) =>
    call("POST", `${gw.url}/admin/circuits/${encodeURIComponent(model)}/reset`, { reason: "bench" }, TOKEN),
  async metric(series: string): Promise<number> {
    const res = await fetch(`${gw.url}/admin/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    const text = await res.text();
    const line = text.split("\n").find((l) => l.startsWith(`${series} `));
    return line ? Number(line.slice(series.length + 1)) : 0;
  },
});
