import { fingerprint } from "../core/crypto";

/** How long a refused key stays aside in this isolate before it is tried again. */
export const KEY_ASIDE_MS = 10 * 60_000;

export interface KeyRejection {
  fingerprint: string;
  status: 401 | 403;
  model: string;
}

/**
 * The HolySheep keys in rotation. A 401 sets a key aside for every model, a 403 for that model
 * only (DESIGN §6). State is per isolate: a key that works again comes back after KEY_ASIDE_MS.
 */
export class KeyRing {
  private readonly asideUntil = new Map<string, number>();

  constructor(readonly keys: readonly string[]) {}

  pick(model: string, now: number): string | null {
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
}
