import { DurableObject } from "cloudflare:workers";
import { log } from "../core/log";
import { ReportIds } from "../core/report-ids";
import type { Batch } from "../core/sync-channel";
import { epochMinute, type UsageDelta, type UsageView, utcDay } from "./protocol";

const KEY = "usage";
const DROPS_KEY = "drops";

/** What a usage object dropped of its reports, by kind: a bad batch, a repeated one, bad fields. */
export type UsageDrops = Record<"report" | "duplicate" | "requests" | "spend", number>;

const NO_DROPS: UsageDrops = { report: 0, duplicate: 0, requests: 0, spend: 0 };

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isRequests = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
const isSpend = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v) && v >= 0;

/**
 * One tenant's (or one anonymous IP's) usage, shared by every isolate: this minute's requests and
 * today's requests and spend. Isolates report deltas in batches, so this is never on a request's
 * path once an isolate has heard from it.
 */
export class TenantObject extends DurableObject<Env> {
  private readonly reportIds: ReportIds;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.reportIds = new ReportIds(ctx.storage.sql);
  }

  private current(now: number): UsageView {
    const saved = this.ctx.storage.kv.get<UsageView>(KEY);
    const minute = epochMinute(now);
    const day = utcDay(now);
    const sameDay = saved?.day === day;
    return {
      minute,
      minuteRequests: saved?.minute === minute ? saved.minuteRequests : 0,
      day,
      dayRequests: sameDay ? saved.dayRequests : 0,
      daySpendUsd: sameDay ? saved.daySpendUsd : 0,
    };
  }

  /**
   * Adds each batch once (its id is remembered) and answers the view. Batches are untrusted input
   * (DESIGN §12): a field that is no amount is dropped, logged and counted, and the rest applied;
   * nothing in a batch makes this throw, so a bad one never blocks the next.
   */
  sync(batches: Batch<UsageDelta>[]): UsageView {
    const view = this.current(Date.now());
    const drops = { ...NO_DROPS };
    const list: unknown[] = Array.isArray(batches) ? batches : [];
    let changed = false;
    for (const raw of list) changed = this.apply(view, raw, drops) || changed;
    if (changed) this.ctx.storage.kv.put(KEY, view);
    if (Object.values(drops).some((n) => n > 0)) this.countDrops(drops);
    return view;
  }

  /** Admin: clears today's spend (requests stay counted). */
  resetSpend(): UsageView {
    const view = this.current(Date.now());
    view.daySpendUsd = 0;
    this.ctx.storage.kv.put(KEY, view);
    return view;
  }

  drops(): UsageDrops {
    return { ...NO_DROPS, ...this.ctx.storage.kv.get<UsageDrops>(DROPS_KEY) };
  }

  private apply(view: UsageView, raw: unknown, drops: UsageDrops): boolean {
    if (!isRecord(raw) || !ReportIds.valid(raw.id) || !isRecord(raw.data)) {
      drops.report++;
      return false;
    }
    if (this.reportIds.seen(raw.id)) {
      drops.duplicate++;
      return false;
    }
    const { requests, spendUsd } = raw.data;
    if (isRequests(requests)) {
      view.minuteRequests += requests;
      view.dayRequests += requests;
    } else drops.requests++;
    if (isSpend(spendUsd)) view.daySpendUsd += spendUsd;
    else drops.spend++;
    this.reportIds.remember(raw.id);
    return true;
  }

  private countDrops(drops: UsageDrops): void {
    const total = this.drops();
    for (const k of Object.keys(drops) as (keyof UsageDrops)[]) total[k] += drops[k];
    this.ctx.storage.kv.put(DROPS_KEY, total);
    if (drops.report + drops.requests + drops.spend > 0) log("warn", "tenant_usage_report_dropped", { ...drops });
  }
}
