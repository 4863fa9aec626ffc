import type { Context, MiddlewareHandler } from "hono";
import type { AppEnv } from "../../app-env";
import { GatewayError } from "../../core/errors";

export interface BodyLimitOptions {
  maxBytes: (c: Context<AppEnv>) => number;
}

const decoder = new TextDecoder();

function concat(chunks: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
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
    const chunks: Uint8Array[] = [];
    let total = 0;
    if (body !== null) {
      const reader = body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        total += value.byteLength;
        if (total > max) {
          await reader.cancel();
          throw tooLarge(max);
        }
        chunks.push(value);
      }
    }
    c.set("rawBody", decoder.decode(chunks.length === 1 ? chunks[0] : concat(chunks, total)));
    await next();
  };
}
