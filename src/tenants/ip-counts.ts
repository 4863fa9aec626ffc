/** One client IP's requests this minute, as a tenant's admin view lists them. */
export interface IpCount {
  ip: string;
  requests: number;
}

/**
 * A tenant's requests per client IP for the current minute, in its usage object's SQLite storage:
 * one row per IP; rows of earlier minutes go as soon as a later minute's counts arrive, so the
 * table holds about one minute's IPs.
 */
export class IpCounts {
  constructor(private readonly sql: SqlStorage) {
    sql.exec("CREATE TABLE IF NOT EXISTS ip_minute (ip TEXT PRIMARY KEY, minute INTEGER NOT NULL, requests INTEGER NOT NULL)");
  }

  add(minute: number, ip: string, requests: number): void {
    this.sql.exec(
      `INSERT INTO ip_minute (ip, minute, requests) VALUES (?, ?, ?)
       ON CONFLICT (ip) DO UPDATE SET
         requests = CASE WHEN minute = excluded.minute THEN requests + excluded.requests ELSE excluded.requests END,
         minute = excluded.minute`,
      ip,
      minute,
      requests,
    );
  }

  /** Forgets the IPs of minutes before `minute`. */
  prune(minute: number): void {
    this.sql.exec("DELETE FROM ip_minute WHERE minute < ?", minute);
  }

  /** The busiest IPs of `minute`, highest first. */
  top(minute: number, limit: number): IpCount[] {
    return this.sql
      .exec<{ ip: string; requests: number }>(
        "SELECT ip, requests FROM ip_minute WHERE minute = ? ORDER BY requests DESC, ip LIMIT ?",
        minute,
        limit,
      )
      .toArray()
      .map((row) => ({ ip: row.ip, requests: row.requests }));
  }
}
