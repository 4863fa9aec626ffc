import type { UserLimits } from "../config/identity";
import type { TenantLimits } from "../config/schema";
import type { Settings } from "../config/settings";
import { GatewayError } from "../core/errors";
import type { Identity } from "../core/identity";
import { retryAfterHeaders } from "../core/retry-after";
import type { Spend } from "../core/services";
import type { LeaseTerms, UsageChannel } from "./channel";
import type { Side } from "./holding";
import { clientIp } from "./ip";
import { type Amounts, ipBucket, tenantBucket, type UserTag, untilNextDay, untilNextMinute, userBucket } from "./protocol";
import { Reservation } from "./reservation";

/**
 * A usage bucket a request counts against: a tenant's, one client IP's within a tenant, or (with
 * end-user tokens) one user's within a tenant. Its kind names the 429 it answers.
 */
export interface Bucket {
  kind: "tenant" | "ip" | "user";
  name: string;
  requestsPerMinute: number | null;
  dailyBudgetUsd: number | null;
  /** A tenant's bucket: the end user its requests and spend are tallied for too (the admin's top users). */
  tally?: UserTag;
}

/** One client IP within a tenant, counted before the request's body is read. */
export interface IpBucket extends Bucket {
  kind: "ip";
  /** The tenant's bucket, which keeps the tenant's top IPs. */
  tenant: string;
  ip: string;
}

export function limitsFor(settings: Settings, tenant: string): TenantLimits {
  const { tenants } = settings.config;
  return tenant === "public" ? tenants.public : (tenants.named.get(tenant) ?? tenants.default);
}

/**
 * An end user's limits (DESIGN §14): their tier's level (already `perUser` overridden field by
 * field), or `perUser` for no tier; null for a caller with no verified token.
 */
export function userLimitsFor(settings: Settings, identity: Identity | null): UserLimits | null {
  if (identity === null) return null;
  const tenant = settings.config.identity.tenants.get(identity.tenant);
  if (!tenant) return null;
  return (identity.tier === null ? undefined : tenant.tiers?.levels.get(identity.tier)) ?? tenant.perUser;
}

/**
 * The buckets of a request, once its body is read: its user's (when their limits hold any) and
 * its tenant's, which holds for the sum of its users and tallies each of them for the admin.
 */
export function bucketsFor(settings: Settings, tenant: string, identity: Identity | null): Bucket[] {
  const { requestsPerMinute, dailyBudgetUsd } = limitsFor(settings, tenant);
  const own: Bucket = { kind: "tenant", name: tenantBucket(tenant), requestsPerMinute, dailyBudgetUsd };
  const user = userLimitsFor(settings, identity);
  if (identity === null || user === null) return [own];
  own.tally = { user: identity.user, tier: identity.tier };
  // A user with no request or spend limit needs no object of their own: the tenant's tally counts them.
  if (user.requestsPerMinute === null && user.dailyBudgetUsd === null) return [own];
  const name = userBucket(tenant, identity.user);
  return [{ kind: "user", name, requestsPerMinute: user.requestsPerMinute, dailyBudgetUsd: user.dailyBudgetUsd }, own];
}

/** The caller's IP bucket within its tenant (`CF-Connecting-IP`), or null when the tenant sets no per-IP limit. */
export function ipBucketFor(settings: Settings, tenant: string, rawIp: string | null): IpBucket | null {
  const limit = limitsFor(settings, tenant).ipRequestsPerMinute;
  if (limit === null) return null;
  const ip = clientIp(rawIp);
  const name = ipBucket(tenant, ip);
  return { kind: "ip", name, tenant: tenantBucket(tenant), ip, requestsPerMinute: limit, dailyBudgetUsd: null };
}

/** How long a lease may be admitted against: ten snapshot TTLs (10 s by default). */
const TERM_TTLS = 10;

/**
 * The lease timing of DESIGN §13's slices. A reservation may stay open as long as a request lives
 * (its deadline, then its stream's wall-clock cap or total time), so the object keeps an isolate's
 * dollars that long past its term before taking them back unheard.
 */
export function leaseTiming(settings: Settings): { ttlMs: number; termMs: number; keepMs: number } {
  const ttlMs = settings.config.snapshotTtlMs;
  const termMs = TERM_TTLS * ttlMs;
  let lifeMs = 0;
  for (const m of settings.config.models.values()) {
    const t = m.timeouts;
    lifeMs = Math.max(lifeMs, t.deadlineMs + Math.max(t.streamWallMs, t.streamTotalMs));
  }
  return { ttlMs, termMs, keepMs: termMs + lifeMs };
}

const WHOSE = { tenant: "", ip: " for your IP address", user: " for this user" } as const;
const CODES = {
  tenant: { requests: "tenant_rate_limited", usd: "budget_exceeded" },
  ip: { requests: "ip_rate_limited", usd: "budget_exceeded" },
  user: { requests: "user_rate_limited", usd: "user_budget_exceeded" },
} as const;

/** The 429 of a bucket whose limit on `side` is reached. */
function refusal(bucket: Bucket, side: Side, ch: UsageChannel, terms: LeaseTerms, now: number): GatewayError {
  const code = CODES[bucket.kind][side];
  if (side === "requests") {
    const message = `Rate limit reached${WHOSE[bucket.kind]}: ${bucket.requestsPerMinute} requests per minute.`;
    return new GatewayError(429, "rate_limit_error", code, message, null, retryAfterHeaders(untilNextMinute(now)));
  }
  // Dollars held by requests in flight or by other isolates' slices may come back within a term.
  const held = ch.holding.heldUsd > 0;
  const message = held
    ? `Today's budget of $${bucket.dailyBudgetUsd}${WHOSE[bucket.kind]} is spent or held by requests in flight.`
    : `Today's budget of $${bucket.dailyBudgetUsd}${WHOSE[bucket.kind]} is spent; it resets at midnight UTC.`;
  const wait = held ? terms.termMs : untilNextDay(now);
  return new GatewayError(429, "rate_limit_error", code, message, null, retryAfterHeaders(wait));
}

/** DESIGN §13: the usage object could not be reached and this isolate holds too little to admit the request. */
function unavailable(retryMs: number): GatewayError {
  const message = "Usage limits cannot be checked right now; retry shortly.";
  return new GatewayError(503, "server_error", "usage_unavailable", message, null, retryAfterHeaders(retryMs));
}

/** Asks for a bucket that does not fit before the request is refused as over its limit. */
const MAX_ROUNDS = 4;
/** How long an isolate leaves a usage object that just failed alone (the sync channel's back-off). */
const UNAVAILABLE_RETRY_MS = 1_000;

interface Line {
  bucket: Bucket;
  ch: UsageChannel;
  terms: LeaseTerms;
  need: Amounts;
}

/**
 * Requests per minute and daily budgets as hard bounds across isolates (DESIGN §13): each
 * isolate admits against the lease it holds from the bucket's usage object, with no round trip,
 * and waits on the object only when that lease is out (an isolate's first request, a lease used
 * up or lapsed). When the object cannot be reached, it spends what it holds, then answers 503.
 */
export class TenantGuard {
  constructor(
    private readonly channel: (bucket: string) => UsageChannel,
    private readonly timing: { ttlMs: number; termMs: number; keepMs: number },
    private readonly waitUntil: (work: Promise<unknown>) => void,
  ) {}

  /** Admits one request into every bucket, reserving `reserveUsd` in those with a budget; throws 429 or 503. */
  async admit(buckets: Bucket[], reserveUsd: number): Promise<Spend> {
    const lines = buckets.map((bucket) => this.line(bucket, reserveUsd));
    for (let round = 0; ; round++) {
      const now = Date.now();
      const short = lines.find((l) => l.ch.holding.short(now, l.terms.limits, l.need) !== null);
      if (!short) break;
      await this.topUp(short, round);
    }
    const now = Date.now();
    for (const l of lines) {
      l.ch.holding.take(l.terms.limits, l.need);
      l.ch.add(1, 0, now, l.bucket.tally);
      this.afterAdmission(l, now);
    }
    return new Reservation(lines, reserveUsd, (ch) => this.flushSoon(ch));
  }

  /**
   * Refuses a client IP over its limit within its tenant, and counts the request otherwise, whatever
   * becomes of it (a body refused with 400 or 413 costs the IP as much as an answer does).
   */
  async admitIp(bucket: IpBucket): Promise<void> {
    await this.admit([bucket], 0);
    this.flushSoon(this.channel(bucket.tenant)).addIp(bucket.ip);
  }

  private line(bucket: Bucket, reserveUsd: number): Line {
    const ch = this.channel(bucket.name);
    const limits = { requestsPerMinute: bucket.requestsPerMinute, dailyBudgetUsd: bucket.dailyBudgetUsd };
    const terms = { limits, termMs: this.timing.termMs, keepMs: this.timing.keepMs };
    ch.terms = terms;
    const need = { requests: limits.requestsPerMinute === null ? 0 : 1, usd: limits.dailyBudgetUsd === null ? 0 : reserveUsd };
    return { bucket, ch, terms, need };
  }

  /** Waits for a grant the line's request fits in; throws when the limit is reached or nothing was heard. */
  private async topUp(l: Line, round: number): Promise<void> {
    const now = Date.now();
    const side = l.ch.holding.short(now, l.terms.limits, l.need) ?? "requests";
    if (round >= MAX_ROUNDS || (round > 0 && l.ch.holding.exhausted(now, side, l.need))) {
      throw refusal(l.bucket, side, l.ch, l.terms, now);
    }
    if (l.ch.unavailable(now)) throw unavailable(UNAVAILABLE_RETRY_MS);
    const heard = l.ch.grants;
    l.ch.waitingFor.requests += l.need.requests;
    l.ch.waitingFor.usd += l.need.usd;
    try {
      // Requests woken together all count as waiting before the first of them asks.
      await Promise.resolve();
      await l.ch.refresh();
      // The call ridden was sent before this bucket's limits were known here (a report flushed
      // ahead of its first request): it asked for no lease. The next call, made now, does.
      if (l.ch.grants === heard && !l.ch.unavailable()) await l.ch.refresh();
    } finally {
      l.ch.waitingFor.requests -= l.need.requests;
      l.ch.waitingFor.usd -= l.need.usd;
    }
    if (l.ch.grants === heard) throw unavailable(UNAVAILABLE_RETRY_MS);
  }

  /** The lease is renewed in the background before it runs out or lapses, and handed back if it lapses unused. */
  private afterAdmission(l: Line, now: number): void {
    this.flushSoon(l.ch);
    const { holding } = l.ch;
    const limitedBucket = l.terms.limits.requestsPerMinute !== null || l.terms.limits.dailyBudgetUsd !== null;
    if (!limitedBucket) return;
    const renew = holding.until - now < l.terms.termMs / 2 || holding.short(now, l.terms.limits, l.need) !== null;
    if (renew) this.waitUntil(l.ch.refresh());
    const timer = l.ch.giveBackTimer();
    if (timer) this.waitUntil(timer);
  }

  /** What is added to the channel reaches its object within one snapshot TTL. */
  private flushSoon(ch: UsageChannel): UsageChannel {
    const timer = ch.flushWithin(this.timing.ttlMs);
    if (timer) this.waitUntil(timer);
    return ch;
  }
}
