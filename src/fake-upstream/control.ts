// The `/__fake/*` switchboard: fault switches, what the fake saw, and a stand-in alert receiver.
import type { Hono } from "hono";
import { z } from "zod";
import { FaultRequestSchema, type FaultStore } from "./faults";
import type { FakeStats } from "./stats";
import { openAiError, type Parsed, parseJson } from "./wire";

const WEBHOOK_LIMIT = 1000;

async function setFaults(faults: FaultStore, req: Request): Promise<Response> {
  const parsed = parseJson(await req.text());
  const result = FaultRequestSchema.safeParse(parsed.ok ? parsed.value : undefined);
  if (!result.success) {
    const message = parsed.ok ? z.prettifyError(result.error) : "The body is not JSON.";
    return openAiError(400, { message, type: "invalid_request_error", code: null });
  }
  for (const f of result.data) await faults.set(f);
  return Response.json({ faults: await faults.list() });
}

export function mountControls(app: Hono, faults: FaultStore, stats: FakeStats): void {
  app.get("/__fake/faults", async () => Response.json({ faults: await faults.list() }));
  app.post("/__fake/faults", (c) => setFaults(faults, c.req.raw));
  app.delete("/__fake/faults", async () => {
    await faults.clear();
    return Response.json({ faults: [] });
  });

  app.get("/__fake/stats", () => Response.json(stats.snapshot()));
  app.delete("/__fake/stats", () => {
    stats.clear();
    return Response.json(stats.snapshot());
  });

  // Tests count the alerts a circuit sends here.
  const webhook: Parsed[] = [];
  app.post("/__fake/webhook", async (c) => {
    webhook.push(parseJson(await c.req.raw.text()));
    if (webhook.length > WEBHOOK_LIMIT) webhook.shift();
    return Response.json({ ok: true });
  });
  app.get("/__fake/webhook", () => Response.json({ received: webhook.map((p) => (p.ok ? p.value : null)) }));
  app.delete("/__fake/webhook", () => {
    webhook.length = 0;
    return Response.json({ received: [] });
  });
}
