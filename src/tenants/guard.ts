import type { TenantLimits } from "../config/schema";
import type { Settings } from "../config/settings";
import { GatewayError } from "../core/errors";
import { retryAfterHeaders } from "../core/retry-after";
import type { UsageChannel } from "./channel";
import { untilNextDay, untilNextMinute } from "./protocol";

/** A usage bucket a request counts against: a tenant, or an anonymous caller's IP. */
export interface Bucket {
  name: string;
  requestsPerMinute: number | null;
  dailyBudgetUsd: number | null;
}

/** The usage object's name for a tenant (anonymous IPs are `ip:<address>`). */
export const tenantBucket = (tenant: string) => `tenant:${tenant}`;

export function limitsFor(settings: Settings, tenant: string): TenantLimits {
  return settings.config.tenants.named.get(tenant) ?? settings.config.tenants.default;
}

/** The buckets of a request: its tenant's, and for anonymous callers also their IP's. */
export function bucketsFor(settings: Settings, tenant: string, ip: string | null): Bucket[] {
  const limits = limitsFor(settings, tenant);
  const buckets: Bucket[] = [
    { name: tenantBucket(tenant), requestsPerMinute: limits.requestsPerMinute, dailyBudgetUsd: limits.dailyBudgetUsd },
  ];
  const ipLimit = settings.config.tenants.ip.requestsPerMinute;
  if (tenant === "public" && ipLimit !== null)
    buckets.push({ name: `ip:${ip ?? "unknown"}`, requestsPerMinute: ipLimit, dailyBudgetUsd: null });
  return buckets;
}

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
      const ch = this.channel(bucket.name);
      const limited = bucket.requestsPerMinute !== null || bucket.dailyBudgetUsd !== null;
      if (limited && !ch.known) await ch.refresh();
      else if (ch.stale(now, this.ttlMs)) this.waitUntil(ch.refresh());
      const usage = ch.estimate(now);
      if (bucket.requestsPerMinute !== null && usage.minuteRequests >= bucket.requestsPerMinute) {
        throw new GatewayError(
          429,
          "rate_limit_error",
          "tenant_rate_limited",
          `Rate limit reached: ${bucket.requestsPerMinute} requests per minute.`,
          null,
          retryAfterHeaders(untilNextMinute(now)),
        );
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

  spend(bucket: string, usd: number): void {
    this.count(bucket, 0, usd);
  }

  private count(bucket: string, requests: number, usd: number): void {
    const ch = this.channel(bucket);
    ch.add(requests, usd);
    const timer = ch.flushWithin(this.ttlMs);
    if (timer) this.waitUntil(timer);
  }
}
