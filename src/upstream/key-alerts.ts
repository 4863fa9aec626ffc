import { DurableObject } from "cloudflare:workers";
import { postAlert } from "../core/alerts";
import { log } from "../core/log";
import type { KeyRejection } from "./keys";

const HOUR_MS = 60 * 60_000;

/**
 * The fleet's memory of refused HolySheep keys (one object, `getByName("keys")`): each refusal
 * is logged and alerted once per key fingerprint per hour, however many isolates see it.
 */
export class KeyAlertObject extends DurableObject<Env> {
  notify(rejection: KeyRejection, webhookUrl: string | null): boolean {
    const scope = rejection.status === 403 ? rejection.model : "*";
    const id = `${rejection.fingerprint}:${rejection.status}:${scope}`;
    const now = Date.now();
    const last = this.ctx.storage.kv.get<number>(id);
    if (last !== undefined && now - last < HOUR_MS) return false;
    this.ctx.storage.kv.put(id, now);
    log("error", "upstream_key_rejected", { ...rejection });
    if (webhookUrl) {
      const what = rejection.status === 401 ? "is invalid (401)" : `is forbidden for ${rejection.model} (403)`;
      this.ctx.waitUntil(
        postAlert(webhookUrl, {
          text: `HolySheep key ${rejection.fingerprint} ${what}; it is set aside.`,
          event: "upstream_key_rejected",
          ...rejection,
        }),
      );
    }
    return true;
  }
}
