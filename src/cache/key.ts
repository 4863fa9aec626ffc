import { sha256Hex } from "../core/crypto";

/** Fields that never change an answer's content, so they are left out of the key (DESIGN §4). */
const EXCLUDED = new Set(["stream", "stream_options", "user", "model"]);

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/**
 * `c:v1:<sha256>` of the tenant, the model that answered and the whole body minus the
 * exclusions: every parameter that could change the answer is in the key without being listed.
 * `scope.user` (a user-scoped tenant's end user; null for its static-key callers) joins the key
 * only when given, so tenant-scoped keys stay what they were.
 */
export async function cacheKey(
  tenant: string,
  model: string,
  body: Record<string, unknown>,
  scope: { user: string | null } | null = null,
): Promise<string> {
  const rest: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(body)) if (!EXCLUDED.has(k)) rest[k] = v;
  const keyed = scope === null ? { tenant, model, body: rest } : { tenant, user: scope.user, model, body: rest };
  return `c:v1:${await sha256Hex(canonical(keyed))}`;
}
