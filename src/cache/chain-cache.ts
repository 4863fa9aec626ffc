import type { ModelConfig } from "../config/resolve";
import type { Settings } from "../config/settings";
import { CompletionAssembler } from "../core/assemble";
import type { AnswerRecorder, CachedAnswer, ChainCache } from "../core/cache";
import type { ChatRequest } from "../core/chat-request";
import { log } from "../core/log";
import type { AttemptEnd, ChatCompletionChunk } from "../core/openai";
import { series } from "../metrics/series";
import { cacheKey } from "./key";

export interface CacheScope {
  tenant: string;
  /** The caller's end user (a verified JWT), or null; part of the key when the tenant's cache is user-scoped. */
  user: string | null;
  request: ChatRequest;
  noStore: boolean;
  maxStaleSeconds: number | null;
  waitUntil: (work: Promise<unknown>) => void;
  /** Adds to a model's metric series (they travel with its breaker reports). */
  count: (model: ModelConfig, series: string) => void;
}

/** KV allows one write a second per key; an isolate skips repeats of a key for this long. */
const WRITE_DEDUPE_MS = 5_000;
const encoder = new TextEncoder();

/**
 * The KV fallback cache for one request: looked up only as a fallback step, written in the
 * background after a complete success. Entries are namespaced by tenant and by the model that
 * answered, so neither another tenant's nor another model's answer can be served; for a tenant
 * scoped `"user"`, by end user too, so one user's answer never serves another.
 */
export class KvChainCache implements ChainCache {
  private readonly keys = new Map<string, Promise<string>>();

  constructor(
    private readonly kv: KVNamespace,
    private readonly settings: Settings,
    private readonly scope: CacheScope,
    private readonly recentWrites: Map<string, number>,
  ) {}

  private enabled(model: ModelConfig): boolean {
    const { cache } = this.settings.config;
    return cache.enabled && model.cacheEnabled && !cache.disabledTenants.has(this.scope.tenant);
  }

  private key(model: ModelConfig): Promise<string> {
    let key = this.keys.get(model.name);
    if (!key) {
      const { tenant, user, request } = this.scope;
      const perUser = this.settings.config.cache.userScopedTenants.has(tenant);
      key = cacheKey(tenant, model.name, request, perUser ? { user } : null);
      this.keys.set(model.name, key);
    }
    return key;
  }

  async lookup(model: ModelConfig): Promise<CachedAnswer | null> {
    if (!this.enabled(model)) return null;
    const lookups = (result: string) => series("gateway_cache_lookups_total", { model: model.name, result });
    let entry: CachedAnswer | null;
    try {
      entry = await this.kv.get<CachedAnswer>(await this.key(model), "json");
    } catch {
      log("warn", "cache_read_failed", { model: model.name });
      this.scope.count(model, lookups("error"));
      return null;
    }
    const ageMs = entry ? Math.max(0, Date.now() - entry.producedAt) : 0;
    if (!entry || (this.scope.maxStaleSeconds !== null && ageMs > this.scope.maxStaleSeconds * 1000)) {
      this.scope.count(model, lookups(entry ? "stale" : "miss"));
      return null;
    }
    this.scope.count(model, lookups("hit"));
    return entry;
  }

  recorder(model: ModelConfig, stream: boolean): AnswerRecorder | null {
    if (!this.enabled(model) || this.scope.noStore) return null;
    const max = this.settings.config.cache.maxEntryBytes;
    const assembler = stream ? new CompletionAssembler(max) : null;
    return {
      onChunk: (chunk: ChatCompletionChunk) => assembler?.add(chunk),
      finish: (end: AttemptEnd) => {
        const answer = assembler ? assembler.result(end.usage) : end.completion;
        if (!answer) return Promise.resolve();
        return this.write(model, { answer, producedAt: Date.now(), model: model.name });
      },
    };
  }

  private async write(model: ModelConfig, entry: CachedAnswer): Promise<void> {
    const key = await this.key(model);
    const now = Date.now();
    if ((this.recentWrites.get(key) ?? 0) > now) return;
    const value = JSON.stringify(entry);
    const max = this.settings.config.cache.maxEntryBytes;
    // UTF-8 takes 1 to 3 bytes per UTF-16 unit: only a string near the limit needs encoding.
    if (value.length > max || (value.length * 3 > max && encoder.encode(value).byteLength > max)) return;
    this.recentWrites.set(key, now + WRITE_DEDUPE_MS);
    if (this.recentWrites.size > 10_000) this.recentWrites.clear();
    try {
      await this.kv.put(key, value, { expirationTtl: this.settings.config.cache.ttlSeconds });
      this.scope.count(model, series("gateway_cache_writes_total", { model: model.name, result: "ok" }));
    } catch {
      log("warn", "cache_write_failed", { model: model.name });
      this.scope.count(model, series("gateway_cache_writes_total", { model: model.name, result: "failed" }));
    }
  }
}
