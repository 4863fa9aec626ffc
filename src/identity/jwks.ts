import { createLocalJWKSet } from "jose";
import { log } from "../core/log";
import { settledWithin } from "../core/time";

export type KeySet = ReturnType<typeof createLocalJWKSet>;

/** A refetch for an unknown `kid` happens at most this often per URL and isolate (DESIGN §14). */
export const REFETCH_COOLDOWN_MS = 30_000;
/** A JWKS fetch still out after this long is given up on. */
const FETCH_TIMEOUT_MS = 5_000;
/** A cold isolate whose fetch just failed answers 503 for this long instead of fetching again. */
const COLD_RETRY_MS = 5_000;
/** JWKS documents are a few KiB; a larger answer is refused rather than parsed. */
const MAX_JWKS_BYTES = 256 * 1024;

interface Entry {
  set: KeySet | null;
  /** When `set` was fetched (epoch ms). */
  fetchedAt: number;
  /** When the last fetch, successful or not, started. */
  attemptedAt: number;
  lastFailed: boolean;
  flight: Promise<void> | null;
}

/** What a lookup gives: keys to verify with, or how long until a fetch may succeed. */
export type KeysAnswer = { set: KeySet } | { unavailableMs: number };

async function fetchSet(url: string): Promise<KeySet> {
  const res = await fetch(url, {
    headers: { accept: "application/json, application/jwk-set+json" },
    // A JWKS that moves is not followed: its address was checked (https:) once, at config time.
    redirect: "manual",
    signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
  });
  if (res.status !== 200) {
    await res.body?.cancel();
    throw new Error(`status ${res.status}`);
  }
  const text = await res.text();
  if (text.length > MAX_JWKS_BYTES) throw new Error("too large");
  return createLocalJWKSet(JSON.parse(text));
}

/**
 * The JWKS of every JWT tenant as this isolate knows them. A request never waits on a fetch when
 * a cached key fits: a set older than its tenant's `jwksCacheSeconds` still serves while one
 * background fetch replaces it. Only a cold isolate, or a `kid` no cached key has (a rotation),
 * waits; at most one fetch per URL is in flight, and every waiter bounds its wait with its own
 * timer (a fetch belongs to the request that started it and may die with it).
 */
export class JwksCache {
  private readonly entries = new Map<string, Entry>();

  private entry(url: string): Entry {
    let e = this.entries.get(url);
    if (!e) {
      e = { set: null, fetchedAt: 0, attemptedAt: Number.NEGATIVE_INFINITY, lastFailed: false, flight: null };
      this.entries.set(url, e);
    }
    return e;
  }

  private start(url: string, e: Entry): Promise<void> {
    e.attemptedAt = Date.now();
    const flight: Promise<void> = fetchSet(url)
      .then(
        (set) => {
          e.set = set;
          e.fetchedAt = Date.now();
          e.lastFailed = false;
        },
        (err: unknown) => {
          e.lastFailed = true;
          log("warn", "jwks_fetch_failed", { host: new URL(url).host, error: err instanceof Error ? err.message : String(err) });
        },
      )
      .finally(() => {
        if (e.flight === flight) e.flight = null;
      });
    e.flight = flight;
    return flight;
  }

  /** A fetch is out; one that outlived its timeout is presumed dead (its request ended). */
  private flying(e: Entry, now: number): e is Entry & { flight: Promise<void> } {
    return e.flight !== null && now - e.attemptedAt < FETCH_TIMEOUT_MS + 1_000;
  }

  /** Waits for the fetch in flight, or a new one, at most as long as a fetch may take. */
  private fetchNow(url: string, e: Entry, waitUntil: (work: Promise<unknown>) => void): Promise<boolean> {
    let flight: Promise<void>;
    if (this.flying(e, Date.now())) flight = e.flight;
    else {
      flight = this.start(url, e);
      waitUntil(flight);
    }
    return settledWithin(flight, FETCH_TIMEOUT_MS + 500);
  }

  /** The keys of `url`: cached ones at once (refreshed in the background once stale), else fetched. */
  async keys(url: string, maxAgeMs: number, waitUntil: (work: Promise<unknown>) => void): Promise<KeysAnswer> {
    const e = this.entry(url);
    const now = Date.now();
    if (e.set) {
      const stale = now - e.fetchedAt > maxAgeMs;
      if (stale && !this.flying(e, now) && now - e.attemptedAt >= REFETCH_COOLDOWN_MS) waitUntil(this.start(url, e));
      return { set: e.set };
    }
    if (!this.flying(e, now) && e.lastFailed && now - e.attemptedAt < COLD_RETRY_MS) {
      return { unavailableMs: e.attemptedAt + COLD_RETRY_MS - now };
    }
    await this.fetchNow(url, e, waitUntil);
    return e.set ? { set: e.set } : { unavailableMs: COLD_RETRY_MS };
  }

  /**
   * After a `kid` no cached key has: a fresh set, fetched unless one was fetched (or tried) within
   * the cooldown. `unchanged`: the cached set is that recent, so the kid is simply unknown.
   */
  async refetch(url: string, waitUntil: (work: Promise<unknown>) => void): Promise<KeysAnswer | { unchanged: true }> {
    const e = this.entry(url);
    const now = Date.now();
    if (!this.flying(e, now) && now - e.attemptedAt < REFETCH_COOLDOWN_MS) {
      return e.lastFailed ? { unavailableMs: e.attemptedAt + REFETCH_COOLDOWN_MS - now } : { unchanged: true };
    }
    await this.fetchNow(url, e, waitUntil);
    if (e.lastFailed || !e.set) return { unavailableMs: REFETCH_COOLDOWN_MS };
    return { set: e.set };
  }
}
