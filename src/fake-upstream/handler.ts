// The simulated HolySheep upstream (DESIGN.md section 8). Web-standard APIs only, so the same
// handler runs mounted in the Worker (dev mode) and behind the Node adapter (tests, benches).
import { Hono } from "hono";
import { chat } from "./chat";
import { mountControls } from "./control";
import type { FaultStore } from "./faults";
import { FakeStats } from "./stats";
import { bearerKey, MISSING_KEY, notAllowed, openAiError, unknownPath } from "./wire";

export interface FakeUpstreamOptions {
  models: string[];
  faults: FaultStore;
  /** Pass one in to read it directly; otherwise the handler keeps its own. */
  stats?: FakeStats;
}

export type FetchHandler = (req: Request) => Promise<Response>;

const ROUTES = ["/chat/completions", "/models", "/__fake/faults", "/__fake/stats", "/__fake/webhook"];

/**
 * Routes by the path's end, so any base URL serves (`/v1`, `/openai/v1`, none for dev mode's
 * `/__fake/...`), and trailing slashes do not count. Any other path routes as itself, to a 404.
 */
function routePath(req: Request): string {
  const path = new URL(req.url).pathname.replace(/\/+$/, "");
  return ROUTES.find((route) => path.endsWith(route)) ?? path;
}

function listModels(models: ReadonlySet<string>, req: Request): Response {
  if (bearerKey(req) === null) return openAiError(401, MISSING_KEY);
  const data = [...models].map((id) => ({ id, object: "model", created: 1735689600, owned_by: "holysheep" }));
  return Response.json({ object: "list", data });
}

export function createFakeUpstream(opts: FakeUpstreamOptions): FetchHandler {
  const { faults } = opts;
  const stats = opts.stats ?? new FakeStats();
  const models = new Set(opts.models);
  const app = new Hono({ getPath: routePath });
  // Hono would answer HEAD with the GET route; no route of the upstream allows HEAD.
  app.use(async (c, next) => {
    if (c.req.method === "HEAD") return ROUTES.includes(c.req.path) ? notAllowed() : unknownPath(c.req.path);
    await next();
  });
  app.post("/chat/completions", (c) => chat({ models, faults, stats }, c.req.raw));
  app.get("/models", (c) => listModels(models, c.req.raw));
  mountControls(app, faults, stats);
  for (const route of ROUTES) app.all(route, notAllowed);
  app.notFound((c) => unknownPath(c.req.path));
  // A request that fails (its client gone during `hang`) rejects like a dropped connection, not a 500.
  app.onError((err) => {
    throw err;
  });
  return async (req) => app.fetch(req);
}
