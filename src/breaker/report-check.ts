import type { Outcome } from "../core/circuit";
import { ReportIds } from "../core/report-ids";
import type { OutcomeRun } from "./protocol";

/** Far beyond one isolate's batch (one call per TTL); a longer run would only burn the object's CPU. */
const MAX_RUN = 100_000;
const MAX_TEXT = 200;
const MAX_SERIES_NAME = 1_000;
const MAX_DELTAS = 5_000;

/** What the object can use of a report batch, and how much of it it had to drop. */
export interface CheckedReport {
  id: string;
  outcomes: OutcomeRun[];
  deltas: [string, number][];
  dropped: { outcomes: number; deltas: number };
}

type Json = Record<string, unknown>;

const isRecord = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
const isText = (v: unknown, max = MAX_TEXT): v is string => typeof v === "string" && v.length > 0 && v.length <= max;
const isCount = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v) && v >= 0;

/** Rebuilt field by field, so nothing but what the machine reads reaches it. */
function checkOutcome(v: unknown): Outcome | null {
  if (!isRecord(v)) return null;
  switch (v.kind) {
    case "success":
      // Only `true` marks a slow call; anything else there is no outcome we sent.
      if (v.slow === true) return { kind: "success", slow: true };
      return v.slow === undefined || v.slow === false ? { kind: "success" } : null;
    case "client_abort":
    case "ignored":
      return { kind: v.kind };
    case "failure":
      return isText(v.reason) ? { kind: "failure", reason: v.reason } : null;
    case "rate_limited":
      if (v.retryAfterMs === null) return { kind: "rate_limited", retryAfterMs: null };
      return isCount(v.retryAfterMs) ? { kind: "rate_limited", retryAfterMs: v.retryAfterMs } : null;
    default:
      return null;
  }
}

function checkRun(v: unknown): OutcomeRun | null {
  if (!isRecord(v)) return null;
  const outcome = checkOutcome(v.outcome);
  const { n, permitId } = v;
  if (!outcome || typeof n !== "number" || !Number.isSafeInteger(n) || n < 1 || n > MAX_RUN) return null;
  if (permitId === null) return { outcome, n, permitId };
  // A probe's outcome stands alone: a permit is used once.
  return isText(permitId) && n === 1 ? { outcome, n, permitId } : null;
}

/**
 * A report batch as the object may apply it (DESIGN §12: a report is untrusted input). Outcome
 * runs and metric deltas are checked one by one and the bad ones dropped (a delta must be a
 * finite count: every series is a counter), so one bad value never costs the rest. Null when the
 * batch has no usable id or no report at all: it could not be applied exactly once.
 */
export function checkReport(raw: unknown): CheckedReport | null {
  if (!isRecord(raw) || !ReportIds.valid(raw.id) || !isRecord(raw.data)) return null;
  const { outcomes, deltas } = raw.data;
  const checked: CheckedReport = { id: raw.id, outcomes: [], deltas: [], dropped: { outcomes: 0, deltas: 0 } };
  if (Array.isArray(outcomes)) {
    for (const v of outcomes) {
      const run = checkRun(v);
      if (run) checked.outcomes.push(run);
      else checked.dropped.outcomes++;
    }
  } else if (outcomes !== undefined) checked.dropped.outcomes++;
  if (isRecord(deltas)) {
    for (const [name, value] of Object.entries(deltas)) {
      if (isText(name, MAX_SERIES_NAME) && isCount(value) && checked.deltas.length < MAX_DELTAS)
        checked.deltas.push([name, value]);
      else checked.dropped.deltas++;
    }
  } else if (deltas !== undefined) checked.dropped.deltas++;
  return checked;
}
