import type { UpstreamFailure } from "../core/failure";
import type { StreamObserver } from "../core/openai";
import type { SseSplitter } from "../core/sse";
import type { AttemptScope } from "./scope";
import type { BreakKind, Rescue } from "./splice";

export interface RelayOptions {
  reader: ReadableStreamDefaultReader<Uint8Array>;
  splitter: SseSplitter;
  /** Events already read before commit, the first data event among them. */
  initial: string[];
  scope: AttemptScope;
  idleMs: number;
  /** Upstream waiting allowed in all (`streamTotalMs`), and how much of it commit already took. */
  totalMs: number;
  waitedMs: number;
  /** When the stream's wall-clock life ends (`streamWallMs` from the attempt's start, epoch ms). */
  wallAt: number;
  clientWantsUsage: boolean;
  observer: StreamObserver | undefined;
  /** Null: a break ends the stream with the SSE error event, as it always did. */
  rescue: Rescue | null;
  maxContinuations: number;
}

export type Verdict =
  | { kind: "forward"; text: string | null }
  | { kind: "done"; text: string }
  | { kind: "fail"; failure: UpstreamFailure; after: BreakKind };
export type Out = ReadableStreamDefaultController<Uint8Array>;
export interface Source {
  reader: ReadableStreamDefaultReader<Uint8Array>;
  splitter: SseSplitter;
  /** The first part, read under this attempt's timers; a continuation keeps its own. */
  timed: boolean;
}
