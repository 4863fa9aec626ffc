/** Every caller whose address is absent or unreadable shares this one bucket. */
export const UNKNOWN_IP = "unknown";

/** Longer than any address written out (an IPv6 with an IPv4 tail is 45 characters). */
const MAX_LENGTH = 64;
const HEXTET = /^[0-9a-f]{1,4}$/;
const OCTET = /^\d{1,3}$/;

function ipv4(text: string): number[] | null {
  const parts = text.split(".");
  if (parts.length !== 4 || !parts.every((p) => OCTET.test(p))) return null;
  const octets = parts.map(Number);
  return octets.every((o) => o <= 255) ? octets : null;
}

/** The 16-bit groups of one side of `::`; an IPv4 tail (`::ffff:192.0.2.1`) is two groups. */
function groups(text: string, tailMayBeIpv4: boolean): number[] | null {
  if (text === "") return [];
  const pieces = text.split(":");
  const out: number[] = [];
  for (const [i, piece] of pieces.entries()) {
    const v4 = tailMayBeIpv4 && i === pieces.length - 1 && piece.includes(".") ? ipv4(piece) : null;
    if (v4) {
      const [a = 0, b = 0, c = 0, d = 0] = v4;
      out.push((a << 8) | b, (c << 8) | d);
    } else if (HEXTET.test(piece)) out.push(Number.parseInt(piece, 16));
    else return null;
  }
  return out;
}

/** The eight groups of an IPv6 address, `::` expanded; null when it is not one. */
function ipv6(text: string): number[] | null {
  const halves = text.split("::");
  if (halves.length === 1) {
    const all = groups(text, true);
    return all?.length === 8 ? all : null;
  }
  if (halves.length !== 2) return null;
  const head = groups(halves[0] ?? "", false);
  const tail = groups(halves[1] ?? "", true);
  if (!head || !tail || head.length + tail.length > 7) return null;
  return [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
}

/** `::ffff:a.b.c.d`: an IPv4 caller seen through an IPv6 socket. */
function mappedIpv4(g: number[]): string | null {
  const [hi = 0, lo = 0] = g.slice(6);
  const mapped = g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff;
  return mapped ? [hi >> 8, hi & 255, lo >> 8, lo & 255].join(".") : null;
}

/**
 * The client IP as a per-IP limit counts it (DESIGN §13): an IPv4 address as it is; an IPv6
 * address by its /64 (one subscriber usually holds a whole /64, so counting each address would
 * hand one caller 2^64 allowances), as `2001:db8:0:1::/64`; an IPv4-mapped IPv6 address as the
 * IPv4 address it is. Anything else, or nothing, is UNKNOWN_IP.
 */
export function clientIp(raw: string | null): string {
  const text = raw?.trim().toLowerCase() ?? "";
  if (text.length === 0 || text.length > MAX_LENGTH) return UNKNOWN_IP;
  const v4 = ipv4(text);
  if (v4) return v4.join(".");
  const g = ipv6(text);
  if (!g) return UNKNOWN_IP;
  const prefix = g.slice(0, 4).map((x) => x.toString(16));
  return mappedIpv4(g) ?? `${prefix.join(":")}::/64`;
}
