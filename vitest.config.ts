import { defineConfig } from "vitest/config";

// Two projects: the Worker inside workerd (most tests), and end-to-end tests in Node against a
// real `npm run dev` (the OpenAI SDK over HTTP, promtool, a real browser).
export default defineConfig({
  test: {
    projects: ["./vitest.workers.config.ts", "./vitest.e2e.config.ts"],
    // CI reads its pass/fail counts from the JSON report.
    reporters: process.env.CI ? ["default", ["json", { outputFile: "test-results/vitest.json" }]] : ["default"],
  },
});
