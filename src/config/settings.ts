import { sha256 } from "../core/crypto";
import { parseClientKeys } from "./client-keys";
import { withDevTenant } from "./identity";
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
  /** HS256 keys of JWT tenants, by the name of the secret that holds each (`tenants.<t>.jwt.secret`). */
  jwtSecrets: ReadonlyMap<string, Uint8Array>;
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

/** RFC 7518 §3.2: an HS256 key must be at least as long as the hash (32 bytes). */
const MIN_HMAC_KEY_BYTES = 32;

/** Reads each secret a JWT tenant names; a missing or short one is a config error naming the field. */
function jwtSecrets(
  env: Env,
  config: GatewayConfig,
): { ok: true; secrets: Map<string, Uint8Array> } | { ok: false; problem: ConfigProblem } {
  const secrets = new Map<string, Uint8Array>();
  const vars = env as unknown as Record<string, unknown>;
  for (const t of config.identity.tenants.values()) {
    if (t.jwt.keys.kind !== "secret") continue;
    const path = `GATEWAY_CONFIG.tenants.${t.tenant}.jwt.secret`;
    const value = vars[t.jwt.keys.name];
    if (typeof value !== "string" || value === "") {
      return { ok: false, problem: { path, message: `the secret ${t.jwt.keys.name} is not set` } };
    }
    const key = new TextEncoder().encode(value);
    if (key.byteLength < MIN_HMAC_KEY_BYTES) {
      return { ok: false, problem: { path, message: `the secret ${t.jwt.keys.name} is shorter than 32 bytes` } };
    }
    secrets.set(t.jwt.keys.name, key);
  }
  return { ok: true, secrets };
}

/** GATEWAY_CONFIG (a JSON string, or a wrangler.toml table) resolved, with dev mode's `demo` JWT tenant added. */
function configFor(
  raw: Env["GATEWAY_CONFIG"],
  devMode: boolean,
): { ok: true; config: GatewayConfig } | { ok: false; problem: ConfigProblem } {
  let parsed: unknown = raw;
  if (typeof raw === "string") {
    try {
      parsed = raw.trim() === "" ? {} : JSON.parse(raw);
    } catch {
      return { ok: false, problem: { path: "GATEWAY_CONFIG", message: "is not valid JSON" } };
    }
  }
  const resolved = resolveConfig(parsed);
  if (!resolved.ok || !devMode) return resolved;
  const identity = withDevTenant(resolved.config.identity);
  if (!identity.ok) return identity;
  return { ok: true, config: { ...resolved.config, identity: identity.value } };
}

async function build(env: Env): Promise<SettingsResult> {
  const devMode = truthy(env.DEV_MODE);
  const resolved = configFor(env.GATEWAY_CONFIG, devMode);
  if (!resolved.ok) return resolved;
  const secrets = jwtSecrets(env, resolved.config);
  if (!secrets.ok) return secrets;

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
      jwtSecrets: secrets.secrets,
      allowAnonymous,
      adminTokenDigest: adminToken ? await sha256(adminToken) : null,
      devMode,
      alertWebhookUrl: env.ALERT_WEBHOOK_URL?.trim() || null,
      allowedOrigins: parseOrigins(env.ALLOWED_ORIGINS),
      warnings,
    },
  };
}

interface Memo {
  values: unknown[];
  /** The secrets the configuration names (JWT tenants' HS256 keys), as they were when parsed. */
  named: [string, unknown][];
  result: Promise<SettingsResult>;
}

let memo: Memo | null = null;

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
  const vars = env as unknown as Record<string, unknown>;
  const last = memo;
  if (last && values.every((v, i) => v === last.values[i]) && last.named.every(([name, v]) => vars[name] === v)) {
    return last.result;
  }
  const named: [string, unknown][] = [];
  const result = build(env).then((r) => {
    if (!r.ok) console.error(JSON.stringify({ event: "config_invalid", path: r.problem.path, message: r.problem.message }));
    else for (const name of r.settings.jwtSecrets.keys()) named.push([name, vars[name]]);
    return r;
  });
  memo = { values, named, result };
  return result;
}
