// `npm run dev`: wrangler dev in DEV_MODE. Without an ADMIN_TOKEN in .dev.vars it generates one
// and prints it, so the dashboard works on a fresh clone. Extra arguments go to wrangler.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";

function devVars() {
  if (!existsSync(".dev.vars")) return {};
  const vars = {};
  for (const line of readFileSync(".dev.vars", "utf8").split(/\r?\n/)) {
    const m = /^\s*([A-Z0-9_]+)\s*=\s*"?(.*?)"?\s*$/.exec(line);
    if (m && !line.trimStart().startsWith("#")) vars[m[1]] = m[2];
  }
  return vars;
}

const vars = devVars();
const args = ["dev", "--var", "DEV_MODE:true", ...process.argv.slice(2)];
let token = vars.ADMIN_TOKEN;
if (!token) {
  token = randomBytes(18).toString("base64url");
  args.push("--var", `ADMIN_TOKEN:${token}`);
}
const portArg = process.argv.indexOf("--port");
const port = portArg > 0 ? process.argv[portArg + 1] : "8787";
const upstream = vars.HOLYSHEEP_API_KEY
  ? "HolySheep (key from .dev.vars)"
  : "the simulated upstream (no HOLYSHEEP_API_KEY in .dev.vars)";
console.log(`
  Edge AI gateway, dev mode
  API:        http://localhost:${port}/v1   (answers from ${upstream})
  Dashboard:  http://localhost:${port}/admin
  Admin token: ${token}
  User token: curl 'http://localhost:${port}/__dev/token?tenant=demo&sub=alice'  (tenant demo takes JWTs)
  Browser example: node examples/browser/serve.mjs, with --var ALLOWED_ORIGINS:http://localhost:5173 here
`);
const child = spawn("wrangler", args, {
  stdio: "inherit",
  env: { CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false", ...process.env },
});
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => child.kill(signal));
child.on("exit", (code) => process.exit(code ?? 0));
