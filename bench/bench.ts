// `npm run bench`: the gateway's overhead against a bare passthrough Worker and the upstream
// itself, on loopback. Prints one table and writes bench/results.json. Timings are reported
// against the targets of issue 6, never asserted; the run fails only when the bench itself
// cannot run or answers are wrong.
import { readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { markdownTable, say, table } from "./lib/output";
import { type FakeProcess, ROOT, startFake, startGateway, startWrangler, tempDir, type WranglerProcess } from "./lib/processes";
import { cacheScenario } from "./scenarios/cache";
import { concurrencyScenario } from "./scenarios/concurrency";
import { admin, type Bench, type Column, type ColumnName, chatBody, KEY, problems, type Row, TOKEN } from "./scenarios/context";
import { largeStreamScenario } from "./scenarios/large-stream";
import { load } from "./scenarios/measure";
import { openCircuitScenario } from "./scenarios/open-circuit";
import { sequentialScenario } from "./scenarios/sequential";
import { streamingScenario } from "./scenarios/streaming";

const REPS = 3;

/** The default models (DESIGN §7) plus the bench's own (named with a prefix the fake knows). */
const GATEWAY_CONFIG = {
  models: {
    "gpt-4.1": { fallbacks: ["deepseek-v3.2"], priceUsdPerMTok: 8.0 },
    "claude-sonnet-4.5": { fallbacks: ["gpt-4.1", "deepseek-v3.2"], priceUsdPerMTok: 15.0, breaker: { failureThreshold: 3 } },
    "gemini-2.5-flash": { fallbacks: ["deepseek-v3.2"], priceUsdPerMTok: 2.5 },
    "deepseek-v3.2": { fallbacks: [], priceUsdPerMTok: 0.42 },
    "gpt-4.1-nocache": { fallbacks: [], priceUsdPerMTok: 8.0, cache: { enabled: false } },
    "gpt-4.1-large": { fallbacks: [], priceUsdPerMTok: 8.0 },
    "gpt-4.1-large-control": { fallbacks: [], priceUsdPerMTok: 8.0 },
    "gpt-4.1-open": { fallbacks: [], priceUsdPerMTok: 8.0 },
    "gpt-4.1-cached": { fallbacks: [], priceUsdPerMTok: 8.0 },
  },
  // The defaults (600 a minute per tenant, 120 per anonymous IP) would stop the bench in a
  // second; limits stay on (same code path) but out of reach.
  tenants: { default: { requestsPerMinute: 1_000_000_000 }, ip: { requestsPerMinute: 1_000_000_000 } },
};

async function main(): Promise<void> {
  const t0 = performance.now();
  const quick = process.argv.includes("--quick");
  const reps = quick ? 1 : REPS;
  say("Edge AI gateway bench (issue 6). Loopback only; targets are reported, not asserted.");
  say("The gateway and a bare passthrough Worker (bench/bare-worker.ts) both run under `wrangler dev`,");
  say("which is what `npm run dev` runs, so the two columns share its proxy hop and local Durable");
  say("Object and KV simulation. (Miniflare or workerd could be driven directly instead, which skips");
  say("wrangler's proxy; one row below measures the Workers' own workerd sockets for comparison.)");
  say(
    `The simulated upstream (src/fake-upstream) runs as its own Node process. Machine: ${cpus().length} cores, Node ${process.version}.`,
  );
  say(`Headline numbers are the median of ${reps} repetition(s).`);
  say();

  const tmp = tempDir("gateway-bench-");
  let fake: FakeProcess | null = null;
  let bare: WranglerProcess | null = null;
  let gw: WranglerProcess | null = null;
  const rows: Row[] = [];
  const raw: Record<string, unknown> = {};
  try {
    fake = await startFake();
    const logLevel = "warn" as const;
    [bare, gw] = await Promise.all([
      startWrangler({
        name: "bare",
        config: "bench/wrangler.bare.toml",
        files: ["bench/wrangler.bare.toml", "bench/bare-worker.ts"],
        dir: tmp.dir,
        logLevel,
        vars: { UPSTREAM_URL: `${fake.url}/v1` },
      }),
      startGateway({ dir: tmp.dir, upstream: fake, config: GATEWAY_CONFIG, apiKey: KEY, adminToken: TOKEN, logLevel }),
    ]);
    say(
      `started: upstream ${fake.url}, bare Worker ${bare.url}, gateway ${gw.url} (${((performance.now() - t0) / 1000).toFixed(1)} s)`,
    );
    const columns: Column[] = [
      { name: "upstream direct", api: `${fake.url}/v1` },
      { name: "bare Worker", api: `${bare.url}/v1` },
      { name: "gateway", api: `${gw.url}/v1` },
    ];
    const bench: Bench = {
      reps,
      fake,
      bare,
      gw,
      columns,
      admin: admin(gw),
      rows,
      raw,
      byCol: <T>(f: (c: Column) => T) => Object.fromEntries(columns.map((c) => [c.name, f(c)])) as Record<ColumnName, T>,
    };

    // Warm every path (isolates, connection pools, JIT) before measuring.
    for (const c of columns) {
      await load({
        url: `${c.api}/chat/completions`,
        connections: 1,
        amount: 200,
        body: (i) => chatBody("gpt-4.1", `warm ${i}`),
      });
      await load({
        url: `${c.api}/chat/completions`,
        connections: 10,
        duration: 1,
        body: (i) => chatBody("gpt-4.1", `warm10 ${i}`),
      });
    }

    for (const scenario of [
      sequentialScenario,
      concurrencyScenario,
      streamingScenario,
      largeStreamScenario,
      openCircuitScenario,
      cacheScenario,
    ]) {
      await scenario(bench);
    }

    // The table.
    say("7/7 done.");
    say();
    const header = ["scenario", "metric", "upstream direct", "bare Worker", "gateway", "gateway vs bare", "target", "met"];
    const cells = [header, ...rows.map((r) => [r.scenario, r.metric, r.direct, r.bare, r.gateway, r.vsBare, r.target, r.met])];
    say(table(cells));
    say();
    const missed = rows.filter((r) => r.met === "no");
    say(missed.length === 0 ? "Every target met." : `Targets missed: ${missed.length} (rows marked "no").`);
    const seconds = (performance.now() - t0) / 1000;
    say(`Took ${seconds.toFixed(0)} s. Raw numbers: bench/results.json.`);
    writeResults({ reps, seconds, rows, markdownTable: markdownTable(cells), raw });
  } finally {
    await Promise.all([bare?.stop(), gw?.stop(), fake?.stop()]);
    if (gw && problems.length > 0) say(`gateway log kept in ${gw.logFile}`);
    else tmp.remove();
    reportProblems();
  }
}

function writeResults(r: {
  reps: number;
  seconds: number;
  rows: Row[];
  markdownTable: string;
  raw: Record<string, unknown>;
}): void {
  const wranglerVersion = (
    JSON.parse(readFileSync(join(ROOT, "node_modules", "wrangler", "package.json"), "utf8")) as { version: string }
  ).version;
  writeFileSync(
    join(ROOT, "bench", "results.json"),
    `${JSON.stringify(
      {
        at: new Date().toISOString(),
        machine: { cores: cpus().length, cpu: cpus()[0]?.model ?? "", node: process.version, wrangler: wranglerVersion },
        repetitions: r.reps,
        seconds: r.seconds,
        rows: r.rows,
        markdownTable: r.markdownTable,
        problems,
        raw: r.raw,
      },
      null,
      2,
    )}\n`,
  );
}

function reportProblems(): void {
  if (problems.length > 0) {
    say();
    say(`The bench saw wrong answers (${problems.length}):`);
    for (const p of problems) say(`  ${p}`);
    process.exitCode = 1;
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exitCode = 1;
});
