import type { RequestTracker } from "./stats";

/** Waits `ms`, or rejects with the signal's reason as soon as it aborts (timers never leak). */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** Never resolves; rejects when the signal aborts. */
export function untilAborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) return reject(signal.reason);
    signal.addEventListener("abort", () => reject(signal.reason), { once: true });
  });
}

export class SimulatedCut extends Error {
  constructor() {
    super("fake upstream: simulated connection cut");
    this.name = "SimulatedCut";
  }
}

export interface Script {
  parts: readonly string[];
  /** Pause before every part but the first. */
  gapMs?: number;
  /** Pause before the first part (a body that is late after its headers). */
  leadMs?: number;
  /** After the parts, fail the stream like a dropped connection instead of ending it. */
  cut?: boolean;
  /** After the parts, send nothing more until the client goes away. */
  stall?: boolean;
}

/**
 * A body produced lazily, one part per pull, so delays happen between the bytes the client
 * actually receives rather than before the whole body. `signal` is the request's: a client
 * going away stops the timers.
 */
export function scripted(script: Script, signal: AbortSignal): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  const stop = new AbortController();
  const onAbort = (): void => stop.abort(signal.reason);
  if (signal.aborted) onAbort();
  else signal.addEventListener("abort", onAbort, { once: true });
  let next = 0;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const pause = next === 0 ? script.leadMs : script.gapMs;
        try {
          if (pause !== undefined && pause > 0 && next < script.parts.length) {
            await sleep(pause, stop.signal);
          }
        } catch (reason) {
          controller.error(reason);
          return;
        }
        const part = script.parts[next++];
        if (part !== undefined) {
          controller.enqueue(encoder.encode(part));
          return;
        }
        if (script.stall === true) {
          await untilAborted(stop.signal).catch((reason: unknown) => controller.error(reason));
          return;
        }
        signal.removeEventListener("abort", onAbort);
        if (script.cut === true) controller.error(new SimulatedCut());
        else controller.close();
      },
      cancel(reason) {
        stop.abort(reason);
      },
    },
    // No read-ahead: each part is produced only when the consumer asks for it.
    { highWaterMark: 0 },
  );
}

/** Passes `body` through unchanged, reporting to `tracker` how it ended. */
export function tracked(body: ReadableStream<Uint8Array>, tracker: RequestTracker): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const r = await reader.read();
          if (r.done) {
            tracker.finish("completed");
            controller.close();
          } else {
            controller.enqueue(r.value);
          }
        } catch (err) {
          tracker.finish(err instanceof SimulatedCut ? "cut" : "aborted");
          controller.error(err);
        }
      },
      cancel(reason) {
        tracker.finish("aborted");
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}
