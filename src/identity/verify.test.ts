import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { loadSettings } from "../config/settings";
import { sha256Hex } from "../core/crypto";
import { mintDevToken } from "./dev";
import { JwksCache } from "./jwks";
import { verifyToken } from "./verify";

/** Dev mode's demo tenant (`tiers.claim: "plan"`, level `pro`), verified as a request would be. */
async function verified(plan: string | null, sub = "alice") {
  const result = await loadSettings({ ...env, DEV_MODE: "true", GATEWAY_CONFIG: "{}" } as Env);
  if (!result.ok) throw new Error(result.problem.path);
  const demo = result.settings.config.identity.tenants.get("demo");
  if (!demo) throw new Error("no demo tenant");
  const { token } = await mintDevToken(demo, sub, plan);
  return verifyToken(token, { settings: result.settings, jwks: new JwksCache(), waitUntil: () => {}, requestId: "t" });
}

describe("the identity a verified token gives", () => {
  it("names the tenant, the user, its tier and the user's SHA-256 prefix", async () => {
    expect(await verified("pro")).toEqual({
      tenant: "demo",
      user: "alice",
      tier: "pro",
      userRef: (await sha256Hex("alice")).slice(0, 12),
    });
  });

  it("an unknown tier value, or none, is no tier: perUser applies", async () => {
    expect((await verified("gold")).tier).toBeNull();
    expect((await verified(null)).tier).toBeNull();
    expect((await verified("constructor")).tier).toBeNull();
  });
});
