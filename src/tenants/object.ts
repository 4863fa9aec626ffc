import { DurableObject } from "cloudflare:workers";
import { log } from "../core/log";
import { ReportIds } from "../core/report-ids";
import type { Batch } from "../core/sync-channel";
import { type IpCount, IpCounts } from "./ip-counts";
import { isAsk, isHolder, LeaseBook } from "./lease";
import {
  epochMinute,
  MAX_IPS_PER_REPORT,
  MAX_USERS_PER_REPORT,
  type UsageAnswer,
  type UsageDelta,
  type UsageView,
  untilNextDay,
  utcDay,
} from "./protocol";
import { type UserCount, type UserCountDelta, UserCounts } from "./user-counts";

const KEY = "usage";
const DROPS_KEY = "drops";

/** What a usage object dropped of its reports, by kind: a bad batch, a repeated one, bad fields. */
export type UsageDrops = Record<"report" | "duplicate" | "requests" | "spend", number>;

const NO_DROPS: UsageDrops = { report: 0, duplicate: 0, requests: 0, spend: 0 };

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isRequests = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
const isSpend = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v) && v >= 0;
const isIp = (v: string) => v.length > 0 && v.length <= 64;
/** A user id as a verified token names it (at most 256 characters), and a tier name. */
const isName = (v: unknown): v is string => typeof v === "string" && v.length > 0 && v.length <= 256;

/** One user's entry of a report, checked: requests of a minute that is over count in the day only. */
function userDelta(entry: unknown, thisMinute: boolean): UserCountDelta | null {
  if (!isRecord(entry)) return null;
  const { user, tier, requests, earlierRequests = 0, spendUsd } = entry;
  if (!isName(user) || !(tier === null || isName(tier))) return null;
  if (!isRequests(requests) || !isRequests(earlierRequests) || !isSpend(spendUsd)) return null;
  const minuteRequests = thisMinute ? requests : 0;
  return { user, tier, minuteRequests, dayRequests: requests + earlierRequests, spendUsd };
}

/** How many IPs the admin view lists. */
const TOP_IPS = 10;

/** The object's SQLite tables, made on first use so that an object emptied at day's end stays empty. */
interface Tables {
  reportIds: ReportIds;
  ips: IpCounts;
  users: UserCounts;
  leases: LeaseBook;
}

/**
 * One tenant's (or one client IP's or end user's within a tenant) usage, shared by every isolate:
 * this minute's requests and today's requests and spend, for a tenant its requests by IP this
 * minute and by end user today (the admin's views), and the leases isolates admit requests
 * against (lease.ts). Isolates report deltas in batches and ask for leases on the same calls, so
 * a request waits on this only when its isolate's lease is out. An IP's or a user's object
 * deletes its storage when its UTC day ends.
 */
export class TenantObject extends DurableObject<Env> {
  private made: Tables | null = null;
  /** The UTC day whose end the alarm is set for (null: not set by this instance). */
  private expiresAfter: string | null = null;

  private tables(): Tables {
    const sql = this.ctx.storage.sql;
    this.made ??= {
      reportIds: new ReportIds(sql),
      ips: new IpCounts(sql),
      users: new UserCounts(sql),
      leases: new LeaseBook(sql),
    };
    return this.made;
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
   * Adds each batch once (its id is remembered), then sets the asker's lease, and answers the view
   * (with the lease when one was asked for). Batches and asks are untrusted input (DESIGN §12): a
   * field that is no amount is dropped, logged and counted, and the rest applied; a bad ask gets
   * no lease; nothing makes this throw, so a bad report never blocks the next.
   */
  async sync(batches: Batch<UsageDelta>[], lifetime?: unknown, ask?: unknown): Promise<UsageAnswer> {
    const now = Date.now();
    const view = this.current(now);
    const drops = { ...NO_DROPS };
    const list: unknown[] = Array.isArray(batches) ? batches : [];
    let changed = false;
    for (const raw of list) changed = this.apply(view, raw, drops) || changed;
    if (changed) this.ctx.storage.kv.put(KEY, view);
    if (ask !== undefined && !isAsk(ask)) drops.report++;
    const lease = isAsk(ask) ? this.tables().leases.lease(ask, view, now) : null;
    const dropped = Object.values(drops).some((n) => n > 0);
    if (dropped) this.countDrops(drops);
    if ((changed || dropped || lease) && lifetime === "day") await this.expireAtDayEnd(now);
    return ask === undefined ? view : { ...view, lease };
  }

  /** Admin: the tenant's busiest client IPs this minute, highest first. */
  topIps(): IpCount[] {
    return this.tables().ips.top(epochMinute(Date.now()), TOP_IPS);
  }

  /** Admin: the tenant's end users who spent most today, highest first. */
  topUsers(limit: number): UserCount[] {
    const now = Date.now();
    return this.tables().users.top(utcDay(now), epochMinute(now), limit);
  }

  /** The day of an IP's object has ended: nothing it holds is of use any more. */
  override async alarm(): Promise<void> {
    await this.ctx.storage.deleteAll();
    this.made = null;
    this.expiresAfter = null;
  }

  /** A later day's write moves the alarm on, so it never empties an object in use that day. */
  private async expireAtDayEnd(now: number): Promise<void> {
    const day = utcDay(now);
    if (this.expiresAfter === day) return;
    await this.ctx.storage.setAlarm(now + untilNextDay(now));
    this.expiresAfter = day;
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
    const { reportIds } = this.tables();
    if (reportIds.seen(raw.id)) {
      drops.duplicate++;
      return false;
    }
    const { requests, spendUsd, ips, earlierRequests = 0, minute = view.minute } = raw.data;
    const counted = isRequests(requests) && isRequests(earlierRequests) && isRequests(minute);
    if (counted) {
      // Requests of a minute that is over count in the day only.
      if (minute === view.minute) view.minuteRequests += requests;
      view.dayRequests += requests + earlierRequests;
    } else drops.requests++;
    const spent = isSpend(spendUsd);
    if (spent) view.daySpendUsd += spendUsd;
    else drops.spend++;
    const { holder, seq } = raw.data;
    if (isHolder(holder) && isRequests(seq)) {
      const at = isRequests(minute) ? minute : view.minute;
      this.tables().leases.consumed(holder, seq, at, counted ? requests : 0, spent ? spendUsd : 0);
    }
    if (ips !== undefined) this.applyIps(view.minute, ips, drops);
    if (raw.data.users !== undefined) this.applyUsers(view, minute === view.minute, raw.data.users, drops);
    reportIds.remember(raw.id);
    return true;
  }

  /** A report's requests by IP; an entry that is no IP or no count is dropped as a bad request count. */
  private applyIps(minute: number, ips: unknown, drops: UsageDrops): void {
    if (!isRecord(ips) || Object.keys(ips).length > MAX_IPS_PER_REPORT) {
      drops.requests++;
      return;
    }
    const counts = this.tables().ips;
    counts.prune(minute);
    for (const [ip, n] of Object.entries(ips)) {
      if (isIp(ip) && isRequests(n) && n > 0) counts.add(minute, ip, n);
      else drops.requests++;
    }
  }

  /** A report's counts by end user; an entry that is no user or no count is dropped as a bad request count. */
  private applyUsers(view: UsageView, thisMinute: boolean, users: unknown, drops: UsageDrops): void {
    if (!Array.isArray(users) || users.length > MAX_USERS_PER_REPORT) {
      drops.requests++;
      return;
    }
    const counts = this.tables().users;
    for (const entry of users) {
      const d = userDelta(entry, thisMinute);
      if (d) counts.add(view.day, view.minute, d);
      else drops.requests++;
    }
  }

  private countDrops(drops: UsageDrops): void {
    const total = this.drops();
    for (const k of Object.keys(drops) as (keyof UsageDrops)[]) total[k] += drops[k];
    this.ctx.storage.kv.put(DROPS_KEY, total);
    if (drops.report + drops.requests + drops.spend > 0) log("warn", "tenant_usage_report_dropped", { ...drops });
  }
}
