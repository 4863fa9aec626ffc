import { failure, type UpstreamFailure } from "../core/failure";

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

/**
 * What an aborted fetch or read means, decided once from why the controller fired: the client
 * going away is never the model's failure, a timer firing always is.
 */
export function abortFailure(signal: AbortSignal, timeouts: { idleMs: number }): UpstreamFailure {
  switch (abortKind(signal)) {
    case "client":
      return failure("client_abort", "The client went away.");
    case "timeout":
      return failure("timeout", "The upstream did not answer in time.");
    case "idle":
      return failure("timeout", `The upstream stream was idle for ${timeouts.idleMs} ms.`);
    case "total":
      return failure("timeout", "The upstream stream exceeded its total time.");
    default:
      return failure("connection", "The upstream connection failed.");
  }
}
