import { DurableObject } from "cloudflare:workers";
import { postAlert } from "../core/alerts";
import { log } from "../core/log";
import { ReportIds } from "../core/report-ids";
import { series } from "../metrics/series";
import { alertWorthy, transitionAlert } from "./alerts";
import { Breaker } from "./machine";
import type { CircuitDetail, ObjectSettings, Snapshot, SyncRequest, SyncResponse, TransitionRecord } from "./protocol";
import { checkReport } from "./report-check";
import type { Admission, BreakerConfig, BreakerData, Transition } from "./state";

const HISTORY_LIMIT = 50;

/**
 * One model's circuit, shared by every isolate (DESIGN §3). A thin shell around the pure
 * Breaker: state loaded once under blockConcurrencyWhile, every transition written to SQLite
 * before the call returns, one alarm at the earliest pending deadline.
 */
export class BreakerObject extends DurableObject<Env> {
  private breaker: Breaker | null = null;
  private settings: ObjectSettings | null = null;
  private saved: BreakerData | undefined;
  private calls = 0;
  private readonly reportIds: ReportIds;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.reportIds = new ReportIds(ctx.storage.sql);
    ctx.blockConcurrencyWhile(async () => {
      const sql = ctx.storage.sql;
      sql.exec(
        "CREATE TABLE IF NOT EXISTS state (id INTEGER PRIMARY KEY CHECK (id = 1), settings TEXT, data TEXT, calls INTEGER)",
      );
      sql.exec(
        "CREATE TABLE IF NOT EXISTS history (seq INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER, from_state TEXT, to_state TEXT, reason TEXT)",
      );
      sql.exec("CREATE TABLE IF NOT EXISTS series (name TEXT PRIMARY KEY, value REAL NOT NULL)");
      const row = sql
        .exec<{ settings: string; data: string; calls: number }>("SELECT settings, data, calls FROM state WHERE id = 1")
        .toArray()[0];
      if (row) {
        this.settings = JSON.parse(row.settings);
        this.saved = JSON.parse(row.data);
        this.calls = row.calls;
      }
    });
  }

  async sync(req: SyncRequest): Promise<SyncResponse> {
    this.calls++;
    const transitions: Transition[] = [...this.use(req.settings).tick()];
    const reports: unknown[] = Array.isArray(req.reports) ? req.reports : [];
    for (const raw of reports) transitions.push(...this.applyReport(this.use(req.settings), raw));
    const breaker = this.use(req.settings);
    const grants: Admission[] = [];
    for (const leaseMs of req.permits) {
      const { admission, transitions: t } = breaker.acquire(leaseMs);
      transitions.push(...t);
      grants.push(admission);
    }
    this.commit(transitions);
    return { snapshot: this.snapshot(breaker), grants };
  }

  async detail(settings: ObjectSettings): Promise<CircuitDetail> {
    const breaker = this.use(settings);
    this.commit(breaker.tick());
    const transitions = this.ctx.storage.sql
      .exec<{ at: number; from_state: string; to_state: string; reason: string }>(
        "SELECT at, from_state, to_state, reason FROM history ORDER BY seq DESC LIMIT ?",
        HISTORY_LIMIT,
      )
      .toArray()
      .map(
        (r) => ({ model: settings.model, at: r.at, from: r.from_state, to: r.to_state, reason: r.reason }) as TransitionRecord,
      );
    return { ...breaker.view(), model: settings.model, config: settings.config, calls: this.calls, transitions };
  }

  async reset(settings: ObjectSettings, reason: string | undefined): Promise<CircuitDetail> {
    const breaker = this.use(settings);
    this.commit(breaker.reset(reason));
    return this.detail(settings);
  }

  async forceOpen(settings: ObjectSettings, reason: string, durationMs: number | null): Promise<CircuitDetail> {
    const breaker = this.use(settings);
    this.commit(breaker.forceOpen(reason, durationMs));
    return this.detail(settings);
  }

  /** The metric series summed from every isolate's reports. */
  async series(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const r of this.ctx.storage.sql.exec<{ name: string; value: number }>("SELECT name, value FROM series"))
      out[r.name] = r.value;
    return out;
  }

  override async alarm(): Promise<void> {
    if (!this.settings) return;
    const breaker = this.use(this.settings);
    this.commit(breaker.tick());
  }

  /** The caller's settings win: a changed config rebuilds the machine around the same state. */
  private use(settings: ObjectSettings): Breaker {
    const changed = JSON.stringify(settings) !== JSON.stringify(this.settings);
    if (this.breaker && !changed) return this.breaker;
    const data = this.breaker?.toJSON() ?? this.saved;
    this.settings = settings;
    this.breaker = new Breaker(settings.config satisfies BreakerConfig, Date.now, () => crypto.randomUUID(), data);
    return this.breaker;
  }

  /**
   * Applies one report batch, once (its id is remembered) and whole or not at all. It is checked
   * first (DESIGN §12), so nothing in it can make this throw; should something fail all the same,
   * the batch is dropped, the machine rolled back, and the call goes on: a bad report never blocks
   * the next one.
   */
  private applyReport(breaker: Breaker, raw: unknown): Transition[] {
    const report = checkReport(raw);
    if (!report || this.reportIds.seen(report.id)) {
      this.dropped(report ? "duplicate" : "report", 1);
      return [];
    }
    const before = breaker.toJSON();
    const out: Transition[] = [];
    try {
      this.ctx.storage.transactionSync(() => {
        for (const run of report.outcomes) {
          for (let i = 0; i < run.n; i++) out.push(...breaker.record(run.outcome, run.permitId));
        }
        for (const [name, value] of report.deltas) this.addSeries(name, value);
        this.reportIds.remember(report.id);
      });
    } catch (err) {
      this.breaker = null;
      this.saved = before;
      log("error", "breaker_report_failed", { model: this.settings?.model, id: report.id, error: String(err) });
      this.dropped("failed", 1);
      return [];
    }
    if (report.dropped.outcomes > 0) this.dropped("outcome", report.dropped.outcomes, report.id);
    if (report.dropped.deltas > 0) this.dropped("delta", report.dropped.deltas, report.id);
    return out;
  }

  private dropped(part: "report" | "duplicate" | "failed" | "outcome" | "delta", n: number, id?: string): void {
    const model = this.settings?.model ?? "";
    this.addSeries(series("gateway_breaker_report_drops_total", { model, part }), n);
    if (part !== "duplicate") log("warn", "breaker_report_dropped", { model, part, n, id });
  }

  private addSeries(name: string, value: number): void {
    this.ctx.storage.sql.exec(
      "INSERT INTO series (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
      name,
      value,
    );
  }

  /** Persists before the reply leaves (SQLite writes are synchronous behind the output gate). */
  private commit(transitions: Transition[]): void {
    const breaker = this.breaker;
    const settings = this.settings;
    if (!breaker || !settings) return;
    const sql = this.ctx.storage.sql;
    sql.exec(
      "INSERT OR REPLACE INTO state (id, settings, data, calls) VALUES (1, ?, ?, ?)",
      JSON.stringify(settings),
      JSON.stringify(breaker.toJSON()),
      this.calls,
    );
    for (const t of transitions) {
      const record: TransitionRecord = { ...t, model: settings.model };
      sql.exec("INSERT INTO history (at, from_state, to_state, reason) VALUES (?, ?, ?, ?)", t.at, t.from, t.to, t.reason);
      const name = series("gateway_circuit_transitions_total", { model: settings.model, from: t.from, to: t.to });
      sql.exec("INSERT INTO series (name, value) VALUES (?, 1) ON CONFLICT(name) DO UPDATE SET value = value + 1", name);
      log("info", "circuit_transition", { ...record });
      if (settings.alertWebhookUrl && alertWorthy(record))
        this.ctx.waitUntil(postAlert(settings.alertWebhookUrl, transitionAlert(record)));
    }
    if (transitions.length > 0) sql.exec("DELETE FROM history WHERE seq <= (SELECT MAX(seq) FROM history) - ?", HISTORY_LIMIT);
    const deadline = breaker.nextDeadline();
    if (deadline === null) this.ctx.storage.deleteAlarm();
    else this.ctx.storage.setAlarm(deadline);
  }

  private snapshot(breaker: Breaker): Snapshot {
    const v = breaker.view();
    const full = v.state === "half_open" && v.halfOpenInFlight >= (this.settings?.config.halfOpenMaxCalls ?? 1);
    return {
      state: v.state,
      nextAttemptAt: v.nextAttemptAt,
      coolingUntil: v.coolingUntil,
      recheckAt: full ? breaker.nextDeadline() : null,
    };
  }
}
