import { createServer } from "node:http";
import type { TestProject } from "vitest/node";

declare module "vitest" {
  interface ProvidedContext {
    upstreamPort: number;
  }
}

export default async function setup(project: TestProject) {
  const server = createServer((req, res) => { res.end("fake:" + req.url); });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const addr = server.address();
  if (addr === null || typeof addr === "string") throw new Error("no port");
  project.provide("upstreamPort", addr.port);
  return () => new Promise<void>((r) => server.close(() => r()));
}
