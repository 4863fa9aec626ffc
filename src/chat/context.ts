import type { ModelConfig } from "../config/resolve";
import type { Settings } from "../config/settings";
import type { ChatRequest } from "../core/chat-request";
import type { CircuitState } from "../core/circuit";
import type { RequestServices, Spend } from "../core/services";
import type { Step } from "./plan";

/** One request's walk along its chain: what every step reads. */
export interface ChainContext {
  settings: Settings;
  request: ChatRequest;
  requested: ModelConfig;
  requestId: string;
  clientSignal: AbortSignal | undefined;
  waitUntil: (work: Promise<unknown>) => void;
  services: RequestServices;
  /** The chain's steps: a broken stream is continued by a later model step (DESIGN §15). */
  steps: Step[];
  /** Whether a broken stream may be continued: config, header, a stream with one choice. */
  recovery: boolean;
  /** The request's reservation: every attempt that reached the upstream is charged to it (DESIGN §13). */
  spend: Spend;
  /** The request's prompt, estimated once: what an attempt without usage is charged for it. */
  promptTokens: number;
}

/** Shared by every step of one request: DESIGN §2.2's one deadline and one attempt budget. */
export interface Budget {
  deadlineAt: number;
  attemptsLeft: number;
  attempts: number;
  /** The requested model's circuit when its first decision was made (null: not yet asked). */
  circuit: CircuitState | null;
}
