import type { OpenAIErrorBody } from "../core/errors";
import { classifyStatus, failure, type UpstreamFailure } from "../core/failure";
import { parseRetryAfter } from "../core/retry-after";

function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s) out = out.split(s).join("[redacted]");
  return out;
}

/** The upstream's OpenAI-shaped error, with any key material scrubbed; null when it sent none. */
function relayableBody(text: string, secrets: readonly string[]): OpenAIErrorBody | null {
  try {
    const parsed = JSON.parse(text) as Partial<OpenAIErrorBody>;
    if (!parsed.error || typeof parsed.error.message !== "string") return null;
    const field = (v: unknown) => (typeof v === "string" ? redact(v, secrets) : null);
    return {
      error: {
        message: redact(parsed.error.message, secrets),
        type: field(parsed.error.type) ?? "invalid_request_error",
        code: field(parsed.error.code),
        param: field(parsed.error.param),
      },
    };
  } catch {
    // Not JSON: the caller still gets the status with a generic message.
    return null;
  }
}

/** A non-2xx upstream answer as a failure value (DESIGN §6, §12): read once, classified once. */
export async function describeError(res: Response, secrets: readonly string[]): Promise<UpstreamFailure> {
  const status = res.status;
  const retryAfterMs = parseRetryAfter(res.headers, Date.now());
  const text = await res.text().catch(() => "");
  const body = relayableBody(text, secrets);
  const cls = classifyStatus(status, body?.error ?? null);
  switch (cls) {
    case "auth":
      // Auth errors can echo key fragments; their text never travels further.
      return failure("auth", `The upstream refused the gateway's key (${status}).`, { status });
    case "account":
      // The provider's billing text is for the operator (the alert), never for every caller.
      return failure("account", `The upstream refused the gateway's account (${status}).`, { status });
    case "rate_limited":
      return failure("rate_limited", "The upstream is rate limiting this model.", { status, retryAfterMs });
    case "client_error":
    case "context_overflow":
    case "rejected":
      return failure(cls, body?.error.message ?? `The upstream rejected the request (${status}).`, { status, body });
    case "server_error":
    case "success":
      return failure("server_error", `The upstream answered ${status}.`, { status, retryAfterMs });
  }
}
