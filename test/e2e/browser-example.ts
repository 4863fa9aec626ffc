import { readFileSync } from "node:fs";
import { build } from "esbuild";

/**
 * examples/browser as `node examples/browser/serve.mjs` serves it, under `/example/`: the page and
 * its esbuild bundle (the OpenAI SDK included). Served from a real loopback server, because
 * Chromium lets only a page from a local address call the gateway on 127.0.0.1.
 */
export async function browserExample(): Promise<Map<string, { type: string; body: string }>> {
  const bundled = await build({
    entryPoints: ["examples/browser/app.js"],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    write: false,
  });
  return new Map([
    ["/example/", { type: "text/html", body: readFileSync("examples/browser/index.html", "utf8") }],
    ["/example/app.bundle.js", { type: "text/javascript", body: bundled.outputFiles[0]?.text ?? "" }],
  ]);
}
