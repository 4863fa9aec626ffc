import { MAX_USERS_PER_REPORT, type UserDelta, type UserTag } from "./protocol";

/**
 * A tenant's requests and spend by end user that this isolate has not reported yet, for the
 * tenant's admin view of its top users. A report names at most MAX_USERS_PER_REPORT users: one
 * first seen past that is left out of this report's tally (its own usage object still limits it).
 */
export class PendingUsers {
  private users = new Map<string, UserDelta>();

  add(tag: UserTag, requests: number, spendUsd: number): void {
    const seen = this.users.get(tag.user);
    if (seen) {
      seen.tier = tag.tier;
      seen.requests += requests;
      seen.spendUsd += spendUsd;
    } else if (this.users.size < MAX_USERS_PER_REPORT) {
      this.users.set(tag.user, { user: tag.user, tier: tag.tier, requests, spendUsd });
    }
  }

  /** The minute is over: the requests counted so far belong to the day only. */
  newMinute(): void {
    for (const u of this.users.values()) {
      if (u.requests === 0) continue;
      u.earlierRequests = (u.earlierRequests ?? 0) + u.requests;
      u.requests = 0;
    }
  }

  get size(): number {
    return this.users.size;
  }

  /** What is pending, handed to a report and forgotten here. */
  take(): UserDelta[] {
    const list = [...this.users.values()];
    this.users = new Map();
    return list;
  }
}
