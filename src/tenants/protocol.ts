/** What an isolate tells a tenant's object, and what it hears back (usage windows, UTC). */
export interface UsageDelta {
  /** Requests admitted in `minute` (absent: the object's current minute). */
  requests: number;
  spendUsd: number;
  /** A tenant's requests by client IP (`clientIp`), for its admin view; absent when none. */
  ips?: Record<string, number>;
  /** A tenant's requests and spend by end user, for its admin view; absent when none. */
  users?: UserDelta[];
  minute?: number;
  /** Requests admitted in minutes before `minute`: they count in the day only. */
  earlierRequests?: number;
  /** The isolate whose lease this usage came out of, and the batch's place in its order. */
  holder?: string;
  seq?: number;
}

/** The end user a tenant's request was made for, as its per-user tally names them. */
export interface UserTag {
  user: string;
  /** The tier their token named (null: `perUser`). */
  tier: string | null;
}

/** One user's part of a tenant's report: counted in the report's minute (`earlierRequests`: in the day only). */
export interface UserDelta extends UserTag {
  requests: number;
  earlierRequests?: number;
  spendUsd: number;
}

/** Requests (of one minute) and dollars (of one day). */
export interface Amounts {
  requests: number;
  usd: number;
}

/** The limits a lease is cut from: the usage object holds no config of its own. */
export interface LeaseLimits {
  requestsPerMinute: number | null;
  dailyBudgetUsd: number | null;
}

/**
 * An isolate's lease request (DESIGN §13): what it holds, and how much more it wants. The object
 * sets the holder's lease to `hold` plus what it grants, never less: `hold` is what the isolate
 * holds once the batches up to `asOf` are applied (later batches are taken off it as they come).
 */
export interface LeaseAsk {
  holder: string;
  /** Increasing per holder: an ask that arrives after a later one is ignored. */
  op: number;
  /** The seq of the last batch whose usage `hold` already reflects. */
  asOf: number;
  limits: LeaseLimits;
  /** Requests held for `minute`, and dollars held (free, and reserved by requests in flight). */
  hold: Amounts & { minute: number };
  /** More without which a waiting request is refused. */
  need: Amounts;
  /** More the isolate would like (its recent pace): granted as far as fairness allows. */
  want: Amounts;
  /** How long the object keeps the dollars without hearing from the holder again. */
  keepMs: number;
}

/** The answer to a LeaseAsk: what the holder holds now, and what is left for everyone else. */
export interface LeaseGrant {
  op: number;
  minute: number;
  hold: Amounts;
  /** Left to grant after this one (Infinity is never sent: an unlimited side says 0 and is not leased). */
  spare: Amounts;
  /** Dollars other isolates hold: a budget refused while some are held may free up within a term. */
  othersUsd: number;
}

/** A usage object's answer: its view, and the lease when the call asked for one (null: the ask was stale or bad). */
export interface UsageAnswer extends UsageView {
  lease?: LeaseGrant | null;
}

/**
 * Distinct client IPs one report names at most. The admin view wants the busiest IPs; a report
 * spans one snapshot TTL of one isolate, so an IP first seen past this many is one of the least
 * busy, and it is still limited by its own usage object.
 */
export const MAX_IPS_PER_REPORT = 1000;

/** Distinct users one report names at most, for the same reason (each is limited by its own object). */
export const MAX_USERS_PER_REPORT = 1000;

/**
 * How long a usage object keeps its storage: a tenant's for good; an IP's or a user's
 * only until its UTC day ends, since there may be millions of them and a day's counts are all
 * they hold.
 */
export type UsageLifetime = "kept" | "day";

/** The usage object's name for a tenant. */
export const tenantBucket = (tenant: string) => `tenant:${tenant}`;

/** The usage object's name for one client IP within a tenant (tenant names hold no `:`). */
export const ipBucket = (tenant: string, ip: string) => `ip:${tenant}:${ip}`;

/** The usage object's name for one end user within a tenant: admins may see it, logs name only its kind. */
export const userBucket = (tenant: string, user: string) => `user:${tenant}:${user}`;

/** An IP's or a user's bucket (`ip:…`, `user:…`): there may be millions, and they name a person or an address. */
export const isPersonal = (bucket: string) => bucket.startsWith("ip:") || bucket.startsWith("user:");

export const lifetimeOf = (bucket: string): UsageLifetime => (isPersonal(bucket) ? "day" : "kept");

export interface UsageView {
  /** Epoch minute the `minuteRequests` count belongs to. */
  minute: number;
  minuteRequests: number;
  /** UTC day (`YYYY-MM-DD`) the day totals belong to. */
  day: string;
  dayRequests: number;
  daySpendUsd: number;
}

export const epochMinute = (ms: number) => Math.floor(ms / 60_000);
export const utcDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** Milliseconds until the next minute, or the next UTC midnight: when a limit frees up. */
export const untilNextMinute = (ms: number) => 60_000 - (ms % 60_000);
export const untilNextDay = (ms: number) => 86_400_000 - (ms % 86_400_000);
