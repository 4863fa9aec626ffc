import type { Settings } from "./config/settings";

export interface AppVariables {
  requestId: string;
  settings: Settings;
  tenant: string;
  rawBody: string;
}

export type AppEnv = { Bindings: Env; Variables: AppVariables };
