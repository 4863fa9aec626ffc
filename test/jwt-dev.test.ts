import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from "jose";
import { describe, expect, it } from "vitest";
import { DEV_ISSUER } from "../src/config/identity";
import { chatBody, gateway, Upstream, uniqueModel } from "./support/harness";

type Minted = { token: string; expiresIn: number; tenant: string };

function devGateway(vars: Record<string, unknown> = { DEV_MODE: "true" }) {
  const up = new Upstream();
  const model = uniqueModel();
  return { up, model, gw: gateway(up, { config: { models: { [model]: {} } }, ...vars }) };
}

describe("dev mode's token issuer", () => {
  it("does not exist without DEV_MODE", async () => {
    const { gw } = devGateway({});
    for (const path of ["/__dev/jwks.json", "/__dev/token?tenant=demo&sub=alice"]) {
      const res = await gw.fetch(path);
      expect(res.status).toBe(404);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("not_found");
    }
  });

  it("mints an ES256 token for the demo tenant that the gateway accepts", async () => {
    const { gw, model, up } = devGateway();
    const res = await gw.fetch("/__dev/token?tenant=demo&sub=alice&plan=pro");
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    const minted = (await res.json()) as Minted;
    expect(decodeProtectedHeader(minted.token)).toMatchObject({ alg: "ES256", typ: "JWT" });

    const jwks = (await (await gw.fetch("/__dev/jwks.json")).json()) as { keys: Record<string, unknown>[] };
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).toMatchObject({ kty: "EC", crv: "P-256", alg: "ES256" });
    expect(jwks.keys[0]).not.toHaveProperty("d");
    const { payload } = await jwtVerify(minted.token, createLocalJWKSet(jwks), { issuer: DEV_ISSUER, audience: "edge-gateway" });
    expect(payload).toMatchObject({ sub: "alice", plan: "pro" });
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(minted.expiresIn);

    const chat = await gw.fetch("/v1/chat/completions", {
      method: "POST",
      headers: { authorization: `Bearer ${minted.token}`, "content-type": "application/json" },
      body: JSON.stringify(chatBody(model)),
    });
    expect(chat.status).toBe(200);
    expect(await up.calls()).toBe(1);
    await gw.settle();
  });

  it("refuses a tenant without jwt, and a missing sub", async () => {
    const { gw } = devGateway();
    expect((await gw.fetch("/__dev/token?tenant=web&sub=alice")).status).toBe(400);
    expect((await gw.fetch("/__dev/token?tenant=demo")).status).toBe(400);
  });
});
