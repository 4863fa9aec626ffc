// `npm run soak [-- --short]`: a bounded load against the gateway under `wrangler dev` while the
// simulated upstream flaps between healthy, 5xx, hangs, 429s and cut streams. Checks the
// invariants of issue 6 at the end and exits non-zero on any violation. Loopback only; the load
// stops by itself (request count and time are both capped).
import { say } from "./lib/output";
import { type FakeProcess, startFake, startGateway, tempDir, type WranglerProcess } from "./lib/processes";
import { sleep } from "./lib/sleep";
import { CONCURRENCY, GATEWAY_CONFIG, HALF_OPEN_MAX, KEY, PLAN, short, TIMEOUTS, TOKEN } from "./soak/config";
import { checkAnswers, checkHalfOpen, checkLog, checkTransitions } from "./soak/invariants";
import { runLoad } from "./soak/load";
import { printReport, readMetrics } from "./soak/report";
import { startSchedule } from "./soak/schedule";
import { watchCircuits } from "./soak/watch";

async function main(): Promise<number> {
  const t0 = performance.now();
  say(
    `Soak${short ? " (--short)" : ""}: up to ${PLAN.requests} requests in at most ${PLAN.seconds} s, ${CONCURRENCY} at a time, against the gateway`,
  );
  say("under `wrangler dev` (what `npm run dev` runs) while the simulated upstream flaps. Loopback only.");
  say(`Timeouts ${JSON.stringify(TIMEOUTS)}, breaker openTimeoutMs 1000, halfOpenMaxCalls ${HALF_OPEN_MAX}, snapshotTtlMs 250.`);
  const tmp = tempDir("gateway-soak-");
  let fake: FakeProcess | null = null;
  let gw: WranglerProcess | null = null;
  const violations: string[] = [];
  // Ends the schedule and the watcher, however the run ends.
  const running = new AbortController();
  try {
    fake = await startFake();
    gw = await startGateway({ dir: tmp.dir, upstream: fake, config: GATEWAY_CONFIG, apiKey: KEY, adminToken: TOKEN });
    const gwUrl = gw.url;
    const fakeUrl = fake.url;
    say(`started: upstream ${fakeUrl}, gateway ${gwUrl} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);

    const endAt = performance.now() + PLAN.seconds * 1000;
    const schedule = startSchedule(fakeUrl, gw.logFile, running.signal);
    const flapper = schedule.done.catch((err: unknown) => {
      running.abort();
      violations.push(`the upstream's faults could not be switched: ${err instanceof Error ? err.message : String(err)}`);
    });
    const watch = watchCircuits(gwUrl, fakeUrl, running.signal);
    const outcomes = await runLoad(gwUrl, endAt, t0);
    const loadSeconds = (performance.now() - t0) / 1000;
    running.abort();
    await Promise.all([flapper, watch.done]);
    // Let the last reports reach the circuits before reading the metrics.
    await sleep(1000);
    const metrics = readMetrics(
      await (await fetch(`${gwUrl}/admin/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text(),
    );

    say();
    say(
      `${outcomes.length} requests answered in ${loadSeconds.toFixed(0)} s (${watch.seen.polls} circuit polls, ${watch.seen.pollErrors} failed).`,
    );
    checkAnswers(outcomes, violations);
    checkHalfOpen(watch.seen, violations);
    await gw.stop();
    const events = checkLog(gw.logFile, schedule.phaseStarts, violations);
    printReport(outcomes, metrics, schedule.phaseCounts, events);
    checkTransitions(metrics.transitionsTotal, violations);
  } catch (err) {
    violations.push(`the soak could not run: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    running.abort();
    await Promise.all([gw?.stop(), fake?.stop()]);
    if (violations.length > 0 && gw) say(`gateway log kept in ${gw.logFile}`);
    else tmp.remove();
  }
  say();
  if (violations.length === 0) {
    say(`Soak over in ${((performance.now() - t0) / 1000).toFixed(0)} s: every invariant held.`);
    return 0;
  }
  say(`Invariants violated (${violations.length}):`);
  for (const v of violations) say(`  - ${v}`);
  say(`Soak over in ${((performance.now() - t0) / 1000).toFixed(0)} s: ${violations.length} invariant(s) broken, see above.`);
  return 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  },
);
