import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../../app-env";
import { loadSettings } from "../../config/settings";
import { internalError } from "../../core/errors";

/** Loads the validated settings; an invalid environment fails every request, naming the field. */
export function settings(): MiddlewareHandler<AppEnv> {
  return async function settings(c, next) {
    const result = await loadSettings(c.env);
    if (!result.ok) {
      throw internalError(`Invalid gateway configuration: ${result.problem.path}: ${result.problem.message}`, "config_error");
    }
    c.set("settings", result.settings);
    await next();
  };
}
