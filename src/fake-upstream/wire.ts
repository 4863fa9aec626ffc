// What the simulated upstream says on the wire besides answers: OpenAI-shaped errors, and how
// it reads a request's key and body.

type ErrorType = "invalid_request_error" | "server_error" | "requests" | "permission_error";

export interface ErrorSpec {
  message: string;
  type: ErrorType;
  code: string | null;
  param?: string | null;
}

export function errorBody({ message, type, code, param = null }: ErrorSpec): { error: ErrorSpec } {
  return { error: { message, type, code, param } };
}

export function openAiError(status: number, spec: ErrorSpec): Response {
  return Response.json(errorBody(spec), { status });
}

/** What a status fault sends when the fault gives no `body`, worded like OpenAI's own. */
export function defaultStatusError(status: number): ErrorSpec {
  switch (status) {
    case 401:
      return { message: "Incorrect API key provided.", type: "invalid_request_error", code: "invalid_api_key" };
    case 403:
      return { message: "This key may not use this model.", type: "permission_error", code: "permission_denied" };
    case 429:
      return { message: "Rate limit reached for requests.", type: "requests", code: "rate_limit_exceeded" };
    case 503:
      return { message: "The server is overloaded or not ready yet.", type: "server_error", code: "overloaded" };
  }
  const type = status >= 500 ? "server_error" : "invalid_request_error";
  return { message: `Simulated upstream error (HTTP ${status}).`, type, code: null };
}

export const MISSING_KEY: ErrorSpec = {
  message: "You didn't provide an API key. Send it as `Authorization: Bearer <key>`.",
  type: "invalid_request_error",
  code: "invalid_api_key",
};

export const notAllowed = (): Response =>
  openAiError(405, { message: "Method not allowed.", type: "invalid_request_error", code: null });

export function unknownPath(path: string): Response {
  const message = `Unknown path ${path}`;
  return openAiError(404, { message, type: "invalid_request_error", code: "unknown_url" });
}

export function bearerKey(req: Request): string | null {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.get("authorization") ?? "");
  return m?.[1] ?? null;
}

export type Parsed = { ok: true; value: unknown } | { ok: false };

export function parseJson(text: string): Parsed {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}
