import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

export default defineConfig({
  plugins: [
    cloudflareTest(({ inject }) => ({
      wrangler: { configPath: "./wrangler.toml" },
      // Production's Worker plus the test-only fault switch on its breaker object.
      main: "./test/support/test-worker.ts",
      miniflare: {
        bindings: {
          HOLYSHEEP_BASE_URL: `http://127.0.0.1:${inject("upstreamPort")}/v1`,
          HOLYSHEEP_API_KEY: "sk-test-primary-0000000000000000",
          CLIENT_KEYS: "web:gk-web-1111,ios:gk-ios-2222",
        },
      },
    })),
  ],
  test: {
    name: "workers",
    include: ["test/**/*.test.ts", "src/**/*.test.ts"],
    exclude: ["test/e2e/**", "**/node_modules/**"],
    globalSetup: ["./test/support/global-setup.ts"],
    testTimeout: 20_000,
    // The gateway logs a JSON line per event; show them only for failing tests.
    silent: "passed-only",
  },
});
