import type { TestProject } from "vitest/node";
import { startFakeUpstream } from "../../src/fake-upstream/node";
import { startJwksServer } from "./jwks-server";

declare module "vitest" {
  interface ProvidedContext {
    upstreamPort: number;
    jwksPort: number;
  }
}

export default async function setup(project: TestProject) {
  const upstream = await startFakeUpstream();
  const jwks = await startJwksServer();
  project.provide("upstreamPort", upstream.port);
  project.provide("jwksPort", jwks.port);
  return async () => {
    await upstream.close();
    await jwks.close();
  };
}
