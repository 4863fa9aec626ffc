import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { browserExample } from "./browser-example";

declare module "vitest" {
  interface ProvidedContext {
    gatewayUrl: string;
    adminToken: string;
    pageOrigin: string;
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

/** A plain page on another origin, for the browser's CORS check; the browser example under /example/. */
async function startPageServer(port: number) {
  const example = await browserExample();
  const server = createServer((req, res) => {
    const file = example.get(new URL(req.url ?? "/", "http://page").pathname);
    if (file) {
      res.writeHead(200, { "content-type": file.type });
      res.end(file.body);
      return;
    }
    res.writeHead(200, { "content-type": "text/html" });
    res.end("<!doctype html><title>app</title><p>app page</p>");
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return server;
}

/**
 * Starts the gateway exactly as a newcomer does (`npm run dev`, i.e. scripts/dev.mjs) on free
 * ports with its own state directory. The HolySheep key is forced empty so the simulated upstream
 * answers even where a developer's .dev.vars holds a real key.
 */
export default async function setup(project: TestProject) {
  const port = await freePort();
  const pagePort = await freePort();
  const pageOrigin = `http://127.0.0.1:${pagePort}`;
  const page = await startPageServer(pagePort);
  const state = mkdtempSync(join(tmpdir(), "gateway-e2e-"));
  const child: ChildProcess = spawn(
    process.execPath,
    [
      "scripts/dev.mjs",
      "--port",
      String(port),
      "--ip",
      "127.0.0.1",
      "--persist-to",
      state,
      "--var",
      "HOLYSHEEP_API_KEY:",
      "--var",
      "HOLYSHEEP_BASE_URL:http://127.0.0.1:9/v1",
      "--var",
      `ALLOWED_ORIGINS:${pageOrigin}`,
      "--var",
      'GATEWAY_CONFIG:{"snapshotTtlMs":200,"breaker":{"failureThreshold":3,"openTimeoutMs":3000}}',
    ],
    { detached: true, stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  const ready = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`npm run dev did not start:\n${output}`)), 45_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const token = /Admin token: (\S+)/.exec(output)?.[1];
      if (token && output.includes("Ready on")) {
        clearTimeout(timer);
        resolve(token);
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.on("exit", (code) => reject(new Error(`npm run dev exited (${code}):\n${output}`)));
  });
  const token = await ready;
  project.provide("gatewayUrl", `http://127.0.0.1:${port}`);
  project.provide("adminToken", token);
  project.provide("pageOrigin", pageOrigin);
  return async () => {
    // The whole process group: npm's script, wrangler and its workerd.
    const group = child.pid;
    if (group) {
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      process.kill(-group, "SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      try {
        process.kill(-group, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
    await new Promise<void>((resolve) => page.close(() => resolve()));
    rmSync(state, { recursive: true, force: true });
  };
}
