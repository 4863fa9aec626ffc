import { sha256 } from "../core/crypto";
import { parseClientKeys } from "./client-keys";
import { type ConfigProblem, type GatewayConfig, resolveConfig } from "./resolve";

/** Everything the gateway reads from its environment, validated once and passed inward typed. */
export interface Settings {
  config: GatewayConfig;
  baseUrl: string;
  /** HolySheep keys in rotation order; empty only when the simulated upstream serves. */
  upstreamKeys: readonly string[];
  simulatedUpstream: boolean;
  /** SHA-256 hex of each client key → its tenant. */
  clientKeys: ReadonlyMap<string, string>;
  allowAnonymous: boolean;
  adminTokenDigest: Uint8Array | null;
  devMode: boolean;
  alertWebhookUrl: string | null;
  allowedOrigins: "*" | ReadonlySet<string>;
  warnings: readonly string[];
}

export type SettingsResult = { ok: true; settings: Settings } | { ok: false; problem: ConfigProblem };

const truthy = (v: string | undefined) => v !== undefined && ["1", "true", "yes"].includes(v.trim().toLowerCase());
const list = (v: string | undefined) =>
  (v ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);

export function parseOrigins(raw: string | undefined): "*" | ReadonlySet<string> {
  const origins = list(raw);
  return origins.includes("*") ? "*" : new Set(origins);
}

async function build(env: Env): Promise<SettingsResult> {
  let rawConfig: unknown = env.GATEWAY_CONFIG;
  if (typeof rawConfig === "string") {
    if (rawConfig.trim() === "") rawConfig = {};
    else {
      try {
        rawConfig = JSON.parse(rawConfig);
      } catch {
        return { ok: false, problem: { path: "GATEWAY_CONFIG", message: "is not valid JSON" } };
      }
    }
  }
  const resolved = resolveConfig(rawConfig);
  if (!resolved.ok) return resolved;

  const devMode = truthy(env.DEV_MODE);
  const warnings: string[] = [];
  const upstreamKeys = list(env.HOLYSHEEP_API_KEY);
  if (upstreamKeys.length === 0 && !devMode) {
    return {
      ok: false,
      problem: { path: "HOLYSHEEP_API_KEY", message: "secret is required (set it with `wrangler secret put HOLYSHEEP_API_KEY`)" },
    };
  }
  const simulatedUpstream = upstreamKeys.length === 0;
  if (simulatedUpstream) warnings.push("DEV_MODE: no HOLYSHEEP_API_KEY, answers come from the simulated upstream");

  const clientKeys = await parseClientKeys(env.CLIENT_KEYS ?? "");
  if (!clientKeys.ok) return clientKeys;
  let allowAnonymous = truthy(env.ALLOW_ANONYMOUS);
  if (clientKeys.keys.size === 0 && !allowAnonymous) {
    if (!devMode) {
      return { ok: false, problem: { path: "CLIENT_KEYS", message: "secret is required unless ALLOW_ANONYMOUS=true" } };
    }
    allowAnonymous = true;
    warnings.push("DEV_MODE: no CLIENT_KEYS, anonymous callers are allowed (tenant public)");
  }
  const adminToken = env.ADMIN_TOKEN?.trim();
  if (devMode && !adminToken) warnings.push("DEV_MODE: no ADMIN_TOKEN, the admin API is disabled");
  if (devMode) warnings.push("DEV_MODE is on: never deploy with it");

  return {
    ok: true,
    settings: {
      config: resolved.config,
      baseUrl: (env.HOLYSHEEP_BASE_URL || "https://api.holysheep.ai/v1").replace(/\/+$/, ""),
      upstreamKeys,
      simulatedUpstream,
      clientKeys: clientKeys.keys,
      allowAnonymous,
      adminTokenDigest: adminToken ? await sha256(adminToken) : null,
      devMode,
      alertWebhookUrl: env.ALERT_WEBHOOK_URL?.trim() || null,
      allowedOrigins: parseOrigins(env.ALLOWED_ORIGINS),
      warnings,
    },
  };
}

let memo: { values: unknown[]; result: Promise<SettingsResult> } | null = null;

/**
 * Parses the environment once per isolate. The memo is keyed by the raw values so a changed
 * environment (a new deploy, a test's override) is parsed afresh; an invalid one is logged once.
 */
export function loadSettings(env: Env): Promise<SettingsResult> {
  const values: unknown[] = [
    env.GATEWAY_CONFIG,
    env.HOLYSHEEP_API_KEY,
    env.HOLYSHEEP_BASE_URL,
    env.CLIENT_KEYS,
    env.ALLOW_ANONYMOUS,
    env.ADMIN_TOKEN,
    env.DEV_MODE,
    env.ALERT_WEBHOOK_URL,
    env.ALLOWED_ORIGINS,
  ];
  const last = memo;
  if (last && values.every((v, i) => v === last.values[i])) return last.result;
  const result = build(env).then((r) => {
    if (!r.ok) console.error(JSON.stringify({ event: "config_invalid", path: r.problem.path, message: r.problem.message }));
    return r;
  });
  memo = { values, result };
  return result;
}
