import { log } from "../log";
import type { TransitionRecord } from "./protocol";

/** Transitions an operator is paged for (DESIGN §3): a circuit opening, forced, or healthy again. */
export function alertWorthy(t: TransitionRecord): boolean {
  return t.to === "open" || t.to === "forced_open" || (t.to === "closed" && t.from !== "closed");
}

/** A Slack incoming-webhook body (`text`) that also carries the structured fields. */
export function alertBody(t: TransitionRecord): string {
  const text = `Circuit ${t.model}: ${t.from} → ${t.to} (${t.reason}) at ${new Date(t.at).toISOString()}`;
  return JSON.stringify({ text, ...t });
}

export async function postAlert(url: string, t: TransitionRecord): Promise<void> {
  try {
    const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: alertBody(t) });
    await res.body?.cancel();
    if (!res.ok) log("warn", "alert_webhook_failed", { model: t.model, status: res.status });
  } catch {
    log("warn", "alert_webhook_failed", { model: t.model, status: null });
  }
}
