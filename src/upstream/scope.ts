import type { UpstreamFailure } from "../core/failure";
import type { AttemptEnd } from "../core/openai";
import { ABORT, abortAfter, abortFailure } from "./abort";

/** One upstream call, up to commit: an answer to send (and how it will end), or a failure. */
export type AttemptResult =
  | {
      kind: "committed";
      body: ReadableStream<Uint8Array> | string;
      contentType: string;
      end: Promise<AttemptEnd>;
      /** From the call's start to its commit: the first token, or a JSON body's end (DESIGN §18). */
      firstTokenMs: number;
      /** The client's answer is over (a stream's last byte, continuations included). */
      closed: Promise<void>;
    }
  /** `completionChars`: text that came before the failure (an answer being assembled), for its cost. */
  | { kind: "failed"; failure: UpstreamFailure; completionChars?: number };

/**
 * The lifetime of one upstream call: its AbortController, the client-abort listener and the
 * timer that bounds the time to commit. Every exit goes through `giveUp` or `commit`, so no
 * listener or timer outlives the attempt.
 */
export class AttemptScope {
  readonly controller = new AbortController();
  /** Set by commit(): how long the answer took to commit. */
  firstTokenMs = 0;
  private readonly startedAt = Date.now();
  private readonly clearCommitTimer: () => void;
  private readonly onClientAbort = () => this.controller.abort(ABORT.client);

  constructor(
    private readonly clientSignal: AbortSignal | undefined,
    commitWithinMs: number,
    private readonly idleMs: number,
  ) {
    clientSignal?.addEventListener("abort", this.onClientAbort, { once: true });
    this.clearCommitTimer = abortAfter(this.controller, commitWithinMs, ABORT.timeout);
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Detaches from the client's signal once the attempt is over. */
  readonly release = (): void => this.clientSignal?.removeEventListener("abort", this.onClientAbort);

  /** The answer committed: the time-to-commit timer no longer applies. */
  commit(): void {
    this.firstTokenMs = Date.now() - this.startedAt;
    this.clearCommitTimer();
  }

  /** Why the fetch or a read rejected, from why the controller fired. */
  aborted(): UpstreamFailure {
    return abortFailure(this.controller.signal, { idleMs: this.idleMs });
  }

  giveUp(f: UpstreamFailure): { kind: "failed"; failure: UpstreamFailure } {
    this.clearCommitTimer();
    this.release();
    if (!this.controller.signal.aborted) this.controller.abort(ABORT.finished);
    return { kind: "failed", failure: f };
  }
}
