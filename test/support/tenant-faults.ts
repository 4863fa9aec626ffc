// The tenant usage object with a fault switch, for tests that need the object itself to be
// unreachable. Production's TenantObject has no such hook; the test Worker (test-worker.ts)
// exports this one under its name, so the TENANTS binding serves it.
import { env } from "cloudflare:workers";
import type { Batch } from "../../src/core/sync-channel";
import { TenantObject } from "../../src/tenants/object";
import type { UsageAnswer, UsageDelta } from "../../src/tenants/protocol";

export class FaultyTenantObject extends TenantObject {
  #down = false;
  #calls = 0;

  async setDown(down: boolean): Promise<void> {
    this.#down = down;
  }

  /** Calls from isolates so far (admin reads included). */
  async calls(): Promise<number> {
    return this.#calls;
  }

  override async sync(batches: Batch<UsageDelta>[], lifetime?: unknown, ask?: unknown): Promise<UsageAnswer> {
    this.#calls++;
    if (this.#down) throw Object.assign(new Error("injected failure"), { retryable: true });
    return super.sync(batches, lifetime, ask);
  }
}

const objects = () => env.TENANTS as unknown as DurableObjectNamespace<FaultyTenantObject>;

/** How many calls a bucket's usage object has had. */
export async function tenantObjectCalls(bucket: string): Promise<number> {
  return objects().getByName(bucket).calls();
}

/** Makes a bucket's usage object fail every call (down) or answer again. */
export async function setTenantObjectDown(bucket: string, down: boolean): Promise<void> {
  await objects().getByName(bucket).setDown(down);
}
