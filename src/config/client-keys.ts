import { sha256Hex } from "../core/crypto";
import type { ConfigProblem } from "./resolve";
import { tenantNamePattern } from "./schema";

/** Names a keyed tenant may not take: each already means something in `tenants` (DESIGN §13). */
const RESERVED_TENANTS: ReadonlyMap<string, string> = new Map([
  ["default", "tenants.default holds every tenant's defaults"],
  ["ip", "tenants.ip holds the per-IP limits"],
  ["public", "it is the anonymous tenant"],
]);

/**
 * CLIENT_KEYS (`web:gk-abc,ios:gk-def`) parsed as DESIGN §7 says. The result maps each key's
 * SHA-256 digest to its tenant, so the keys themselves are not kept and a lookup compares digests.
 */
export async function parseClientKeys(
  raw: string,
): Promise<{ ok: true; keys: Map<string, string> } | { ok: false; problem: ConfigProblem }> {
  const keys = new Map<string, string>();
  const entries = raw
    .split(",")
    .map((e) => e.trim())
    .filter((e) => e.length > 0);
  for (const [i, entry] of entries.entries()) {
    const path = `CLIENT_KEYS[${i}]`;
    const colon = entry.indexOf(":");
    if (colon < 0) return { ok: false, problem: { path, message: "expected tenant:key" } };
    const tenant = entry.slice(0, colon).trim();
    const key = entry.slice(colon + 1).trim();
    if (!tenantNamePattern.test(tenant)) {
      return { ok: false, problem: { path, message: "tenant must match [A-Za-z0-9_-]{1,64}" } };
    }
    const reserved = RESERVED_TENANTS.get(tenant);
    if (reserved !== undefined) return { ok: false, problem: { path, message: `tenant "${tenant}" is reserved: ${reserved}` } };
    if (key.length === 0) return { ok: false, problem: { path, message: "empty key" } };
    const digest = await sha256Hex(key);
    if (keys.has(digest)) return { ok: false, problem: { path, message: "this key is listed twice" } };
    keys.set(digest, tenant);
  }
  return { ok: true, keys };
}
