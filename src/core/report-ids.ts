/** How long an object remembers a report id: far beyond an isolate's re-sends (seconds apart). */
const RETENTION_MS = 10 * 60_000;

const MAX_ID_LENGTH = 64;

/**
 * The ids of the report batches a Durable Object applied lately, kept in its SQLite storage, so a
 * batch an isolate sends again (the answer to the first try was lost) is applied once. Bounded
 * by age: an id is forgotten after RETENTION_MS.
 */
export class ReportIds {
  constructor(private readonly sql: SqlStorage) {
    sql.exec("CREATE TABLE IF NOT EXISTS report_ids (id TEXT PRIMARY KEY, at INTEGER NOT NULL)");
    sql.exec("CREATE INDEX IF NOT EXISTS report_ids_at ON report_ids (at)");
  }

  /** A usable id: a short string (an isolate's crypto.randomUUID()). */
  static valid(id: unknown): id is string {
    return typeof id === "string" && id.length > 0 && id.length <= MAX_ID_LENGTH;
  }

  seen(id: string): boolean {
    return this.sql.exec("SELECT 1 FROM report_ids WHERE id = ?", id).toArray().length > 0;
  }

  remember(id: string, now = Date.now()): void {
    this.sql.exec("INSERT OR IGNORE INTO report_ids (id, at) VALUES (?, ?)", id, now);
    this.sql.exec("DELETE FROM report_ids WHERE at < ?", now - RETENTION_MS);
  }
}
