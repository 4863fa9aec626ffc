// The simulated upstream (src/fake-upstream) as a plain Node process for the bench and the soak,
// so the load generator and the upstream do not share an event loop. Prints one JSON line with
// its port; exits on SIGTERM/SIGINT or when its parent closes stdin (so it never outlives it).
import { startFakeUpstream } from "../src/fake-upstream/node";

const port = Number(process.argv[2] ?? "0");
const server = await startFakeUpstream({ port, host: "127.0.0.1" });
process.stdout.write(`${JSON.stringify({ port: server.port })}\n`);

let closing = false;
const stop = (): void => {
  if (closing) return;
  closing = true;
  void server.close().finally(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
process.stdin.on("end", stop);
process.stdin.on("error", stop);
process.stdin.resume();
