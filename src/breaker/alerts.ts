import type { AlertPayload } from "../core/alerts";
import type { TransitionRecord } from "./protocol";

/** Transitions an operator is paged for (DESIGN §3): a circuit opening, forced, or healthy again. */
export function alertWorthy(t: TransitionRecord): boolean {
  return t.to === "open" || t.to === "forced_open" || (t.to === "closed" && t.from !== "closed");
}

export function transitionAlert(t: TransitionRecord): AlertPayload {
  return { text: `Circuit ${t.model}: ${t.from} → ${t.to} (${t.reason}) at ${new Date(t.at).toISOString()}`, ...t };
}
