import type { Hono } from "hono";
import type { AppEnv } from "../app-env";
import type { Settings } from "../config/settings";
import { notFound } from "../core/errors";
import { createFakeUpstream, type FetchHandler } from "./handler";
import { DurableFaultStore } from "./object";

let memo: { models: string; handler: FetchHandler } | null = null;

/** Dev mode without a HolySheep key: the simulated upstream answers in-process (DESIGN §8, §9). */
export function simulatedUpstream(env: Env, settings: Settings): FetchHandler {
  const models = [...settings.config.models.keys()];
  if (memo?.models !== models.join(",")) {
    const faults = new DurableFaultStore(() => env.FAKE_UPSTREAM.getByName("faults"));
    memo = { models: models.join(","), handler: createFakeUpstream({ models, faults }) };
  }
  return memo.handler;
}

/** `/__fake/*` exists only while the simulated upstream serves; otherwise it is an unknown route. */
export function mountSimulatedUpstream(app: Hono<AppEnv>): void {
  app.all("/__fake/*", (c) => {
    const settings = c.get("settings");
    if (!settings.simulatedUpstream) throw notFound(`Unknown route: ${c.req.method} ${new URL(c.req.url).pathname}`);
    return simulatedUpstream(c.env, settings)(c.req.raw);
  });
}
