/**
 * One structured JSON line per event. Callers pass names and fingerprints, never secrets: no
 * code path hands this function a key, a token or a request body.
 */
export type Level = "info" | "warn" | "error";

export function log(level: Level, event: string, fields: Record<string, unknown> = {}): void {
  const line = JSON.stringify({ level, event, at: new Date().toISOString(), ...fields });
  if (level === "error") console.error(line);
  else if (level === "warn") console.warn(line);
  else console.log(line);
}
