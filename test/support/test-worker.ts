// The Worker the tests run: production's, except that its breaker and tenant usage objects have
// fault switches (breaker-faults.ts, tenant-faults.ts). Same class names, so wrangler.toml's bindings and migrations apply as they are.
export * from "../../src/index";
export { default } from "../../src/index";
export { FaultyBreakerObject as BreakerObject } from "./breaker-faults";
export { FaultyTenantObject as TenantObject } from "./tenant-faults";
