import { z } from "zod";

export const FAULT_MODES = [
  "ok",
  "status",
  "hang",
  "slow_headers",
  "slow_chunks",
  "cut_after",
  "bad_json",
  "bad_sse",
  "error_event",
  "large",
  "odd_event", // a stream with `data: <body>` (raw text, or JSON of body) inserted after `after` events
  "no_done", // a whole stream that closes without `data: [DONE]`
  "stall_after", // `after` events, then silence until the client goes away
  "error_after", // `after` events, then an SSE error event and the end
  "reject_prefill", // a 400 for a request whose last message is the assistant's; others answered
  "cut_midstream", // cut_after for fresh requests; a continuation (assistant prefill) is answered whole
] as const;

// Strict: a misspelt field (`retry_after`) must fail loudly, or a test would silently run
// against a fault it did not ask for.
export const FaultSchema = z.strictObject({
  model: z.string().min(1),
  mode: z.enum(FAULT_MODES),
  status: z.int().min(200).max(599).default(503),
  retryAfter: z.string().optional(),
  retryAfterMs: z.string().optional(),
  delayMs: z.int().min(0).default(500),
  after: z.int().min(0).default(3),
  times: z.int().min(1).optional(),
  key: z.string().min(1).optional(),
  body: z.unknown().optional(),
  // Modes that answer: the usage the answer reports, sent exactly as given (any JSON), as an odd
  // provider might send it.
  usage: z.unknown().optional(),
  // `large` only: the answer's content length and the content per stream event (no defaults
  // here, so other modes' stored faults keep their shape; the handler applies 1 MiB / 16 KiB).
  bytes: z
    .int()
    .min(0)
    .max(1024 * 1024 * 1024)
    .optional(),
  chunkBytes: z
    .int()
    .min(1)
    .max(16 * 1024 * 1024)
    .optional(),
});

/** A fault as stored: defaults applied. */
export type Fault = z.output<typeof FaultSchema>;
/** A fault as written by a caller: defaulted fields may be left out. */
export type FaultInput = z.input<typeof FaultSchema>;

/**
 * What `POST /__fake/faults` accepts: one fault or `{"faults": [...]}`, read as a list. Not a
 * z.union: its error would only say "Invalid input" instead of naming the bad field.
 */
export const FaultRequestSchema = z.preprocess(
  (v) => (typeof v === "object" && v !== null && "faults" in v ? v.faults : [v]),
  z.array(FaultSchema),
);

export interface FaultStore {
  list(): Promise<Fault[]>;
  set(f: Fault): Promise<void>;
  clear(): Promise<void>;
  /** The fault that applies to this request, consuming one of its `times`. */
  take(model: string, key: string | null): Promise<Fault | null>;
}

function applies(f: Fault, model: string, key: string | null): boolean {
  return (f.model === model || f.model === "*") && (f.key === undefined || f.key === key);
}

/**
 * The selection rule shared by every store, kept pure so the in-memory and Durable Object
 * stores cannot drift apart. `faults` is in insertion order; returns the list to keep.
 */
export function takeFrom(
  faults: readonly Fault[],
  model: string,
  key: string | null,
): { taken: Fault | null; remaining: Fault[] } {
  let index = -1;
  for (let i = faults.length - 1; i >= 0; i--) {
    const f = faults[i];
    if (f === undefined || !applies(f, model, key)) continue;
    if (f.model === model) {
      index = i;
      break;
    }
    if (index === -1) index = i;
  }
  const taken = faults[index];
  if (taken === undefined) return { taken: null, remaining: [...faults] };
  const remaining = [...faults];
  if (taken.times === undefined) return { taken, remaining };
  if (taken.times <= 1) remaining.splice(index, 1);
  else remaining[index] = { ...taken, times: taken.times - 1 };
  return { taken, remaining };
}

export class MemoryFaultStore implements FaultStore {
  #faults: Fault[] = [];

  async list(): Promise<Fault[]> {
    return [...this.#faults];
  }

  async set(f: Fault): Promise<void> {
    this.#faults.push(f);
  }

  async clear(): Promise<void> {
    this.#faults = [];
  }

  async take(model: string, key: string | null): Promise<Fault | null> {
    const { taken, remaining } = takeFrom(this.#faults, model, key);
    this.#faults = remaining;
    return taken;
  }
}
