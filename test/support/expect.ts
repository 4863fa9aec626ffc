import { expect } from "vitest";

export interface OpenAIError {
  error: { message: string; type: string; code: string | null; param: string | null };
}

/**
 * Asserts that `res` is an error in OpenAI's exact shape (`{"error":{"message","type","code","param"}}`,
 * all four keys present, nothing else) with the given status, and returns its error object.
 */
export async function expectOpenAIError(
  res: Response,
  status: number,
  want: { type?: string; code?: string | null; param?: string | null | RegExp; message?: RegExp } = {},
): Promise<OpenAIError["error"]> {
  const text = await res.text();
  expect(res.status, `status, body: ${text}`).toBe(status);
  expect(res.headers.get("content-type") ?? "").toContain("application/json");
  const body = JSON.parse(text) as OpenAIError;
  expect(Object.keys(body)).toEqual(["error"]);
  expect(Object.keys(body.error).sort()).toEqual(["code", "message", "param", "type"]);
  expect(typeof body.error.message).toBe("string");
  expect(body.error.message.length).toBeGreaterThan(0);
  expect(typeof body.error.type).toBe("string");
  if (want.type !== undefined) expect(body.error.type).toBe(want.type);
  if (want.code !== undefined) expect(body.error.code).toBe(want.code);
  if (want.param instanceof RegExp) expect(body.error.param ?? "").toMatch(want.param);
  else if (want.param !== undefined) expect(body.error.param).toBe(want.param);
  if (want.message !== undefined) expect(body.error.message).toMatch(want.message);
  return body.error;
}

/** Polls `check` until it returns true or `timeoutMs` passes (for events seen only through stats). */
export async function eventually(check: () => Promise<boolean>, timeoutMs = 3000, everyMs = 20): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > until) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
