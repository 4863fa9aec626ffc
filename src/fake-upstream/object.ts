// Dev mode keeps the fake's fault switches in one Durable Object, so a fault set from the
// dashboard is seen by every isolate serving the gateway.
import { DurableObject } from "cloudflare:workers";
import { z } from "zod";
import { type Fault, FaultSchema, type FaultStore, takeFrom } from "./faults";

const STORAGE_KEY = "faults";
const StoredFaults = z.array(FaultSchema);

export class FakeUpstreamObject extends DurableObject<Env> {
  // The synchronous KV API of SQLite-backed storage makes each read-modify-write below atomic:
  // no await separates the read from the write, so concurrent takes cannot both consume one `times`.
  #load(): Fault[] {
    return StoredFaults.parse(this.ctx.storage.kv.get(STORAGE_KEY) ?? []);
  }

  #save(faults: Fault[]): void {
    this.ctx.storage.kv.put(STORAGE_KEY, faults);
  }

  list(): Fault[] {
    return this.#load();
  }

  set(fault: Fault): void {
    // RPC callers are not type-checked at runtime; keep garbage out of storage.
    this.#save([...this.#load(), FaultSchema.parse(fault)]);
  }

  clear(): void {
    this.ctx.storage.kv.delete(STORAGE_KEY);
  }

  take(model: string, key: string | null): Fault | null {
    const { taken, remaining } = takeFrom(this.#load(), model, key);
    if (taken?.times !== undefined) this.#save(remaining);
    return taken;
  }
}

/**
 * A FaultStore over RPC to the one FakeUpstreamObject. It takes a stub factory, not a stub: a
 * stub made while serving one request cannot be used while serving another.
 */
export class DurableFaultStore implements FaultStore {
  readonly #stubOf: () => DurableObjectStub<FakeUpstreamObject>;

  constructor(stubOf: () => DurableObjectStub<FakeUpstreamObject>) {
    this.#stubOf = stubOf;
  }

  get #stub(): DurableObjectStub<FakeUpstreamObject> {
    return this.#stubOf();
  }

  async list(): Promise<Fault[]> {
    return await this.#stub.list();
  }

  async set(f: Fault): Promise<void> {
    await this.#stub.set(f);
  }

  async clear(): Promise<void> {
    await this.#stub.clear();
  }

  async take(model: string, key: string | null): Promise<Fault | null> {
    return await this.#stub.take(model, key);
  }
}
