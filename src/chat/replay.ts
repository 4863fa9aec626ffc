import type { ChatCompletion } from "../core/openai";
import { SSE_DONE } from "../core/sse";

/**
 * A cached answer as the `chat.completion.chunk` events a stream would have carried: role,
 * content, tool calls, finish reason, then usage if asked for, then `[DONE]`.
 */
export function replayAsStream(answer: ChatCompletion, includeUsage: boolean): string {
  const base = { id: answer.id, object: "chat.completion.chunk", created: answer.created, model: answer.model };
  const events: unknown[] = [];
  for (const choice of answer.choices) {
    const m = choice.message as {
      role?: string;
      content?: string | null;
      refusal?: string | null;
      tool_calls?: Array<{ id: string; type: string; function: { name: string; arguments: string } }>;
    };
    const index = choice.index;
    events.push({ ...base, choices: [{ index, delta: { role: m.role ?? "assistant", content: "" }, finish_reason: null }] });
    if (m.content) events.push({ ...base, choices: [{ index, delta: { content: m.content }, finish_reason: null }] });
    if (m.refusal) events.push({ ...base, choices: [{ index, delta: { refusal: m.refusal }, finish_reason: null }] });
    for (const [i, t] of (m.tool_calls ?? []).entries()) {
      events.push({
        ...base,
        choices: [
          {
            index,
            delta: {
              tool_calls: [
                { index: i, id: t.id, type: t.type, function: { name: t.function.name, arguments: t.function.arguments } },
              ],
            },
            finish_reason: null,
          },
        ],
      });
    }
    events.push({ ...base, choices: [{ index, delta: {}, finish_reason: choice.finish_reason ?? "stop" }] });
  }
  if (includeUsage && answer.usage) events.push({ ...base, choices: [], usage: answer.usage });
  return events.map((e) => `data: ${JSON.stringify(e)}\n\n`).join("") + SSE_DONE;
}
