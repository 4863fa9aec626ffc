import type { ModelConfig } from "../config/resolve";
import type { Settings } from "../config/settings";
import type { ChainCache } from "./cache";
import type { ChatRequest } from "./chat-request";
import type { ModelGate } from "./circuit";
import type { Identity } from "./identity";
import type { UpstreamFetch, Usage } from "./openai";

/** Who is calling, as known once the client is authenticated and before its body is read. */
export interface CallerScope {
  env: Env;
  settings: Settings;
  waitUntil: (work: Promise<unknown>) => void;
  tenant: string;
  /** The caller's address (`CF-Connecting-IP`), if known. */
  ip: string | null;
}

/**
 * Counts one request against its client IP's limit within its tenant (DESIGN §13), before its body
 * is read; throws the 429 when the IP is over the limit.
 */
export type IpAdmission = (caller: CallerScope) => Promise<void>;

/** Everything the services of one request are built from, read once at the route. */
export interface RequestScope {
  env: Env;
  settings: Settings;
  waitUntil: (work: Promise<unknown>) => void;
  tenant: string;
  /** The end user whose verified JWT made this request; null for a static key or anonymous caller. */
  identity: Identity | null;
  requested: ModelConfig;
  request: ChatRequest;
  /** `Cache-Control: no-store`: this answer is not written to the cache. */
  noStore: boolean;
  maxStaleSeconds: number | null;
}

/** The upstream keys in rotation, as the chain uses them. */
export interface UpstreamKeys {
  pick(model: string, now: number): string | null;
  /** Sets a refused key aside (401: every model, 403: this model) and raises the alert. */
  reject(key: string, status: 401 | 403, model: string): Promise<void>;
  /** A 402: sets every key of the provider aside for `retry.maxDelayMs` and raises the alert. */
  refuseAccount(model: string): void;
  /** When the provider's keys come back after a 402 (null: they are not aside). */
  accountAsideUntil(now: number): number | null;
}

/**
 * One admitted request's hold on its limits (DESIGN §13, "reserve, then settle"). Every attempt
 * that reached the upstream is charged, retries and failed fallbacks included; when the request
 * is over, what its reservation did not use goes back.
 */
export interface Spend {
  /** One attempt's cost in dollars (real usage, or the estimate): settled against the reservation, any excess counted too. */
  charge(usd: number): void;
  /** The request is over (for a committed stream: once its end is settled); only the first call counts. */
  release(): void;
}

/** The limits of this request's buckets: its tenant's (and, with end-user tokens, its user's). */
export interface UsageGuard {
  /**
   * Counts the request and reserves `reserveUsd` (its upper cost) in every bucket; throws 429 when
   * a limit is reached, 503 `usage_unavailable` when a usage object cannot be reached and this
   * isolate holds too little of its allowance.
   */
  admit(reserveUsd: number): Promise<Spend>;
}

/** One request's contribution to the metrics. */
export interface AnswerMetrics {
  attempt(model: ModelConfig, outcome: string, latencyMs: number): void;
  /** A broken stream of `broken` was continued by model `by`, or by none (null). */
  continuation(broken: ModelConfig, by: string | null): void;
  /** Upstream events that were not JSON at all, dropped from the answer. */
  droppedEvents(model: ModelConfig, n: number): void;
  answered(requested: ModelConfig, servedModel: string, source: string, status: number): void;
  usage(requested: ModelConfig, served: ModelConfig, usage: Usage): void;
}

/** The per-request services the chat route calls, built once per request. */
export interface RequestServices {
  gate: ModelGate;
  cache: ChainCache | null;
  keys: UpstreamKeys;
  usage: UsageGuard;
  metrics: AnswerMetrics;
  fetch: UpstreamFetch;
}

export type ServicesFactory = (scope: RequestScope) => RequestServices;
