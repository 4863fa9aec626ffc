/**
 * Why an attempt's AbortController fired. The reason object is compared by identity, so a
 * timeout is never mistaken for the client going away.
 */
export const ABORT = {
  client: new Error("client went away"),
  timeout: new Error("upstream timeout"),
  idle: new Error("upstream stream idle"),
  total: new Error("upstream stream over its total time"),
  finished: new Error("attempt finished"),
} as const;

export type AbortKind = keyof typeof ABORT;

export function abortKind(signal: AbortSignal): AbortKind | null {
  if (!signal.aborted) return null;
  for (const [kind, reason] of Object.entries(ABORT)) if (signal.reason === reason) return kind as AbortKind;
  return null;
}

/** Rejects `promise` with nothing: instead the controller aborts, which makes the fetch or read reject. */
export function abortAfter(controller: AbortController, ms: number, reason: Error): () => void {
  const timer = setTimeout(() => controller.abort(reason), Math.max(0, ms));
  return () => clearTimeout(timer);
}
