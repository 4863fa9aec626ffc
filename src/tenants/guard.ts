import type { TenantLimits } from "../config/schema";
import type { Settings } from "../config/settings";
import { GatewayError } from "../core/errors";
import { retryAfterHeaders } from "../core/retry-after";
import type { UsageChannel } from "./channel";
import { clientIp } from "./ip";
import { ipBucket, tenantBucket, untilNextDay, untilNextMinute } from "./protocol";

/** A usage bucket a request counts against once its body is read: its tenant's. */
export interface Bucket {
  name: string;
  requestsPerMinute: number | null;
  dailyBudgetUsd: number | null;
}

/** One client IP within a tenant, counted before the request's body is read. */
export interface IpBucket {
  name: string;
  /** The tenant's bucket, which keeps the tenant's top IPs. */
  tenant: string;
  ip: string;
  requestsPerMinute: number;
}

export function limitsFor(settings: Settings, tenant: string): TenantLimits {
  const { tenants } = settings.config;
  return tenant === "public" ? tenants.public : (tenants.named.get(tenant) ?? tenants.default);
}

/** The buckets of a request, once its body is read: its tenant's. */
export function bucketsFor(settings: Settings, tenant: string): Bucket[] {
  const limits = limitsFor(settings, tenant);
  return [{ name: tenantBucket(tenant), requestsPerMinute: limits.requestsPerMinute, dailyBudgetUsd: limits.dailyBudgetUsd }];
}

/** The caller's IP bucket within its tenant (`CF-Connecting-IP`), or null when the tenant sets no per-IP limit. */
export function ipBucketFor(settings: Settings, tenant: string, rawIp: string | null): IpBucket | null {
  const limit = limitsFor(settings, tenant).ipRequestsPerMinute;
  if (limit === null) return null;
  const ip = clientIp(rawIp);
  return { name: ipBucket(tenant, ip), tenant: tenantBucket(tenant), ip, requestsPerMinute: limit };
}

const rateLimited = (code: string, message: string, now: number) =>
  new GatewayError(429, "rate_limit_error", code, message, null, retryAfterHeaders(untilNextMinute(now)));

/**
 * Per-tenant limits (requests per minute, daily budget) checked from the isolate's usage views.
 * Only a bucket this isolate has never heard of costs a round trip, once.
 */
export class TenantGuard {
  constructor(
    private readonly channel: (bucket: string) => UsageChannel,
    private readonly ttlMs: number,
    private readonly waitUntil: (work: Promise<unknown>) => void,
  ) {}

  async admit(buckets: Bucket[]): Promise<void> {
    const now = Date.now();
    for (const bucket of buckets) {
      const limited = bucket.requestsPerMinute !== null || bucket.dailyBudgetUsd !== null;
      const usage = await this.usage(bucket.name, limited, now);
      if (bucket.requestsPerMinute !== null && usage.minuteRequests >= bucket.requestsPerMinute) {
        throw rateLimited("tenant_rate_limited", `Rate limit reached: ${bucket.requestsPerMinute} requests per minute.`, now);
      }
      if (bucket.dailyBudgetUsd !== null && usage.daySpendUsd >= bucket.dailyBudgetUsd) {
        throw new GatewayError(
          429,
          "rate_limit_error",
          "budget_exceeded",
          `Today's budget of $${bucket.dailyBudgetUsd} is spent; it resets at midnight UTC.`,
          null,
          retryAfterHeaders(untilNextDay(now)),
        );
      }
    }
    for (const bucket of buckets) this.count(bucket.name, 1, 0);
  }

  /**
   * Refuses a client IP over its limit within its tenant, and counts the request otherwise, whatever
   * becomes of it (a body refused with 400 or 413 costs the IP as much as an answer does).
   */
  async admitIp(bucket: IpBucket): Promise<void> {
    const now = Date.now();
    const usage = await this.usage(bucket.name, true, now);
    if (usage.minuteRequests >= bucket.requestsPerMinute) {
      throw rateLimited(
        "ip_rate_limited",
        `Rate limit reached for your IP address: ${bucket.requestsPerMinute} requests per minute.`,
        now,
      );
    }
    this.count(bucket.name, 1, 0);
    this.flushSoon(this.channel(bucket.tenant)).addIp(bucket.ip);
  }

  spend(bucket: string, usd: number): void {
    this.count(bucket, 0, usd);
  }

  /** The bucket's usage as this isolate knows it; only a limited bucket never heard of waits on its object. */
  private async usage(bucket: string, limited: boolean, now: number) {
    const ch = this.channel(bucket);
    if (limited && !ch.known) await ch.refresh();
    else if (ch.stale(now, this.ttlMs)) this.waitUntil(ch.refresh());
    return ch.estimate(now);
  }

  private count(bucket: string, requests: number, usd: number): void {
    this.flushSoon(this.channel(bucket)).add(requests, usd);
  }

  /** What is added to the channel reaches its object within one snapshot TTL. */
  private flushSoon(ch: UsageChannel): UsageChannel {
    const timer = ch.flushWithin(this.ttlMs);
    if (timer) this.waitUntil(timer);
    return ch;
  }
}
