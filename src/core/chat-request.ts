import { z } from "zod";
import { invalidRequest } from "./errors";
import { formatPath } from "./field-path";

/**
 * The Chat Completions request, validated at the edge. Objects are loose: fields the gateway does
 * not know are kept and forwarded untouched, so a new OpenAI parameter works before we learn it.
 */
const text = z.looseObject({ type: z.literal("text"), text: z.string() });
const contentPart = z.discriminatedUnion("type", [
  text,
  z.looseObject({ type: z.literal("image_url"), image_url: z.looseObject({ url: z.string() }) }),
  z.looseObject({ type: z.literal("input_audio"), input_audio: z.looseObject({ data: z.string(), format: z.string() }) }),
  z.looseObject({ type: z.literal("file"), file: z.looseObject({}) }),
]);
const assistantPart = z.discriminatedUnion("type", [text, z.looseObject({ type: z.literal("refusal"), refusal: z.string() })]);
const textContent = z.union([z.string(), z.array(text)]);
const toolCall = z.looseObject({
  id: z.string(),
  type: z.string(),
  function: z.looseObject({ name: z.string(), arguments: z.string() }).optional(),
});

const message = z.discriminatedUnion("role", [
  z.looseObject({ role: z.literal("system"), content: textContent }),
  z.looseObject({ role: z.literal("developer"), content: textContent }),
  z.looseObject({ role: z.literal("user"), content: z.union([z.string(), z.array(contentPart)]) }),
  z
    .looseObject({
      role: z.literal("assistant"),
      content: z.union([z.string(), z.array(assistantPart), z.null()]).optional(),
      tool_calls: z.array(toolCall).optional(),
      function_call: z.looseObject({ name: z.string(), arguments: z.string() }).nullable().optional(),
    })
    .refine((m) => (m.content ?? null) !== null || (m.tool_calls?.length ?? 0) > 0 || m.function_call != null, {
      message: "an assistant message needs content unless it has tool_calls",
      path: ["content"],
    }),
  z.looseObject({ role: z.literal("tool"), content: textContent, tool_call_id: z.string() }),
  z.looseObject({ role: z.literal("function"), content: z.string().nullable(), name: z.string() }),
]);

export const chatRequestSchema = z.looseObject({
  model: z.string().min(1),
  messages: z.array(message).min(1),
  stream: z.boolean().optional(),
  stream_options: z.looseObject({ include_usage: z.boolean().optional() }).nullable().optional(),
  n: z.int().min(1).max(128).nullable().optional(),
  max_tokens: z.int().min(1).nullable().optional(),
  max_completion_tokens: z.int().min(1).nullable().optional(),
  temperature: z.number().min(0).max(2).nullable().optional(),
  top_p: z.number().min(0).max(1).nullable().optional(),
  presence_penalty: z.number().min(-2).max(2).nullable().optional(),
  frequency_penalty: z.number().min(-2).max(2).nullable().optional(),
  user: z.string().optional(),
});

export type ChatRequest = z.infer<typeof chatRequestSchema>;

function describe(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case "invalid_union":
      return "discriminator" in issue && issue.path.length > 0
        ? `must be one of ${"options" in issue && Array.isArray(issue.options) ? issue.options.map((o) => `'${String(o)}'`).join(", ") : "the known values"}`
        : "has the wrong type or shape";
    case "invalid_type":
      return issue.input === undefined ? "is required" : `must be ${issue.expected}`;
    case "too_small":
      return issue.origin === "array"
        ? "must not be empty"
        : issue.origin === "string"
          ? "must not be empty"
          : `must be at least ${String(issue.minimum)}`;
    case "too_big":
      return `must be at most ${String(issue.maximum)}`;
    default:
      return issue.message;
  }
}

/** Parses and validates a request body, throwing a 400 that names the offending parameter. */
export function parseChatRequest(raw: string): ChatRequest {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw invalidRequest("The request body is not valid JSON.", null, "invalid_json");
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw invalidRequest("The request body must be a JSON object.", null, "invalid_json");
  }
  const parsed = chatRequestSchema.safeParse(json);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  if (!issue) throw invalidRequest("Invalid request.");
  const param = formatPath("", issue.path).replace(/^\./, "");
  throw invalidRequest(`Invalid value for '${param}': ${describe(issue)}.`, param || null);
}
