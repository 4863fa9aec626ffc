import { DurableObject } from "cloudflare:workers";
import { type AlertPayload, postAlert } from "../core/alerts";
import { log } from "../core/log";
import type { AccountRefusal, KeyRejection } from "./keys";

const HOUR_MS = 60 * 60_000;

/**
 * The fleet's memory of refused HolySheep keys and accounts (one object, `getByName("keys")`):
 * each refusal is logged and alerted once per key fingerprint (or per provider) per hour, however
 * many isolates see it.
 */
export class KeyAlertObject extends DurableObject<Env> {
  notify(rejection: KeyRejection, webhookUrl: string | null): boolean {
    const scope = rejection.status === 403 ? rejection.model : "*";
    if (!this.firstThisHour(`${rejection.fingerprint}:${rejection.status}:${scope}`)) return false;
    log("error", "upstream_key_rejected", { ...rejection });
    const what = rejection.status === 401 ? "is invalid (401)" : `is forbidden for ${rejection.model} (403)`;
    this.alert(webhookUrl, {
      text: `HolySheep key ${rejection.fingerprint} ${what}; it is set aside.`,
      event: "upstream_key_rejected",
      ...rejection,
    });
    return true;
  }

  notifyAccount(refusal: AccountRefusal, webhookUrl: string | null): boolean {
    // A provider is its name at its address: another base URL may be another account.
    if (!this.firstThisHour(`account:${refusal.provider}:${refusal.baseUrl}`)) return false;
    log("error", "upstream_account_error", { ...refusal });
    this.alert(webhookUrl, {
      text: `The ${refusal.provider} account refused payment (402) for ${refusal.model}; its keys are set aside. Check its balance.`,
      event: "upstream_account_error",
      ...refusal,
    });
    return true;
  }

  private firstThisHour(id: string): boolean {
    const now = Date.now();
    const last = this.ctx.storage.kv.get<number>(id);
    if (last !== undefined && now - last < HOUR_MS) return false;
    this.ctx.storage.kv.put(id, now);
    return true;
  }

  private alert(webhookUrl: string | null, payload: AlertPayload): void {
    if (webhookUrl) this.ctx.waitUntil(postAlert(webhookUrl, payload));
  }
}
