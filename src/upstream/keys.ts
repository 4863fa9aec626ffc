import { fingerprint } from "../core/crypto";

/** How long a refused key stays aside in this isolate before it is tried again. */
export const KEY_ASIDE_MS = 10 * 60_000;

/** The one provider today (DESIGN §16 will add more): its keys are one account. */
export const PROVIDER = "holysheep";

export interface KeyRejection {
  fingerprint: string;
  status: 401 | 403;
  model: string;
}

/** A 402: the provider's account cannot pay for calls (DESIGN §12). No key material, no billing text. */
export interface AccountRefusal {
  provider: string;
  baseUrl: string;
  model: string;
  status: 402;
}

/**
 * The HolySheep keys in rotation. A 401 sets a key aside for every model, a 403 for that model
 * only (DESIGN §6), a 402 every key of the provider (DESIGN §12). State is per isolate: a key
 * that works again comes back once its time aside is over.
 */
export class KeyRing {
  private readonly asideUntil = new Map<string, number>();
  private accountUntil = 0;

  constructor(readonly keys: readonly string[]) {}

  pick(model: string, now: number): string | null {
    if (this.accountUntil > now) return null;
    for (const key of this.keys) {
      if ((this.asideUntil.get(key) ?? 0) > now) continue;
      if ((this.asideUntil.get(`${model}\u0000${key}`) ?? 0) > now) continue;
      return key;
    }
    return null;
  }

  async setAside(key: string, status: 401 | 403, model: string, now: number): Promise<KeyRejection> {
    this.asideUntil.set(status === 401 ? key : `${model}\u0000${key}`, now + KEY_ASIDE_MS);
    return { fingerprint: await fingerprint(key), status, model };
  }

  /** The account refused payment: every key waits until `until`. */
  setAccountAside(until: number): void {
    this.accountUntil = Math.max(this.accountUntil, until);
  }

  /** When the account's keys come back (null: they are not aside). */
  accountAsideUntil(now: number): number | null {
    return this.accountUntil > now ? this.accountUntil : null;
  }
}
