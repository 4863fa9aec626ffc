import type { Context, Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../app-env";
import type { CircuitDetail } from "../breaker/protocol";
import type { ModelConfig } from "../config/resolve";
import { invalidRequest, methodNotAllowed, notFound } from "../core/errors";
import { log } from "../core/log";
import { simulatedUpstream } from "../fake-upstream/dev";
import { adminAuth } from "../middleware/admin-auth";
import { Circuits } from "./circuits";
import { DASHBOARD_HTML } from "./dashboard";
import { renderMetrics } from "./metrics";
import { mountTenants } from "./tenants";
import { trafficByModel } from "./traffic";

const forceOpenBody = z.strictObject({
  reason: z.string().trim().min(1).max(200).optional(),
  durationMs: z
    .int()
    .min(1)
    .max(7 * 24 * 3600 * 1000)
    .optional(),
});
const resetBody = z.strictObject({ reason: z.string().trim().min(1).max(200).optional() });

function modelOf(c: Context<AppEnv>): ModelConfig {
  const name = c.req.param("model") ?? "";
  const model = c.get("settings").config.models.get(name);
  if (!model) throw notFound(`No configured model is named "${name.slice(0, 128)}".`, "model_not_found", "model");
  return model;
}

async function jsonBody<T>(c: Context<AppEnv>, schema: z.ZodType<T>): Promise<T> {
  const text = await c.req.text();
  if (text.trim() === "") return schema.parse({});
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw invalidRequest("The request body is not valid JSON.", null, "invalid_json");
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const param = issue?.path.join(".") || (issue?.code === "unrecognized_keys" ? (issue.keys[0] ?? null) : null);
    throw invalidRequest(`Invalid value for '${param ?? "body"}': ${issue?.message ?? "invalid"}.`, param);
  }
  return parsed.data;
}

/** The Circuit of DESIGN §5 as the admin API shows it. */
function circuitJson(d: CircuitDetail, transitions: number) {
  const { transitions: all, ...rest } = d;
  return { ...rest, transitions: all.slice(0, transitions) };
}

/** The operator surface (DESIGN §5): circuits, steering, metrics and the dashboard. */
export function mountAdmin(app: Hono<AppEnv>): void {
  app.get("/admin", adminAuth({ page: true }), (c) =>
    c.html(DASHBOARD_HTML, 200, {
      "cache-control": "no-store",
      // Reachable from a link on any site, so never framed by one.
      "content-security-policy":
        "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    }),
  );
  app.use("/admin/*", adminAuth({ page: false }));
  app.get("/admin/circuits", async (c) => {
    const circuits = new Circuits(c.env, c.get("settings"));
    const [details, traffic] = await Promise.all([circuits.all(), circuits.allSeries().then(trafficByModel)]);
    return c.json({ circuits: details.map((d) => ({ ...circuitJson(d, 10), traffic: traffic[d.model] ?? null })) });
  });
  app.get("/admin/circuits/:model", async (c) => {
    const detail = await new Circuits(c.env, c.get("settings")).detail(modelOf(c));
    return c.json(circuitJson(detail, detail.transitions.length));
  });
  app.post("/admin/circuits/:model/reset", async (c) => {
    const model = modelOf(c);
    const { reason } = await jsonBody(c, resetBody);
    const detail = await new Circuits(c.env, c.get("settings")).reset(model, reason ?? "admin");
    log("info", "admin_reset", { model: model.name, requestId: c.get("requestId") });
    return c.json(circuitJson(detail, detail.transitions.length));
  });
  app.post("/admin/circuits/:model/open", async (c) => {
    const model = modelOf(c);
    const { reason, durationMs } = await jsonBody(c, forceOpenBody);
    const detail = await new Circuits(c.env, c.get("settings")).forceOpen(model, reason ?? "admin", durationMs ?? null);
    log("info", "admin_force_open", { model: model.name, durationMs: durationMs ?? null, requestId: c.get("requestId") });
    return c.json(circuitJson(detail, detail.transitions.length));
  });
  mountTenants(app);
  app.all("/admin/circuits/:model/reset", methodNotAllowed("POST"));
  app.all("/admin/circuits/:model/open", methodNotAllowed("POST"));
  app.all("/admin/demo/faults", async (c) => {
    const settings = c.get("settings");
    if (!settings.simulatedUpstream)
      throw notFound("The fault switches exist only while dev mode serves the simulated upstream.");
    if (!["GET", "POST", "DELETE"].includes(c.req.method)) methodNotAllowed("GET, POST, DELETE")();
    const url = new URL("/__fake/faults", c.req.url);
    const body = c.req.method === "POST" ? await c.req.text() : undefined;
    return simulatedUpstream(c.env, settings)(new Request(url, { method: c.req.method, body }));
  });
  app.get("/admin/metrics", async (c) => {
    const circuits = new Circuits(c.env, c.get("settings"));
    const [details, series] = await Promise.all([circuits.all(), circuits.allSeries()]);
    return c.text(renderMetrics(details, series, Date.now()), 200, {
      "content-type": "text/plain; version=0.0.4; charset=utf-8",
    });
  });
}
