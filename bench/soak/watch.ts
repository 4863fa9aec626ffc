// The watcher: what the gateway's circuits and the fake upstream's concurrency look like every
// 100 ms while the soak runs, for the half-open invariant.
import { getJson } from "../lib/http";
import { sleep } from "../lib/sleep";
import { TOKEN } from "./config";

interface CircuitJson {
  model: string;
  state: string;
  halfOpenInFlight: number;
}

export interface Watch {
  maxHalfOpen: Map<string, number>;
  statesSeen: Map<string, Set<string>>;
  upstreamWhileHalfOpen: Map<string, number>;
  polls: number;
  pollErrors: number;
}

export function watchCircuits(gwUrl: string, fakeUrl: string, signal: AbortSignal): { seen: Watch; done: Promise<void> } {
  const seen: Watch = {
    maxHalfOpen: new Map(),
    statesSeen: new Map(),
    upstreamWhileHalfOpen: new Map(),
    polls: 0,
    pollErrors: 0,
  };
  const { maxHalfOpen, statesSeen, upstreamWhileHalfOpen } = seen;
  const done = (async () => {
    let previous = new Map<string, string>();
    while (!signal.aborted) {
      const started = performance.now();
      try {
        const [{ circuits }, stats] = await Promise.all([
          getJson<{ circuits: CircuitJson[] }>(`${gwUrl}/admin/circuits`, TOKEN),
          getJson<{ maxInFlight: Record<string, number> }>(`${fakeUrl}/__fake/stats`),
        ]);
        // Each window's upstream concurrency starts afresh (this also trims the fake's request log).
        await fetch(`${fakeUrl}/__fake/stats`, { method: "DELETE" }).then((r) => r.arrayBuffer());
        seen.polls++;
        const now = new Map<string, string>();
        for (const c of circuits) {
          now.set(c.model, c.state);
          maxHalfOpen.set(c.model, Math.max(maxHalfOpen.get(c.model) ?? 0, c.halfOpenInFlight));
          const states = statesSeen.get(c.model) ?? new Set<string>();
          states.add(c.state);
          statesSeen.set(c.model, states);
          if (c.state === "half_open" && previous.get(c.model) === "half_open") {
            upstreamWhileHalfOpen.set(
              c.model,
              Math.max(upstreamWhileHalfOpen.get(c.model) ?? 0, stats.maxInFlight[c.model] ?? 0),
            );
          }
        }
        previous = now;
      } catch {
        seen.pollErrors++;
      }
      await sleep(Math.max(0, 100 - (performance.now() - started)));
    }
  })();
  return { seen, done };
}
