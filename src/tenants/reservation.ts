import type { Spend } from "../core/services";
import type { LeaseTerms, UsageChannel } from "./channel";
import type { Amounts, UserTag } from "./protocol";

interface Line {
  bucket: { tally?: UserTag };
  ch: UsageChannel;
  terms: LeaseTerms;
  need: Amounts;
}

/**
 * One admitted request's hold on its buckets (DESIGN §13, "reserve, then settle"): each attempt's
 * cost is charged against what the request reserved, and what it did not use goes back to its
 * isolate's lease when the request is over. A cost beyond the reservation is charged all the same.
 */
export class Reservation implements Spend {
  private left: number;
  private open = true;

  constructor(
    private readonly lines: readonly Line[],
    reserveUsd: number,
    private readonly flushSoon: (ch: UsageChannel) => void,
  ) {
    this.left = reserveUsd;
  }

  charge(usd: number): void {
    if (!Number.isFinite(usd) || usd <= 0) return;
    const covered = Math.min(this.left, usd);
    this.left -= covered;
    for (const { bucket, ch, terms } of this.lines) {
      if (terms.limits.dailyBudgetUsd !== null) ch.holding.charge(usd, this.open ? covered : 0);
      ch.add(0, usd, Date.now(), bucket.tally);
      this.flushSoon(ch);
    }
  }

  release(): void {
    if (!this.open) return;
    this.open = false;
    for (const { ch, terms } of this.lines) {
      if (terms.limits.dailyBudgetUsd === null) continue;
      ch.holding.unreserve(this.left);
      // A lapsed lease's freed dollars go back to the object with the next call.
      this.flushSoon(ch);
    }
    this.left = 0;
  }
}
