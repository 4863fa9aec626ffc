// Cells of the bench's table: fixed decimals so the columns line up, and "n/a" for a number that
// could not be measured.

export const MB = 1024 * 1024;

export const ms = (v: number) => (Number.isFinite(v) ? `${v.toFixed(3)} ms` : "n/a");
export const ms2 = (v: number) => (Number.isFinite(v) ? `${v.toFixed(2)} ms` : "n/a");
const signed = (f: (v: number) => string) => (v: number) => (v >= 0 ? `+${f(v)}` : `−${f(-v)}`);
export const sms = signed(ms);
export const sms2 = signed(ms2);
export const pct = (v: number) => (Number.isFinite(v) ? `${(v * 100).toFixed(1)} %` : "n/a");
export const rps = (v: number) => (Number.isFinite(v) ? `${v.toFixed(0)} req/s` : "n/a");
export const mib = (v: number) => `${(v / MB).toFixed(1)} MiB`;
