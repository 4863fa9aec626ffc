/**
 * Every failure the gateway answers with is a GatewayError value: a status, an OpenAI error
 * `type`, a machine-readable `code`, and the headers that belong with it. `renderError` is the
 * only place that turns one into a response, so every error has the same shape.
 */
export type ErrorType =
  | "invalid_request_error"
  | "authentication_error"
  | "permission_error"
  | "rate_limit_error"
  | "server_error"
  | "upstream_error";

export class GatewayError extends Error {
  constructor(
    readonly status: number,
    readonly type: ErrorType | (string & {}),
    readonly code: string,
    message: string,
    readonly param: string | null = null,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = "GatewayError";
  }

  withHeaders(headers: Record<string, string>): GatewayError {
    return new GatewayError(this.status, this.type, this.code, this.message, this.param, {
      ...this.headers,
      ...headers,
    });
  }
}

export interface OpenAIErrorBody {
  error: { message: string; type: string; code: string | null; param: string | null };
}

export function errorBody(err: GatewayError): OpenAIErrorBody {
  return { error: { message: err.message, type: err.type, code: err.code, param: err.param } };
}

export function renderError(err: GatewayError, extraHeaders?: Headers): Response {
  const headers = new Headers(extraHeaders);
  headers.set("content-type", "application/json");
  for (const [name, value] of Object.entries(err.headers)) headers.set(name, value);
  return new Response(JSON.stringify(errorBody(err)), { status: err.status, headers });
}

export const invalidRequest = (message: string, param: string | null = null, code = "invalid_value") =>
  new GatewayError(400, "invalid_request_error", code, message, param);

export const notFound = (message: string, code = "not_found", param: string | null = null) =>
  new GatewayError(404, "invalid_request_error", code, message, param);

export const unauthorized = (message: string) => new GatewayError(401, "authentication_error", "invalid_api_key", message);

/** A route handler for the methods a path does not take. */
export const methodNotAllowed = (allow: string) => (): never => {
  throw new GatewayError(405, "invalid_request_error", "method_not_allowed", `Method not allowed; use ${allow}.`, null, {
    allow,
  });
};

export const internalError = (message: string, code = "internal_error") => new GatewayError(500, "server_error", code, message);
