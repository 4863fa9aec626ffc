import type { TestProject } from "vitest/node";
import { startFakeUpstream } from "../../src/fake-upstream/node";

declare module "vitest" {
  interface ProvidedContext {
    upstreamPort: number;
  }
}

export default async function setup(project: TestProject) {
  const upstream = await startFakeUpstream();
  project.provide("upstreamPort", upstream.port);
  return () => upstream.close();
}
