/** One end user's requests and spend today, as a tenant's admin view lists them (DESIGN §14). */
export interface UserCount {
  user: string;
  tier: string | null;
  today: { requests: number; spendUsd: number };
  thisMinute: { requests: number };
}

/** One report's counts for one user: `minuteRequests` of its requests fall in the current minute. */
export interface UserCountDelta {
  user: string;
  tier: string | null;
  minuteRequests: number;
  dayRequests: number;
  spendUsd: number;
}

/**
 * Users a tenant's object keeps counts for in a day. Past this many, a user not yet counted takes
 * the place of the one who spent least today (so the busiest stay, and a user dropped and seen
 * again is counted from then on); each user's own usage object limits them either way.
 */
const MAX_TRACKED_USERS = 10_000;

type Row = { user: string; tier: string | null; requests: number; spend: number; minute: number; minute_requests: number };

/**
 * A tenant's requests and spend per end user for the current UTC day, in its usage object's
 * SQLite storage: one row per user; rows of an earlier day go when the next day's first report
 * arrives, and the table never holds more than MAX_TRACKED_USERS rows.
 */
export class UserCounts {
  /** The day whose rows the table holds, and how many (read once per day per instance). */
  private day: string | null = null;
  private rows = 0;

  constructor(private readonly sql: SqlStorage) {
    sql.exec(`CREATE TABLE IF NOT EXISTS user_day (user TEXT PRIMARY KEY, tier TEXT, day TEXT NOT NULL,
      requests INTEGER NOT NULL, spend REAL NOT NULL, minute INTEGER NOT NULL, minute_requests INTEGER NOT NULL)`);
    sql.exec("CREATE INDEX IF NOT EXISTS user_day_spend ON user_day (spend, requests)");
  }

  add(day: string, minute: number, d: UserCountDelta): void {
    this.startDay(day);
    const updated = this.sql
      .exec(
        `UPDATE user_day SET tier = ?2, requests = requests + ?3, spend = spend + ?4,
           minute_requests = CASE WHEN minute = ?5 THEN minute_requests + ?6 ELSE ?6 END, minute = ?5
         WHERE user = ?1 RETURNING user`,
        d.user,
        d.tier,
        d.dayRequests,
        d.spendUsd,
        minute,
        d.minuteRequests,
      )
      .toArray();
    if (updated.length > 0) return;
    this.sql.exec(
      "INSERT INTO user_day (user, tier, day, requests, spend, minute, minute_requests) VALUES (?, ?, ?, ?, ?, ?, ?)",
      d.user,
      d.tier,
      day,
      d.dayRequests,
      d.spendUsd,
      minute,
      d.minuteRequests,
    );
    if (++this.rows <= MAX_TRACKED_USERS) return;
    this.sql.exec(
      "DELETE FROM user_day WHERE user IN (SELECT user FROM user_day WHERE user <> ? ORDER BY spend, requests LIMIT ?)",
      d.user,
      this.rows - MAX_TRACKED_USERS,
    );
    this.rows = MAX_TRACKED_USERS;
  }

  /** Today's users who spent most (then made most requests), highest first. */
  top(day: string, minute: number, limit: number): UserCount[] {
    return this.sql
      .exec<Row>(
        `SELECT user, tier, requests, spend, minute, minute_requests FROM user_day WHERE day = ?
         ORDER BY spend DESC, requests DESC, user LIMIT ?`,
        day,
        limit,
      )
      .toArray()
      .map((r) => ({
        user: r.user,
        tier: r.tier,
        today: { requests: r.requests, spendUsd: r.spend },
        thisMinute: { requests: r.minute === minute ? r.minute_requests : 0 },
      }));
  }

  /** A new day's first count forgets the day before. */
  private startDay(day: string): void {
    if (this.day === day) return;
    this.sql.exec("DELETE FROM user_day WHERE day <> ?", day);
    this.rows = this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM user_day").one().n;
    this.day = day;
  }
}
