/**
 * The end user behind a request whose JWT was verified (DESIGN §14). A request with a static
 * client key, or an anonymous one, has none.
 */
export interface Identity {
  /** The tenant whose `jwt.issuer` and `jwt.audience` the token named. */
  tenant: string;
  /** The token's `userClaim` value. Admins may see it; metrics never carry it, logs carry `userRef`. */
  user: string;
  /** The `tiers.levels` key the token's tier claim named; null: `perUser` applies. */
  tier: string | null;
  /** A short SHA-256 prefix of `user`, the only form of it that goes into logs. */
  userRef: string;
}
