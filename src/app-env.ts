import type { Settings } from "./config/settings";
import type { Identity } from "./core/identity";

export interface AppVariables {
  requestId: string;
  settings: Settings;
  tenant: string;
  /** The verified end user (a JWT), or null for a static client key or an anonymous caller. */
  identity: Identity | null;
  rawBody: string;
}

export type AppEnv = { Bindings: Env; Variables: AppVariables };
