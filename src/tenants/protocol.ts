/** What an isolate tells a tenant's object, and what it hears back (usage windows, UTC). */
export interface UsageDelta {
  requests: number;
  spendUsd: number;
}

export interface UsageView {
  /** Epoch minute the `minuteRequests` count belongs to. */
  minute: number;
  minuteRequests: number;
  /** UTC day (`YYYY-MM-DD`) the day totals belong to. */
  day: string;
  dayRequests: number;
  daySpendUsd: number;
}

export const epochMinute = (ms: number) => Math.floor(ms / 60_000);
export const utcDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** Milliseconds until the next minute, or the next UTC midnight: when a limit frees up. */
export const untilNextMinute = (ms: number) => 60_000 - (ms % 60_000);
export const untilNextDay = (ms: number) => 86_400_000 - (ms % 86_400_000);
