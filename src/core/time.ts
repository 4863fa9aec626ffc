/** A Durable Object call still out after this long is given up on (see `settledWithin`). */
export const OBJECT_CALL_TIMEOUT_MS = 2_000;

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Waits for `work` at most `ms`; true if it settled in time. The timer belongs to the caller's
 * request, which matters on Workers: a call started by another request dies with that request,
 * and a promise shared across requests may then never settle.
 */
export function settledWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    const done = () => {
      clearTimeout(timer);
      resolve(true);
    };
    work.then(done, done);
  });
}
