/**
 * The import rules of the one-way request path: middleware → chat → (tenants, breaker, cache,
 * upstream) → chat, with a neutral vocabulary (src/core) that everyone may use and that uses
 * nothing of ours. `npm run lint` runs these; a forbidden arrow fails CI.
 */
const SERVICES = "breaker|cache|tenants|upstream";

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "no-circular",
      severity: "error",
      comment: "A cycle means data flows both ways between the modules in it.",
      from: { path: "^src/" },
      to: { circular: true },
    },
    {
      name: "core-is-neutral",
      severity: "error",
      comment: "src/core is the shared vocabulary: it imports nothing of ours but config's types.",
      from: { path: "^src/core/" },
      to: { path: "^src/", pathNot: ["^src/core/", "^src/config/"] },
    },
    {
      name: "core-reads-config-types-only",
      severity: "error",
      from: { path: "^src/core/" },
      to: { path: "^src/config/", dependencyTypesNot: ["type-only"] },
    },
    {
      name: "config-is-a-leaf",
      severity: "error",
      comment: "Config is validated once at the edge; it knows nothing of who reads it.",
      from: { path: "^src/config/" },
      to: { path: "^src/", pathNot: ["^src/config/", "^src/core/"] },
    },
    {
      name: "identity-is-a-leaf",
      severity: "error",
      comment:
        "identity/ verifies end users' JWTs for the client-auth middleware: like config it knows nothing of who reads it (its dev routes take the app's types only).",
      from: { path: "^src/identity/" },
      to: { path: "^src/", pathNot: ["^src/identity/", "^src/core/", "^src/config/", "^src/app-env\\.ts$"] },
    },
    {
      name: "identity-is-not-a-service",
      severity: "error",
      comment: "Services learn the end user from the request scope (src/core), never by verifying tokens themselves.",
      from: { path: `^src/(${SERVICES}|chat|admin|metrics)/` },
      to: { path: "^src/identity/" },
    },
    {
      name: "metrics-is-a-leaf",
      severity: "error",
      from: { path: "^src/metrics/" },
      to: { path: "^src/", pathNot: ["^src/metrics/", "^src/core/", "^src/config/"] },
    },
    {
      name: "only-the-app-imports-chat",
      severity: "error",
      comment: "chat/ is the route: the app mounts it and nothing calls back into it.",
      from: { path: "^src/", pathNot: ["^src/chat/", "^src/app\\.ts$"] },
      to: { path: "^src/chat/" },
    },
    {
      name: "services-do-not-know-each-other",
      severity: "error",
      comment: "breaker, cache, tenants and upstream are called by chat; they share only src/core.",
      from: { path: `^src/(${SERVICES})/` },
      to: { path: `^src/(${SERVICES}|chat|admin|middleware|fake-upstream)/`, pathNot: "^src/$1/" },
    },
    {
      name: "middleware-before-services",
      severity: "error",
      comment: "Middleware runs before the route: it reads config, core and identity, never the services.",
      from: { path: "^src/middleware/" },
      to: { path: `^src/(${SERVICES}|chat|admin|fake-upstream)/` },
    },
    {
      name: "src-is-not-test-code",
      severity: "error",
      from: { path: "^src/", pathNot: "\\.test\\.ts$" },
      to: { path: "^(test|bench)/" },
    },
    {
      name: "simulated-upstream-stands-alone",
      severity: "error",
      comment: "The simulated upstream plays HolySheep: it shares no code with the gateway but core.",
      from: { path: "^src/fake-upstream/" },
      to: { path: "^src/", pathNot: ["^src/fake-upstream/", "^src/core/", "^src/config/", "^src/app-env\\.ts$"] },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "\\.test\\.ts$" },
    tsPreCompilationDeps: true,
    // TypeScript 7 has no compiler API for dependency-cruiser to use yet; swc parses the sources.
    parser: "swc",
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { exportsFields: ["exports"], conditionNames: ["import", "require", "node", "default"] },
  },
};
