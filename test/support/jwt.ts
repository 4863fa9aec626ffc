// An auth provider for the JWT tests: key pairs made with jose, their public halves published on
// the real JWKS server (jwks-server.ts), tokens signed as Auth0 or Firebase would sign them.
import { base64url, type CryptoKey, exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT } from "jose";
import { inject } from "vitest";

export type SigningAlg = "ES256" | "RS256" | "EdDSA";

interface Key {
  alg: SigningAlg;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  publicJwk: JWK;
}

export interface SignOptions {
  kid?: string;
  iss?: string;
  aud?: string | string[];
  /** Seconds from now; null leaves the claim out. */
  exp?: number | null;
  iat?: number | null;
  nbf?: number;
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

export class Issuer {
  readonly ns = `j${crypto.randomUUID().slice(0, 8)}`;
  readonly iss = `https://${this.ns}.auth.example/`;
  readonly keys = new Map<string, Key>();

  get jwksUrl(): string {
    return `http://127.0.0.1:${inject("jwksPort")}/ns/${this.ns}/jwks.json`;
  }

  private url(path: string): string {
    return `http://127.0.0.1:${inject("jwksPort")}/ns/${this.ns}/${path}`;
  }

  /** Makes a key pair; `publish` (default) puts its public half in the JWKS. Returns its kid. */
  async addKey(alg: SigningAlg = "ES256", publish = true): Promise<string> {
    const kid = `k-${crypto.randomUUID().slice(0, 8)}`;
    const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
    const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: "sig" };
    this.keys.set(kid, { alg, privateKey, publicKey, publicJwk });
    if (publish) await this.publish();
    return kid;
  }

  /** Serves every key made so far, except those `addKey` was told to keep out. */
  async publish(kids: string[] = [...this.keys.keys()]): Promise<void> {
    const keys = kids.map((kid) => this.keys.get(kid)?.publicJwk);
    await (await fetch(this.url("keys"), { method: "PUT", body: JSON.stringify({ keys }) })).body?.cancel();
  }

  async mode(mode: { down?: boolean; delayMs?: number }): Promise<void> {
    await (await fetch(this.url("mode"), { method: "POST", body: JSON.stringify(mode) })).body?.cancel();
  }

  async fetches(): Promise<number> {
    return ((await (await fetch(this.url("stats"))).json()) as { fetches: number }).fetches;
  }

  /** A token for `claims` (add `sub`), valid for 10 minutes unless told otherwise. */
  async sign(claims: JWTPayload, kid: string, options: Omit<SignOptions, "kid"> = {}): Promise<string> {
    const key = this.keys.get(kid);
    if (!key) throw new Error(`no key ${kid}`);
    const now = nowSeconds();
    const payload: JWTPayload = { iss: options.iss ?? this.iss, aud: options.aud ?? "edge-gateway", ...claims };
    const { exp = 600, iat = 0, nbf } = options;
    if (exp !== null) payload.exp = now + exp;
    if (iat !== null) payload.iat = now + iat;
    if (nbf !== undefined) payload.nbf = now + nbf;
    return new SignJWT(payload).setProtectedHeader({ alg: key.alg, kid, typ: "JWT" }).sign(key.privateKey);
  }
}

/** A token whose header and payload are whatever the test says, with the given signature bytes. */
export function rawToken(header: Record<string, unknown>, payload: Record<string, unknown>, signature = ""): string {
  const part = (o: unknown) => base64url.encode(new TextEncoder().encode(JSON.stringify(o)));
  return `${part(header)}.${part(payload)}.${signature}`;
}

/** Signs `header.payload` with HMAC-SHA256 under `secret`, as a forger holding only public material would. */
export async function hmacToken(header: Record<string, unknown>, payload: Record<string, unknown>, secret: Uint8Array) {
  const unsigned = rawToken(header, payload).slice(0, -1);
  const key = await crypto.subtle.importKey("raw", secret, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(unsigned)));
  return `${unsigned}.${base64url.encode(mac)}`;
}

export { nowSeconds };

/** A JWT tenant's config entry for `issuer`, with overrides of its `jwt` block. */
export function jwtTenant(issuer: Issuer, jwt: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
  return { jwt: { issuer: issuer.iss, audience: "edge-gateway", jwksUrl: issuer.jwksUrl, ...jwt }, ...extra };
}
