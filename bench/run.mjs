// `npm run bench` / `npm run soak`: bundles bench/<name>.ts (and the fake upstream's Node entry)
// with esbuild, since Node cannot import the project's extensionless TypeScript imports, then
// runs it. Arguments after the name go to the script.

import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "node_modules", ".cache", "gateway-bench");
const [name, ...args] = process.argv.slice(2);
if (!["bench", "soak"].includes(name ?? "")) {
  console.error("usage: node bench/run.mjs bench|soak [args]");
  process.exit(2);
}
await build({
  absWorkingDir: root,
  entryPoints: [`bench/${name}.ts`, "bench/fake-main.ts"],
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node22",
  outdir: out,
  outExtension: { ".js": ".mjs" },
  // Dependencies stay imports, resolved from node_modules at run time.
  packages: "external",
  sourcemap: "inline",
  logLevel: "warning",
});
// A child process, so its exit code and signals are its own.
const child = spawn(process.execPath, ["--enable-source-maps", join(out, `${name}.mjs`), ...args], {
  cwd: root,
  stdio: "inherit",
});
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => child.kill(signal));
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
