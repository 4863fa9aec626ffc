/** What an isolate tells a tenant's object, and what it hears back (usage windows, UTC). */
export interface UsageDelta {
  requests: number;
  spendUsd: number;
  /** A tenant's requests by client IP (`clientIp`), for its admin view; absent when none. */
  ips?: Record<string, number>;
}

/**
 * Distinct client IPs one report names at most. The admin view wants the busiest IPs; a report
 * spans one snapshot TTL of one isolate, so an IP first seen past this many is one of the least
 * busy, and it is still limited by its own usage object.
 */
export const MAX_IPS_PER_REPORT = 1000;

/**
 * How long a usage object keeps its storage: a tenant's for good; an IP's (and later a user's)
 * only until its UTC day ends, since there may be millions of them and a day's counts are all
 * they hold.
 */
export type UsageLifetime = "kept" | "day";

/** The usage object's name for a tenant. */
export const tenantBucket = (tenant: string) => `tenant:${tenant}`;

/** The usage object's name for one client IP within a tenant (tenant names hold no `:`). */
export const ipBucket = (tenant: string, ip: string) => `ip:${tenant}:${ip}`;

export const lifetimeOf = (bucket: string): UsageLifetime => (bucket.startsWith("ip:") ? "day" : "kept");

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
