import type { ModelConfig } from "../config/resolve";
import type { ChatRequest } from "../core/chat-request";
import type { Usage } from "../core/openai";
import { spendUsd } from "../metrics/request-metrics";

/**
 * What a request may cost and what each attempt did cost, estimated the one way DESIGN §13 says:
 * a prompt is its message text's UTF-8 bytes / 3 tokens; completion text that passed without a
 * usage object is characters / 4 tokens.
 */

const encoder = new TextEncoder();
const utf8Bytes = (text: string) => encoder.encode(text).byteLength;

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** The text of one message's content: a string, or its parts' `text` and `refusal`. */
function contentBytes(content: unknown): number {
  if (typeof content === "string") return utf8Bytes(content);
  if (!Array.isArray(content)) return 0;
  let n = 0;
  for (const part of content) {
    if (!isRecord(part)) continue;
    if (typeof part.text === "string") n += utf8Bytes(part.text);
    if (typeof part.refusal === "string") n += utf8Bytes(part.refusal);
  }
  return n;
}

/** Tool calls an assistant message carries: their names and arguments are prompt text too. */
function callBytes(message: Record<string, unknown>): number {
  const calls = Array.isArray(message.tool_calls) ? message.tool_calls : [];
  const fns = [...calls.map((c) => (isRecord(c) ? c.function : null)), message.function_call];
  let n = 0;
  for (const fn of fns) {
    if (!isRecord(fn)) continue;
    if (typeof fn.name === "string") n += utf8Bytes(fn.name);
    if (typeof fn.arguments === "string") n += utf8Bytes(fn.arguments);
  }
  return n;
}

/** Estimated prompt tokens: the UTF-8 bytes of the messages' text / 3, rounded up. */
export function promptTokens(request: ChatRequest): number {
  let bytes = 0;
  for (const m of request.messages) bytes += contentBytes(m.content) + callBytes(m);
  return Math.ceil(bytes / 3);
}

/** Completion tokens one choice may take on `model`: the request's bound, else its caller's (the stricter of tenant and user), else the model's. */
export function completionCeiling(request: ChatRequest, callerMaxTokens: number | null, model: ModelConfig): number {
  return request.max_completion_tokens ?? request.max_tokens ?? callerMaxTokens ?? model.maxOutputTokens;
}

/**
 * The request's upper cost, reserved at admission: its prompt and `n` completions at their
 * ceiling, priced at the dearest model its chain may use.
 */
export function reservationUsd(request: ChatRequest, chain: readonly ModelConfig[], callerMaxTokens: number | null): number {
  const prompt = promptTokens(request);
  const n = request.n ?? 1;
  let most = 0;
  for (const model of chain) {
    const completion = completionCeiling(request, callerMaxTokens, model) * n;
    most = Math.max(most, (prompt * model.price.input + completion * model.price.output) / 1_000_000);
  }
  return most;
}

/**
 * What one attempt that reached the upstream cost: its usage when the upstream reported one,
 * else its prompt estimate and the completion text that passed (a cut, an abort, a failure).
 */
export function attemptUsd(model: ModelConfig, prompt: number, usage: Usage | null, completionChars: number): number {
  if (usage) return spendUsd(model, usage);
  return spendUsd(model, { prompt_tokens: prompt, completion_tokens: Math.ceil(completionChars / 4) });
}
