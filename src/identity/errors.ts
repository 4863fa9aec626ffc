import { GatewayError } from "../core/errors";
import { retryAfterHeaders } from "../core/retry-after";

/** RFC 6750: a refused bearer token says why in `WWW-Authenticate` as well as in the body. */
const refused = (code: string, message: string) =>
  new GatewayError(401, "authentication_error", code, message, null, { "www-authenticate": `Bearer error="invalid_token"` });

/** Malformed, badly signed, for another issuer or audience, without a user, or living too long. */
export const invalidToken = (message: string) => refused("invalid_token", message);

/** `exp` passed or `nbf` not reached, beyond the tenant's clock skew: the app should fetch a new token. */
export const tokenExpired = (message: string) => refused("token_expired", message);

/** The longest Retry-After an unreachable JWKS earns (DESIGN §14). */
export const MAX_IDENTITY_RETRY_MS = 30_000;

/** No cached key fits and the tenant's JWKS cannot be fetched: the token may be fine, try again soon. */
export const identityUnavailable = (retryAfterMs: number) =>
  new GatewayError(
    503,
    "server_error",
    "identity_unavailable",
    "The token's signing keys cannot be fetched right now; retry shortly.",
    null,
    retryAfterHeaders(Math.min(MAX_IDENTITY_RETRY_MS, Math.max(1_000, retryAfterMs))),
  );

export const jwtRequired = () =>
  new GatewayError(
    401,
    "authentication_error",
    "jwt_required",
    "This client key's tenant accepts only user tokens: send `Authorization: Bearer <JWT>`.",
  );
