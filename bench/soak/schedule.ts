// The upstream's schedule: the simulated upstream cycles through healthy and broken phases until
// the soak stops it.
import { statSync } from "node:fs";
import { call } from "../lib/http";
import { sleep } from "../lib/sleep";
import { PLAN } from "./config";

type Fault = Record<string, unknown>;
/** The upstream's schedule, cycled through; every phase but "healthy" breaks something. */
const PHASES: { name: string; faults: Fault[] }[] = [
  { name: "healthy", faults: [] },
  { name: "5xx gpt-4.1", faults: [{ model: "gpt-4.1", mode: "status", status: 503 }] },
  {
    name: "hang claude, 500 deepseek",
    faults: [
      { model: "claude-sonnet-4.5", mode: "hang" },
      { model: "deepseek-v3.2", mode: "status", status: 500 },
    ],
  },
  { name: "healthy", faults: [] },
  { name: "429 everywhere", faults: [{ model: "*", mode: "status", status: 429, retryAfter: "1" }] },
  { name: "cut streams", faults: [{ model: "*", mode: "cut_after", after: 3 }] },
  { name: "healthy", faults: [] },
  { name: "5xx everywhere", faults: [{ model: "*", mode: "status", status: 500 }] },
  { name: "hang everywhere", faults: [{ model: "*", mode: "hang" }] },
  { name: "healthy", faults: [] },
  {
    name: "idle streams, slow headers",
    faults: [
      { model: "*", mode: "slow_chunks", delayMs: 700 },
      { model: "gemini-2.5-flash", mode: "slow_headers", delayMs: 700 },
    ],
  },
  {
    name: "error events, bad JSON",
    faults: [
      { model: "gpt-4.1", mode: "error_event" },
      { model: "gemini-2.5-flash", mode: "bad_json" },
      { model: "claude-sonnet-4.5", mode: "bad_sse" },
    ],
  },
];

export interface Schedule {
  phaseCounts: Map<string, number>;
  /** Where each phase began in the gateway's log, to place its errors. */
  phaseStarts: { name: string; logOffset: number }[];
  /** Settles once stopped with the faults cleared; rejects if they could not be switched. */
  done: Promise<void>;
}

export function startSchedule(fakeUrl: string, logFile: string, signal: AbortSignal): Schedule {
  const phaseCounts = new Map<string, number>();
  const phaseStarts: Schedule["phaseStarts"] = [];
  const logSize = () => {
    try {
      return statSync(logFile).size;
    } catch {
      return 0;
    }
  };
  const done = (async () => {
    for (let i = 0; !signal.aborted; i++) {
      const phase = PHASES[i % PHASES.length] as (typeof PHASES)[number];
      await call("DELETE", `${fakeUrl}/__fake/faults`);
      if (phase.faults.length > 0) await call("POST", `${fakeUrl}/__fake/faults`, { faults: phase.faults });
      phaseCounts.set(phase.name, (phaseCounts.get(phase.name) ?? 0) + 1);
      phaseStarts.push({ name: phase.name, logOffset: logSize() });
      for (let waited = 0; waited < PLAN.phaseMs && !signal.aborted; waited += 100) await sleep(100);
    }
    await call("DELETE", `${fakeUrl}/__fake/faults`);
  })();
  return { phaseCounts, phaseStarts, done };
}
