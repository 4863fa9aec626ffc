import { DurableObject } from "cloudflare:workers";
import { epochMinute, type UsageDelta, type UsageView, utcDay } from "./protocol";

const KEY = "usage";

/**
 * One tenant's (or one anonymous IP's) usage, shared by every isolate: this minute's requests and
 * today's requests and spend. Isolates report deltas in batches, so this is never on a request's
 * path once an isolate has heard from it.
 */
export class TenantObject extends DurableObject<Env> {
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

  sync(delta: UsageDelta): UsageView {
    const view = this.current(Date.now());
    view.minuteRequests += delta.requests;
    view.dayRequests += delta.requests;
    view.daySpendUsd += delta.spendUsd;
    if (delta.requests > 0 || delta.spendUsd > 0) this.ctx.storage.kv.put(KEY, view);
    return view;
  }

  /** Admin: clears today's spend (requests stay counted). */
  resetSpend(): UsageView {
    const view = this.current(Date.now());
    view.daySpendUsd = 0;
    this.ctx.storage.kv.put(KEY, view);
    return view;
  }
}
