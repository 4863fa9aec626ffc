// Serves the browser example: `node examples/browser/serve.mjs [port]` (default 5173), with the
// gateway started as `npm run dev -- --var ALLOWED_ORIGINS:http://localhost:5173` so that it
// answers this page's origin. Then open http://localhost:5173/.
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const port = Number(process.argv[2] ?? 5173);

const bundled = await build({
  entryPoints: [join(here, "app.js")],
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  write: false,
});
const files = {
  "/": { type: "text/html", body: readFileSync(join(here, "index.html")) },
  "/app.bundle.js": { type: "text/javascript", body: bundled.outputFiles[0].contents },
};

createServer((req, res) => {
  const path = new URL(req.url ?? "/", "http://localhost").pathname;
  const file = files[path === "/index.html" ? "/" : path];
  if (!file) {
    res.writeHead(404).end("not found");
    return;
  }
  res.writeHead(200, { "content-type": file.type }).end(file.body);
}).listen(port, "localhost", () => {
  console.log(`Browser example on http://localhost:${port}/ (gateway: http://localhost:8787; ?gateway=<url> to change)`);
});
