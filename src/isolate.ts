import { ModelChannel } from "./breaker/channel";
import { objectSettings } from "./breaker/gate";
import type { ModelConfig } from "./config/resolve";
import type { Settings } from "./config/settings";
import { JwksCache } from "./identity/jwks";
import { UsageChannel } from "./tenants/channel";
import { KeyRing } from "./upstream/keys";

/**
 * What one isolate remembers between requests: circuit snapshots and outboxes, tenant usage
 * views, which keys are set aside, the JWT tenants' signing keys. A gateway instance owns one, so a test can run two "isolates" side by side.
 */
export class Isolate {
  private readonly channels = new Map<string, { ch: ModelChannel; from: Settings }>();
  private ring: KeyRing | null = null;
  private readonly usageChannels = new Map<string, UsageChannel>();
  /** Cache keys this isolate wrote lately (KV takes one write a second per key). */
  readonly recentCacheWrites = new Map<string, number>();
  /** The JWT tenants' signing keys (DESIGN §14). */
  readonly jwks = new JwksCache();

  channel(env: Env, model: ModelConfig, settings: Settings): ModelChannel {
    const entry = this.channels.get(model.name);
    if (entry?.from === settings) return entry.ch;
    const wanted = objectSettings(model, settings);
    if (entry) {
      entry.ch.configure(wanted);
      entry.from = settings;
      return entry.ch;
    }
    // A fresh stub per call: one that threw may be broken for good.
    const ch = new ModelChannel((req) => env.BREAKERS.getByName(model.name).sync(req), wanted);
    this.channels.set(model.name, { ch, from: settings });
    return ch;
  }

  /** Adds to a model's metric series; they reach its Durable Object with the next report. */
  count(
    env: Env,
    model: ModelConfig,
    settings: Settings,
    series: string,
    waitUntil: (work: Promise<unknown>) => void,
    amount = 1,
  ): void {
    const ch = this.channel(env, model, settings);
    ch.count(series, amount);
    const timer = ch.flushWithin(settings.config.snapshotTtlMs);
    if (timer) waitUntil(timer);
  }

  usage(env: Env, bucket: string): UsageChannel {
    let ch = this.usageChannels.get(bucket);
    if (!ch) {
      ch = new UsageChannel((batches, lifetime, ask) => env.TENANTS.getByName(bucket).sync(batches, lifetime, ask), bucket);
      // Per-IP limits add one bucket per IP: keep the map from growing without bound.
      if (this.usageChannels.size >= 10_000) this.usageChannels.clear();
      this.usageChannels.set(bucket, ch);
    }
    return ch;
  }

  keys(keys: readonly string[]): KeyRing {
    if (!this.ring || this.ring.keys.join(",") !== keys.join(",")) this.ring = new KeyRing(keys);
    return this.ring;
  }
}
