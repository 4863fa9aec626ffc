import type { Context, MiddlewareHandler } from "hono";
import type { AppEnv } from "../../app-env";
import { GatewayError } from "../../errors";

export interface BodyLimitOptions {
  maxBytes: (c: Context<AppEnv>) => number;
}

const tooLarge = (max: number) =>
  new GatewayError(413, "invalid_request_error", "request_too_large", `Request body exceeds the limit of ${max} bytes.`);

/**
 * Reads the body, counting bytes as they arrive: `Content-Length` can lie or be absent, so it
 * only lets an honest oversized request be refused before any byte is read.
 */
export function bodyLimit(options: BodyLimitOptions): MiddlewareHandler<AppEnv> {
  return async function bodyLimit(c, next) {
    const max = options.maxBytes(c);
    const declared = Number(c.req.header("content-length"));
    if (Number.isFinite(declared) && declared > max) throw tooLarge(max);
    const body = c.req.raw.body;
    let text = "";
    if (body !== null) {
      const reader = body.getReader();
      const decoder = new TextDecoder();
      let total = 0;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        total += value.byteLength;
        if (total > max) {
          await reader.cancel();
          throw tooLarge(max);
        }
        text += decoder.decode(value, { stream: true });
      }
      text += decoder.decode();
    }
    c.set("rawBody", text);
    await next();
  };
}
