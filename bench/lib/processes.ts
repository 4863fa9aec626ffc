// The processes the bench and the soak run: the simulated upstream and `wrangler dev`, each in its
// own process group so that stopping it stops everything it started. Loopback only.
import { type ChildProcess, spawn } from "node:child_process";
import { cpSync, createWriteStream, mkdtempSync, rmSync, symlinkSync, type WriteStream } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { listeningPorts, proxyWorkerd, workerWorkerd } from "./proc";
import { sleep } from "./sleep";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
/** Where bench/run.mjs put the bundles (this file is bundled into them). */
const OUT_DIR = dirname(fileURLToPath(import.meta.url));

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

/** Kills a detached child's whole process group (wrangler, its Node child and workerd). */
async function killGroup(child: ChildProcess): Promise<void> {
  const group = child.pid;
  if (group === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  try {
    process.kill(-group, "SIGTERM");
  } catch {
    return;
  }
  await Promise.race([exited, sleep(5000)]);
  try {
    process.kill(-group, "SIGKILL");
  } catch {
    // Already gone.
  }
}

const started = new Set<ChildProcess>();
let exitHooked = false;
/** Last resort: nothing this script started outlives it, even on an exception or Ctrl-C. */
function track(child: ChildProcess): void {
  started.add(child);
  child.once("exit", () => started.delete(child));
  if (exitHooked) return;
  exitHooked = true;
  const killAll = () => {
    for (const c of started) {
      try {
        if (c.pid !== undefined) process.kill(-c.pid, "SIGKILL");
      } catch {
        // Gone.
      }
    }
  };
  process.on("exit", killAll);
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, () => {
      killAll();
      process.exit(130);
    });
  }
}

export interface FakeProcess {
  /** Origin, e.g. http://127.0.0.1:1234 (the API is under /v1). */
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/** The simulated upstream (src/fake-upstream, via its Node adapter) as its own Node process. */
export async function startFake(): Promise<FakeProcess> {
  const child = spawn(process.execPath, [join(OUT_DIR, "fake-main.mjs"), "0"], {
    detached: true,
    stdio: ["pipe", "pipe", "inherit"],
  });
  track(child);
  let out = "";
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`fake upstream did not start: ${out}`)), 10_000);
    child.stdout?.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split("\n")[0];
      if (out.includes("\n") && line) {
        clearTimeout(timer);
        resolve((JSON.parse(line) as { port: number }).port);
      }
    });
    child.once("exit", (code) => reject(new Error(`fake upstream exited (${code}): ${out}`)));
  });
  return { url: `http://127.0.0.1:${port}`, pid: child.pid ?? 0, stop: () => killGroup(child) };
}

export interface WranglerProcess {
  url: string;
  /** wrangler's own pid (the process group leader). */
  pid: number;
  /** wrangler's DevTools port (its inspector proxy to the Worker). */
  inspectorPort: number;
  /** Everything wrangler and the Worker printed, kept in a file (logs can be long). */
  logFile: string;
  /** The workerd process running the Worker (wrangler runs a second one for its proxy). */
  workerdPid(): number | null;
  /** wrangler's proxy workerd, which owns the public port and forwards to the Worker's. */
  proxyPid(): number | null;
  /** The Worker's own workerd entry socket, behind wrangler's proxy (null if not found). */
  directUrl(probePath: string, expect: string): Promise<string | null>;
  stop(): Promise<void>;
}

export interface WranglerOptions {
  /** A label for messages and the log file name. */
  name: string;
  /** wrangler config, relative to the project root; its wrangler.toml when absent. */
  config?: string;
  /**
   * Files and folders (relative to the project root) copied into a snapshot that wrangler runs
   * from. wrangler dev rebuilds and restarts the Worker whenever a source file changes, which
   * would drop requests in flight if someone edits the tree during a run; the snapshot freezes it.
   */
  files: string[];
  vars: Record<string, string>;
  /** wrangler's --log-level. */
  logLevel?: "debug" | "info" | "log" | "warn" | "error" | "none";
  /** The directory for logs and state (removed by the caller). */
  dir: string;
}

/**
 * `wrangler dev` on a free loopback port with its own state directory (--persist-to), the way
 * test/e2e/global-setup.ts starts `npm run dev`, stopped by killing its whole process group.
 */
export async function startWrangler(o: WranglerOptions): Promise<WranglerProcess> {
  const port = await freePort();
  const inspector = await freePort();
  const state = join(o.dir, `${o.name}-state`);
  const logFile = join(o.dir, `${o.name}.log`);
  const app = join(o.dir, `${o.name}-app`);
  for (const f of o.files) cpSync(join(ROOT, f), join(app, f), { recursive: true });
  symlinkSync(join(ROOT, "node_modules"), join(app, "node_modules"), "dir");
  const args = [
    join(ROOT, "node_modules", "wrangler", "bin", "wrangler.js"),
    "dev",
    ...(o.config ? ["--config", o.config] : []),
    "--port",
    String(port),
    "--ip",
    "127.0.0.1",
    "--inspector-port",
    String(inspector),
    "--persist-to",
    state,
    "--show-interactive-dev-session=false",
    ...(o.logLevel ? ["--log-level", o.logLevel] : []),
  ];
  for (const [k, v] of Object.entries(o.vars)) args.push("--var", `${k}:${v}`);
  const child = spawn(process.execPath, args, {
    cwd: app,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      CLOUDFLARE_CF_FETCH_ENABLED: "false",
      WRANGLER_SEND_METRICS: "false",
      NO_COLOR: "1",
      FORCE_COLOR: "0",
    },
  });
  track(child);
  const log: WriteStream = createWriteStream(logFile);
  let head = "";
  const onData = (chunk: Buffer) => {
    log.write(chunk);
    if (head.length < 20_000) head += chunk.toString();
  };
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);
  const url = `http://127.0.0.1:${port}`;
  let exited = false;
  child.once("exit", () => (exited = true));
  // Ready when the Worker answers (with --log-level warn wrangler prints no "Ready on" line).
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited || Date.now() > deadline) {
      await killGroup(child);
      throw new Error(`wrangler dev (${o.name}) ${exited ? "exited" : "did not start in 60 s"}:\n${head}`);
    }
    try {
      const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      break;
    } catch {
      await sleep(200);
    }
  }
  return {
    url,
    pid: child.pid ?? 0,
    inspectorPort: inspector,
    logFile,
    workerdPid: () => workerWorkerd(child.pid ?? 0, port),
    proxyPid: () => proxyWorkerd(child.pid ?? 0, port),
    directUrl: async (probePath, expect) => {
      const pid = workerWorkerd(child.pid ?? 0, port);
      if (pid === null) return null;
      for (const p of listeningPorts(pid)) {
        try {
          const res = await fetch(`http://127.0.0.1:${p}${probePath}`, { signal: AbortSignal.timeout(2000) });
          if (res.ok && (await res.text()).includes(expect)) return `http://127.0.0.1:${p}`;
        } catch {
          // Not an HTTP socket of the Worker (the inspector, a loopback service).
        }
      }
      return null;
    },
    stop: async () => {
      await killGroup(child);
      await new Promise<void>((resolve) => log.end(() => resolve()));
    },
  };
}

/** What `wrangler dev` needs of the project to build the gateway (copied into a snapshot). */
const GATEWAY_FILES = ["wrangler.toml", "package.json", "tsconfig.json", "src"];

export interface GatewayOptions {
  dir: string;
  upstream: FakeProcess;
  config: unknown;
  apiKey: string;
  adminToken: string;
  logLevel?: WranglerOptions["logLevel"];
}

/** The gateway under `wrangler dev`, anonymous callers allowed, pointed at the fake upstream. */
export function startGateway(o: GatewayOptions): Promise<WranglerProcess> {
  return startWrangler({
    name: "gateway",
    files: GATEWAY_FILES,
    dir: o.dir,
    logLevel: o.logLevel,
    vars: {
      HOLYSHEEP_BASE_URL: `${o.upstream.url}/v1`,
      HOLYSHEEP_API_KEY: o.apiKey,
      ALLOW_ANONYMOUS: "true",
      ADMIN_TOKEN: o.adminToken,
      GATEWAY_CONFIG: JSON.stringify(o.config),
      // Whatever a developer's .dev.vars says, not these.
      DEV_MODE: "",
      CLIENT_KEYS: "",
      ALERT_WEBHOOK_URL: "",
    },
  });
}

export function tempDir(prefix: string): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
