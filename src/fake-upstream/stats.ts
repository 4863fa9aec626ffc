export interface RequestRecord {
  model: string;
  stream: boolean;
  /** First 8 hex chars of sha256(bearer key); "" when none was sent. */
  keyFingerprint: string;
  aborted: boolean;
  completed: boolean;
  at: number;
  body: unknown;
}

export interface StatsSnapshot {
  requests: RequestRecord[];
  inFlight: Record<string, number>;
  maxInFlight: Record<string, number>;
}

/** How a response ended: `cut` is a simulated dropped connection, neither aborted nor complete. */
export type Ending = "completed" | "aborted" | "cut";

export interface RequestTracker {
  finish(ending: Ending): void;
}

const MAX_RECORDS = 1000;

/** Names a key in stats without keeping it: first 8 hex chars of its SHA-256. */
export async function keyFingerprint(key: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(key)));
  return [...digest.slice(0, 4)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** What the fake upstream saw, so tests can count calls, concurrency and aborts. */
export class FakeStats {
  #requests: RequestRecord[] = [];
  #inFlight = new Map<string, number>();
  #maxInFlight = new Map<string, number>();

  begin(entry: Omit<RequestRecord, "aborted" | "completed">, signal: AbortSignal): RequestTracker {
    const record: RequestRecord = { ...entry, aborted: false, completed: false };
    this.#requests.push(record);
    if (this.#requests.length > MAX_RECORDS) this.#requests.shift();
    const model = entry.model;
    const now = (this.#inFlight.get(model) ?? 0) + 1;
    this.#inFlight.set(model, now);
    this.#maxInFlight.set(model, Math.max(now, this.#maxInFlight.get(model) ?? 0));

    let open = true;
    const finish = (ending: Ending): void => {
      if (!open) return;
      open = false;
      signal.removeEventListener("abort", onAbort);
      record.aborted = ending === "aborted";
      record.completed = ending === "completed";
      this.#inFlight.set(model, (this.#inFlight.get(model) ?? 1) - 1);
    };
    const onAbort = (): void => finish("aborted");
    if (signal.aborted) finish("aborted");
    else signal.addEventListener("abort", onAbort, { once: true });
    return { finish };
  }

  snapshot(): StatsSnapshot {
    return {
      requests: this.#requests.map((r) => ({ ...r })),
      inFlight: Object.fromEntries(this.#inFlight),
      maxInFlight: Object.fromEntries(this.#maxInFlight),
    };
  }

  /** Forgets history; requests still running stay counted in `inFlight` until they end. */
  clear(): void {
    this.#requests = [];
    this.#maxInFlight = new Map(this.#inFlight);
  }
}
