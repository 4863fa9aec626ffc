// What the soak reports besides its invariants: the gateway's metrics, what kinds of answers came
// back, which phases ran and which circuit transitions they caused.
import { say, table } from "../lib/output";
import type { Outcome } from "./judge";

export interface Metrics {
  /** Rows of model, "from → to" and count, sorted. */
  transitions: string[][];
  transitionsTotal: number;
  /** Answers counted by gateway_requests_total. */
  counted: number;
}

export function readMetrics(metricsText: string): Metrics {
  const transitions: string[][] = [];
  let transitionsTotal = 0;
  for (const m of metricsText.matchAll(/^gateway_circuit_transitions_total\{([^}]*)\} (\S+)$/gm)) {
    const labels = Object.fromEntries([...(m[1] as string).matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    transitions.push([labels.model ?? "", `${labels.from} → ${labels.to}`, m[2] as string]);
    transitionsTotal += Number(m[2]);
  }
  // Every answer is counted once in the metrics (reports reach the objects within the TTL).
  let counted = 0;
  for (const m of metricsText.matchAll(/^gateway_requests_total\{[^}]*\} (\S+)$/gm)) counted += Number(m[1]);
  transitions.sort((a, b) => (`${a[0]} ${a[1]}` < `${b[0]} ${b[1]}` ? -1 : 1));
  return { transitions, transitionsTotal, counted };
}

export function printReport(
  outcomes: Outcome[],
  metrics: Metrics,
  phaseCounts: Map<string, number>,
  events: Map<string, number>,
): void {
  say(
    `metrics: gateway_requests_total counts ${metrics.counted} answers of ${outcomes.length}${metrics.counted === outcomes.length ? "" : " (a difference means outcome reports were lost)"}`,
  );

  // 5. Outcomes and transitions.
  say();
  const counts = new Map<string, number>();
  for (const o of outcomes) {
    const key = [o.requested, o.stream ? "stream" : "plain", String(o.status), o.kind, o.source, o.servedBy].join("\u0000");
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const rows = [...counts].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([k, n]) => [...k.split("\u0000"), String(n)]);
  say("Outcomes (requested model, kind of request, status, answer, x-gateway-source, x-gateway-model, count):");
  say(table([["requested", "request", "status", "answer", "source", "served by", "count"], ...rows]));
  say();
  say(`Phases run: ${[...phaseCounts].map(([p, n]) => `${p} ×${n}`).join(", ")}`);
  say(
    `Circuit transitions (gateway_circuit_transitions_total; ${events.get("circuit_transition") ?? 0} circuit_transition log lines):`,
  );
  say(table([["model", "transition", "count"], ...metrics.transitions]));
}
