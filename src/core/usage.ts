import type { Usage } from "./openai";

/**
 * A token count as a provider reported it, or null when it is not one: missing, negative,
 * non-numeric, non-finite, or too large to add up exactly.
 */
function count(v: unknown): number | null {
  return typeof v === "number" && Number.isFinite(v) && v >= 0 && v <= Number.MAX_SAFE_INTEGER ? v : null;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** The counts of a `*_tokens_details` object that are counts; null when none is. */
function details(raw: unknown): Record<string, number> | null {
  if (!isRecord(raw)) return null;
  const kept = Object.entries(raw).flatMap(([k, v]) => {
    const n = count(v);
    return n === null ? [] : [[k, n] as const];
  });
  return kept.length > 0 ? Object.fromEntries(kept) : null;
}

/**
 * The usage object of an upstream answer, read as untrusted input (DESIGN §12): the one place
 * the gateway turns what a provider reported into counts it prices and stores. `input_tokens` and
 * `output_tokens` stand in for `prompt_tokens` and `completion_tokens`; tokens `total_tokens`
 * reports beyond those (a lone total, thinking tokens) count as completion tokens, the dearer
 * side. Null when nothing in it is a count; never NaN, never negative.
 */
export function normalizeUsage(raw: unknown): Usage | null {
  if (!isRecord(raw)) return null;
  const prompt = count(raw.prompt_tokens) ?? count(raw.input_tokens);
  const completion = count(raw.completion_tokens) ?? count(raw.output_tokens);
  const total = count(raw.total_tokens);
  if (prompt === null && completion === null && total === null) return null;
  const promptTokens = prompt ?? (total !== null && completion !== null ? Math.max(0, total - completion) : 0);
  const completionTokens = Math.max(completion ?? 0, (total ?? 0) - promptTokens);
  const usage: Usage = {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
  };
  const promptDetails = details(raw.prompt_tokens_details);
  const completionDetails = details(raw.completion_tokens_details);
  if (promptDetails) usage.prompt_tokens_details = promptDetails;
  if (completionDetails) usage.completion_tokens_details = completionDetails;
  return usage;
}

const textLength = (v: unknown) => (typeof v === "string" ? v.length : 0);

/**
 * Characters of completion text in one chunk's delta or one answer's message: its content, its
 * refusal and its tool calls' arguments. What passed of an answer whose usage never came is
 * estimated from this (DESIGN §13); a field of the wrong type counts nothing.
 */
function completionChars(part: unknown): number {
  if (!isRecord(part)) return 0;
  let n = textLength(part.content) + textLength(part.refusal);
  if (Array.isArray(part.tool_calls)) {
    for (const call of part.tool_calls) n += isRecord(call) && isRecord(call.function) ? textLength(call.function.arguments) : 0;
  }
  return n;
}

/** Completion characters of every choice of a chunk (`delta`) or of an answer (`message`). */
export function choicesChars(choices: unknown, field: "delta" | "message"): number {
  if (!Array.isArray(choices)) return 0;
  return choices.reduce<number>((sum, c) => sum + (isRecord(c) ? completionChars(c[field]) : 0), 0);
}
