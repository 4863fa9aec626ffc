// The Worker the tests run: production's, except that its breaker object has a fault switch
// (breaker-faults.ts). Same class names, so wrangler.toml's bindings and migrations apply as they are.
export * from "../../src/index";
export { default } from "../../src/index";
export { FaultyBreakerObject as BreakerObject } from "./breaker-faults";
