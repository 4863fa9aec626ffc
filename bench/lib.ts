// Shared by bench/bench.ts and bench/soak.ts: processes (the simulated upstream, `wrangler dev`),
// a precise HTTP client, /proc readings and small statistics. Loopback only.
import { type ChildProcess, spawn } from "node:child_process";
import { cpSync, createWriteStream, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync, type WriteStream } from "node:fs";
import { Agent, request as httpRequest, createServer } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
/** Where bench/run.mjs put the bundles (this file is bundled into them). */
const OUT_DIR = dirname(fileURLToPath(import.meta.url));

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

// ---------------------------------------------------------------------------------------------
// Processes

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
    "--port", String(port), "--ip", "127.0.0.1", "--inspector-port", String(inspector),
    "--persist-to", state, "--show-interactive-dev-session=false",
    ...(o.logLevel ? ["--log-level", o.logLevel] : []),
  ];
  for (const [k, v] of Object.entries(o.vars)) args.push("--var", `${k}:${v}`);
  const child = spawn(process.execPath, args, {
    cwd: app,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false", NO_COLOR: "1", FORCE_COLOR: "0" },
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
export const GATEWAY_FILES = ["wrangler.toml", "package.json", "tsconfig.json", "src"];

export function tempDir(prefix: string): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

// ---------------------------------------------------------------------------------------------
// /proc

function procName(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return null;
  }
}

function parentOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The name is in parentheses and may hold spaces; ppid is the second field after it.
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(rest[1]);
  } catch {
    return null;
  }
}

/** Every descendant of `root`, breadth first. */
export function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    const ppid = parentOf(pid);
    if (ppid === null) continue;
    const list = children.get(ppid) ?? [];
    list.push(pid);
    children.set(ppid, list);
  }
  const out: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift() as number;
    for (const c of children.get(pid) ?? []) {
      out.push(c);
      queue.push(c);
    }
  }
  return out;
}

/** VmRSS and VmHWM (peak RSS) in bytes. */
export function memoryOf(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN) * 1024;
  return { rss: field("VmRSS"), hwm: field("VmHWM") };
}

/** CPU time (user + system) a process has used, in ms (USER_HZ is 100 on Linux). */
export function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(rest[11]) + Number(rest[12])) * 10;
  } catch {
    return NaN;
  }
}

/** Resets VmHWM to the current RSS (Linux: `echo 5 > /proc/<pid>/clear_refs`); false if not allowed. */
export function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// A precise HTTP client (performance.now(), keep-alive), for timings autocannon does not give

export interface Timed {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** ms from sending to the first body byte (to the headers for an empty body). */
  ttfb: number;
  /** ms from sending to the end of the body. */
  ttlb: number;
  bytes: number;
  /** The body, unless `discardBody` (then only its last 64 bytes). */
  body: string;
  /** The body ended in a transport error (reset, cut) rather than cleanly. */
  transportError: string | null;
}

export interface SendOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  agent: Agent;
  discardBody?: boolean;
  /** Client-side bound; the request is destroyed after it. */
  timeoutMs?: number;
}

export function send(url: string, o: SendOptions): Promise<Timed> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    let settled = false;
    const done = (t: Timed) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(t);
    };
    const failed = (err: string, status = 0, partial?: Partial<Timed>) =>
      done({ status, headers: {}, ttfb: NaN, ttlb: performance.now() - t0, bytes: 0, body: "", ...partial, transportError: err });
    const req = httpRequest(url, { method: o.method ?? "GET", headers: o.headers, agent: o.agent }, (res) => {
      const headersAt = performance.now();
      let first = 0;
      let bytes = 0;
      const chunks: Buffer[] = [];
      let tail = "";
      res.on("data", (chunk: Buffer) => {
        if (first === 0) first = performance.now();
        bytes += chunk.length;
        if (o.discardBody) tail = (tail + chunk.toString("latin1")).slice(-64);
        else chunks.push(chunk);
      });
      const result = (transportError: string | null): Timed => ({
        status: res.statusCode ?? 0,
        headers: res.headers,
        ttfb: (first || headersAt) - t0,
        ttlb: performance.now() - t0,
        bytes,
        body: o.discardBody ? tail : Buffer.concat(chunks).toString("utf8"),
        transportError,
      });
      res.on("end", () => done(result(null)));
      res.on("error", (err) => done(result(err.message || "response error")));
      res.on("aborted", () => done(result("aborted")));
    });
    const timer = setTimeout(() => {
      req.destroy(new Error("client timeout"));
      failed(`client timeout after ${o.timeoutMs} ms`);
    }, o.timeoutMs ?? 120_000);
    req.on("error", (err) => failed(err.message || "request error"));
    req.end(o.body);
  });
}

export const keepAlive = (sockets: number) => new Agent({ keepAlive: true, maxSockets: sockets, keepAliveMsecs: 10_000 });

export async function getJson<T>(url: string, token?: string): Promise<T> {
  const res = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  if (!res.ok) throw new Error(`GET ${url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

export async function call(method: string, url: string, body?: unknown, token?: string): Promise<unknown> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (token) headers["authorization"] = `Bearer ${token}`;
  const res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${url}: ${res.status} ${text}`);
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return text;
  }
}

// ---------------------------------------------------------------------------------------------
// Statistics

/** Percentile by linear interpolation between closest ranks; NaN for no samples. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  const a = sorted[lo] as number;
  const b = sorted[hi] as number;
  return a + (b - a) * (rank - lo);
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

export const mean = (values: readonly number[]) => values.reduce((s, v) => s + v, 0) / values.length;

/** Renders rows as a plain-text table (first row is the header). */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  const line = (row: readonly string[]) => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join("  ");
  const [head, ...body] = rows;
  if (!head) return "";
  return [line(head), widths.map((w) => "-".repeat(w)).join("  "), ...body.map(line)].join("\n");
}

/** The same table as GitHub markdown. */
export function markdownTable(rows: readonly (readonly string[])[]): string {
  const [head, ...body] = rows;
  if (!head) return "";
  const esc = (s: string) => s.replaceAll("|", "\\|");
  return [
    `| ${head.map(esc).join(" | ")} |`,
    `| ${head.map((_, i) => (i === 0 ? "---" : "---:")).join(" | ")} |`,
    ...body.map((r) => `| ${r.map(esc).join(" | ")} |`),
  ].join("\n");
}

/**
 * The TCP ports `pid` listens on (from /proc/net/tcp and its socket fds): how the bench finds
 * the Worker's own workerd entry socket behind wrangler's proxy.
 */
export function listeningPorts(pid: number): number[] {
  const inodes = new Set<string>();
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m?.[1]) inodes.add(m[1]);
      } catch {
        // Closed meanwhile.
      }
    }
  } catch {
    return [];
  }
  const ports: number[] = [];
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = "";
    try {
      text = readFileSync(table, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      // local_address is "HEXIP:HEXPORT", st 0A is LISTEN, inode is the 10th column.
      if (cols[3] === "0A" && cols[9] && inodes.has(cols[9])) ports.push(parseInt(cols[1]?.split(":")[1] ?? "0", 16));
    }
  }
  return ports;
}

function proxyWorkerd(wranglerPid: number, proxyPort: number): number | null {
  return (
    descendants(wranglerPid).find((pid) => {
      try {
        return procName(pid) === "workerd" && readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(`entry=127.0.0.1:${proxyPort}`);
      } catch {
        return false;
      }
    }) ?? null
  );
}

/** The workerd process running the Worker itself (not wrangler's proxy, which owns `proxyPort`). */
export function workerWorkerd(wranglerPid: number, proxyPort: number): number | null {
  const candidates = descendants(wranglerPid).filter((pid) => procName(pid) === "workerd");
  const own = candidates.filter((pid) => {
    try {
      return !readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(`entry=127.0.0.1:${proxyPort}`);
    } catch {
      return false;
    }
  });
  return own[0] ?? candidates[0] ?? null;
}
