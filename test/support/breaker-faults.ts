// The breaker Durable Object with a fault switch, for tests that need the object itself to fail.
// Production's BreakerObject has no such hook; the test Worker (test-worker.ts) exports this one
// under its name, so the BREAKERS binding serves it.
import { env } from "cloudflare:workers";
import { BreakerObject } from "../../src/breaker/object";
import type { SyncRequest, SyncResponse } from "../../src/breaker/protocol";

/** Makes the next `remaining` syncs fail the way a sick Durable Object would. */
export type ObjectFault = { mode: "throw" | "overloaded"; remaining: number } | null;

export class FaultyBreakerObject extends BreakerObject {
  #fault: ObjectFault = null;

  async injectFault(fault: ObjectFault): Promise<void> {
    this.#fault = fault;
  }

  override async sync(req: SyncRequest): Promise<SyncResponse> {
    this.#checkFault();
    return super.sync(req);
  }

  #checkFault(): void {
    if (!this.#fault || this.#fault.remaining <= 0) return;
    this.#fault.remaining--;
    const err = new Error(this.#fault.mode === "overloaded" ? "Durable Object is overloaded" : "injected failure");
    Object.assign(err, this.#fault.mode === "overloaded" ? { overloaded: true, retryable: false } : { retryable: true });
    throw err;
  }
}

/** Sets the fault of `model`'s breaker object (the binding is typed by production's class). */
export async function injectBreakerFault(model: string, fault: ObjectFault): Promise<void> {
  const breakers = env.BREAKERS as unknown as DurableObjectNamespace<FaultyBreakerObject>;
  await breakers.getByName(model).injectFault(fault);
}
