// The soak's invariants (issue 6): each check prints what it saw and adds what it found broken to
// `violations`.
import { readFileSync } from "node:fs";
import { say } from "../lib/output";
import { percentile } from "../lib/stats";
import { GRACE_MS, HALF_OPEN_MAX, MODELS, PLAN, TIMEOUTS } from "./config";
import type { Outcome } from "./judge";
import type { Schedule } from "./schedule";
import type { Watch } from "./watch";

/** Terminal colour codes start with the escape byte, which a regex literal may not spell. */
const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g");

/** Enough answers, every one well-formed, none past its deadline. */
export function checkAnswers(outcomes: Outcome[], violations: string[]): void {
  if (outcomes.length < PLAN.minimum)
    violations.push(`only ${outcomes.length} requests were answered in time (the soak needs at least ${PLAN.minimum})`);

  // 1. Well-formed answers.
  const bad = outcomes.filter((o) => o.problem !== null);
  say(`well-formed answers: ${outcomes.length - bad.length} of ${outcomes.length}`);
  if (bad.length > 0) {
    const kinds = new Map<string, number>();
    for (const o of bad) kinds.set(o.problem as string, (kinds.get(o.problem as string) ?? 0) + 1);
    violations.push(
      `${bad.length} answers were not well-formed: ${[...kinds]
        .slice(0, 5)
        .map(([p, n]) => `${n}× ${p}`)
        .join("; ")}`,
    );
  }

  // 2. Deadlines.
  const limit = TIMEOUTS.deadlineMs + GRACE_MS;
  const late = outcomes.filter((o) => (o.stream && o.status === 200 ? o.firstByteMs : o.ms) > limit);
  const nonStream = outcomes.filter((o) => !(o.stream && o.status === 200)).map((o) => o.ms);
  const firstBytes = outcomes.filter((o) => o.stream && o.status === 200).map((o) => o.firstByteMs);
  say(
    `deadline (${TIMEOUTS.deadlineMs} ms + ${GRACE_MS} ms): ${late.length} late; whole answers p50 ${percentile(nonStream, 50).toFixed(1)} ms, ` +
      `p99 ${percentile(nonStream, 99).toFixed(1)} ms, max ${Math.max(0, ...nonStream).toFixed(1)} ms; stream first byte p99 ` +
      `${percentile(firstBytes, 99).toFixed(1)} ms, max ${Math.max(0, ...firstBytes).toFixed(1)} ms`,
  );
  if (late.length > 0) {
    const worst = late.reduce((a, b) =>
      (a.stream && a.status === 200 ? a.firstByteMs : a.ms) > (b.stream && b.status === 200 ? b.firstByteMs : b.ms) ? a : b,
    );
    violations.push(
      `${late.length} answers outlived the deadline by more than ${GRACE_MS} ms (worst: ${worst.requested} ${worst.stream ? "stream" : "plain"} ${worst.status} ${worst.kind} after ${(worst.stream && worst.status === 200 ? worst.firstByteMs : worst.ms).toFixed(0)} ms)`,
    );
  }
}

/** 3. Half-open probes. */
export function checkHalfOpen(seen: Watch, violations: string[]): void {
  const probeLine = MODELS.map((m) => `${m} ${seen.maxHalfOpen.get(m) ?? 0}`).join(", ");
  say(`half-open probes in flight, max seen by the admin API (limit ${HALF_OPEN_MAX}): ${probeLine}`);
  say(
    `  upstream concurrency the fake saw in 100 ms windows that were half_open at both ends (for reference; includes answers admitted before the circuit opened): ${MODELS.map((m) => `${m} ${seen.upstreamWhileHalfOpen.get(m) ?? "-"}`).join(", ")}`,
  );
  say(`  states seen: ${MODELS.map((m) => `${m} {${[...(seen.statesSeen.get(m) ?? [])].join(", ")}}`).join("; ")}`);
  for (const m of MODELS) {
    if ((seen.maxHalfOpen.get(m) ?? 0) > HALF_OPEN_MAX)
      violations.push(`${m}: ${seen.maxHalfOpen.get(m)} half-open probes in flight (limit ${HALF_OPEN_MAX})`);
  }
}

/**
 * 4. The gateway's log, read once wrangler has stopped: no unhandled errors, no reloads. Returns
 * how often each event was logged.
 */
export function checkLog(logFile: string, phaseStarts: Schedule["phaseStarts"], violations: string[]): Map<string, number> {
  const raw = readFileSync(logFile);
  const logText = raw.toString("utf8").replace(ANSI, "");
  const crashes: string[] = [];
  const crashPhases = new Map<string, number>();
  let offset = 0;
  for (const line of raw.toString("utf8").split("\n")) {
    const plain = line.replace(ANSI, "");
    if (/unhandled_error|uncaught|uncaught exception/i.test(plain)) {
      crashes.push(plain);
      const phase = phaseStarts.findLast((p) => p.logOffset <= offset)?.name ?? "before the load";
      crashPhases.set(phase, (crashPhases.get(phase) ?? 0) + 1);
    }
    offset += Buffer.byteLength(line) + 1;
  }
  const reloads = (logText.match(/Reloading local server/g) ?? []).length;
  const events = new Map<string, number>();
  for (const m of logText.matchAll(/"event":"([a-z_]+)"/g)) events.set(m[1] as string, (events.get(m[1] as string) ?? 0) + 1);
  say(
    `gateway log: ${crashes.length} unhandled errors; events ${[...events]
      .sort((a, b) => b[1] - a[1])
      .map(([e, n]) => `${e} ${n}`)
      .join(", ")}`,
  );
  if (crashes.length > 0) {
    const distinct = [...new Set(crashes.map((c) => c.trim().slice(0, 200)))];
    // workerd reports "Promise will never complete" when V8 collects the promise, so the phase is
    // where an error was noticed, not necessarily where it was caused.
    say(
      `  unhandled errors by the upstream's phase when they were logged: ${[...crashPhases].map(([p, n]) => `${p} ${n}`).join(", ")}`,
    );
    violations.push(
      `${crashes.length} unhandled errors in the gateway's log (${distinct.length} distinct: ${distinct.slice(0, 3).join(" | ")})`,
    );
  }
  if (reloads > 0) violations.push(`wrangler reloaded the Worker ${reloads} times during the soak`);
  return events;
}

export function checkTransitions(transitionsTotal: number, violations: string[]): void {
  if (transitionsTotal === 0) violations.push("no circuit transition happened: the schedule did not exercise the breakers");
}
