import { log } from "./log";

/** A Slack incoming-webhook body: `text` for people, the structured fields for machines. */
export interface AlertPayload {
  text: string;
  [field: string]: unknown;
}

/** Posts an alert; a failing webhook is logged and otherwise ignored. Callers never await it on a reply path. */
export async function postAlert(url: string, payload: AlertPayload): Promise<void> {
  try {
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(payload),
    });
    await res.body?.cancel();
    if (!res.ok) log("warn", "alert_webhook_failed", { status: res.status });
  } catch {
    log("warn", "alert_webhook_failed", { status: null });
  }
}
