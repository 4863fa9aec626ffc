import type { Amounts, LeaseAsk, LeaseGrant, LeaseLimits, UsageView } from "./protocol";

/** One isolate's lease as the usage object keeps it. */
interface LeaseRow {
  op: number;
  asOf: number;
  /** The minute `requests` belong to: they lapse with it. */
  minute: number;
  requests: number;
  usd: number;
  /** The dollars lapse then, unless the holder is heard from again. */
  until: number;
}

/** The longest an ask may keep dollars: far beyond any request's life. */
const MAX_KEEP_MS = 86_400_000;
const MAX_HOLDER_LENGTH = 64;

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
const isAmount = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v) && v >= 0;
const isLimit = (v: unknown) => v === null || isAmount(v);
const isAmounts = (v: unknown): v is Amounts => isRecord(v) && isCount(v.requests) && isAmount(v.usd);

export const isHolder = (v: unknown): v is string => typeof v === "string" && v.length > 0 && v.length <= MAX_HOLDER_LENGTH;

/** An ask is untrusted input (DESIGN §12): anything off in it and it is not answered. */
export function isAsk(v: unknown): v is LeaseAsk {
  if (!isRecord(v) || !isHolder(v.holder) || !isCount(v.op) || !isCount(v.asOf)) return false;
  const { limits, hold, need, want, keepMs } = v;
  if (!isRecord(limits) || !isLimit(limits.requestsPerMinute) || !isLimit(limits.dailyBudgetUsd)) return false;
  if (!isRecord(hold) || !isCount(hold.minute) || !isAmounts(hold)) return false;
  return isAmounts(need) && isAmounts(want) && isCount(keepMs) && keepMs <= MAX_KEEP_MS;
}

/**
 * The slice policy (DESIGN §13): more for one holder out of what is `spare` (neither used nor held
 * by anyone): what its waiting requests need, and up to what its recent pace wants, but no more
 * than half of what is spare, so that the isolate that asks first leaves some for the next.
 */
export function sliceOf(spare: number, need: number, want: number, whole: boolean): number {
  if (spare <= 0) return 0;
  const fair = whole ? Math.floor(spare / 2) : spare / 2;
  return Math.min(spare, Math.max(need, Math.min(want, fair)));
}

/** One side of a lease: the holder keeps `hold` and gets its slice; null limit: that side is not leased. */
function side(limit: number | null, taken: number, hold: number, need: number, want: number, whole: boolean) {
  if (limit === null) return { hold: 0, spare: 0 };
  const spare = Math.max(0, limit - taken - hold);
  const extra = sliceOf(spare, need, want, whole);
  return { hold: hold + extra, spare: spare - extra };
}

/**
 * The leases of one usage object, in its SQLite storage: one row per holder (an isolate's line to
 * this bucket). Requests are leased for the current minute; dollars for the day, kept until the
 * holder's `keepMs` runs out without word from it. What no one holds or used is what is granted:
 * the sum of every lease and every use never exceeds a limit, however many isolates ask.
 */
export class LeaseBook {
  constructor(private readonly sql: SqlStorage) {
    sql.exec(`CREATE TABLE IF NOT EXISTS leases (holder TEXT PRIMARY KEY, op INTEGER NOT NULL, as_of INTEGER NOT NULL,
      minute INTEGER NOT NULL, requests INTEGER NOT NULL, usd REAL NOT NULL, until INTEGER NOT NULL)`);
  }

  /** A batch's usage comes off its holder's lease, unless the lease already reflected it when it was set. */
  consumed(holder: string, seq: number, minute: number, requests: number, usd: number): void {
    const row = this.row(holder);
    if (!row || seq <= row.asOf) return;
    if (row.minute === minute) row.requests = Math.max(0, row.requests - requests);
    row.usd = Math.max(0, row.usd - usd);
    this.put(holder, row);
  }

  /** Sets the holder's lease to what it holds plus its slice; null for an ask older than the last one heard. */
  lease(ask: LeaseAsk, view: UsageView, now: number): LeaseGrant | null {
    const mine = this.row(ask.holder);
    if (mine && ask.op <= mine.op) return null;
    this.sql.exec("DELETE FROM leases WHERE until <= ? AND minute < ?", now, view.minute);
    const others = this.heldByOthers(ask.holder, view.minute, now);
    const limits: LeaseLimits = ask.limits;
    const heldRequests = ask.hold.minute === view.minute ? ask.hold.requests : 0;
    const taken = { requests: view.minuteRequests + others.requests, usd: view.daySpendUsd + others.usd };
    const r = side(limits.requestsPerMinute, taken.requests, heldRequests, ask.need.requests, ask.want.requests, true);
    const d = side(limits.dailyBudgetUsd, taken.usd, ask.hold.usd, ask.need.usd, ask.want.usd, false);
    const row = { op: ask.op, asOf: ask.asOf, minute: view.minute, requests: r.hold, usd: d.hold, until: now + ask.keepMs };
    this.put(ask.holder, row);
    return {
      op: ask.op,
      minute: view.minute,
      hold: { requests: r.hold, usd: d.hold },
      spare: { requests: r.spare, usd: d.spare },
      othersUsd: others.usd,
    };
  }

  private heldByOthers(holder: string, minute: number, now: number): Amounts {
    const sums = this.sql
      .exec<{ requests: number | null; usd: number | null }>(
        `SELECT SUM(CASE WHEN minute = ? THEN requests ELSE 0 END) AS requests,
                SUM(CASE WHEN until > ? THEN usd ELSE 0 END) AS usd
         FROM leases WHERE holder != ?`,
        minute,
        now,
        holder,
      )
      .one();
    return { requests: sums.requests ?? 0, usd: sums.usd ?? 0 };
  }

  private row(holder: string): LeaseRow | null {
    const rows = this.sql
      .exec<{ op: number; as_of: number; minute: number; requests: number; usd: number; until: number }>(
        "SELECT op, as_of, minute, requests, usd, until FROM leases WHERE holder = ?",
        holder,
      )
      .toArray();
    const r = rows[0];
    return r ? { op: r.op, asOf: r.as_of, minute: r.minute, requests: r.requests, usd: r.usd, until: r.until } : null;
  }

  private put(holder: string, r: LeaseRow): void {
    this.sql.exec(
      "INSERT OR REPLACE INTO leases (holder, op, as_of, minute, requests, usd, until) VALUES (?, ?, ?, ?, ?, ?, ?)",
      holder,
      r.op,
      r.asOf,
      r.minute,
      r.requests,
      r.usd,
      r.until,
    );
  }
}
