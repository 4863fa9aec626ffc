import type { ModelConfig } from "../config/resolve";
import type { AttemptEnd, ChatCompletion, StreamObserver } from "./openai";

/** An earlier complete answer, as the fallback cache keeps it (DESIGN §4). */
export interface CachedAnswer {
  answer: ChatCompletion;
  /** Epoch ms when the answer was produced. */
  producedAt: number;
  /** The model that produced it. */
  model: string;
}

/** Records an answer as it passes and stores it once complete. */
export interface AnswerRecorder extends StreamObserver {
  finish(end: AttemptEnd): Promise<void>;
}

/** The fallback cache as the chain sees it: data in, data out; chat builds the responses. */
export interface ChainCache {
  /** A cached answer of `model` within the caller's max-stale, or null. */
  lookup(model: ModelConfig): Promise<CachedAnswer | null>;
  /** Null when this answer must not be cached (no-store, opted out). */
  recorder(model: ModelConfig, stream: boolean): AnswerRecorder | null;
}
