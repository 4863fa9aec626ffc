import { describe, expect, it } from "vitest";
import { clientIp, UNKNOWN_IP } from "./ip";

describe("clientIp: what a per-IP limit counts", () => {
  it.each([
    ["203.0.113.7", "203.0.113.7"],
    [" 203.0.113.7 ", "203.0.113.7"],
    ["010.000.000.001", "10.0.0.1"],
    ["0.0.0.0", "0.0.0.0"],
    ["255.255.255.255", "255.255.255.255"],
  ])("an IPv4 address counts as itself: %s", (raw, want) => {
    expect(clientIp(raw)).toBe(want);
  });

  it.each([
    ["2001:db8:abcd:12::1", "2001:db8:abcd:12::/64"],
    ["2001:0DB8:ABCD:0012:ffff:0:0:2", "2001:db8:abcd:12::/64"],
    ["2001:db8:abcd:12:1:2:3:4", "2001:db8:abcd:12::/64"],
    ["2001:db8::", "2001:db8:0:0::/64"],
    ["2001:db8::1:2:3:4:5", "2001:db8:0:1::/64"],
    ["::1", "0:0:0:0::/64"],
    ["::", "0:0:0:0::/64"],
    ["1:2:3:4:5:6:7::", "1:2:3:4::/64"],
    ["::2:3:4:5:6:7:8", "0:2:3:4::/64"],
    ["64:ff9b::192.0.2.1", "64:ff9b:0:0::/64"],
  ])("an IPv6 address counts by its /64: %s", (raw, want) => {
    expect(clientIp(raw)).toBe(want);
  });

  it("addresses in one /64 share a bucket; the next /64 does not", () => {
    expect(clientIp("2001:db8:1:2::1")).toBe(clientIp("2001:db8:1:2:ffff:ffff:ffff:ffff"));
    expect(clientIp("2001:db8:1:2::1")).not.toBe(clientIp("2001:db8:1:3::1"));
  });

  it.each([
    ["::ffff:192.0.2.1", "192.0.2.1"],
    ["::ffff:c000:201", "192.0.2.1"],
    ["0:0:0:0:0:ffff:192.0.2.1", "192.0.2.1"],
  ])("an IPv4-mapped IPv6 address counts as its IPv4 address: %s", (raw, want) => {
    expect(clientIp(raw)).toBe(want);
  });

  it.each([
    [null],
    [""],
    ["   "],
    ["unknown"],
    ["256.1.1.1"],
    ["1.2.3"],
    ["1.2.3.4.5"],
    ["1.2.3.-4"],
    ["1.2.3.4a"],
    ["2001:db8:::1"],
    ["2001::db8::1"],
    ["1:2:3:4:5:6:7:8:9"],
    ["1:2:3:4:5:6:7"],
    ["1:2:3:4:5:6:7::8"],
    ["12345::1"],
    ["g::1"],
    ["1.2.3.4::"],
    ["::1.2.3.4:5"],
    ["[2001:db8::1]"],
    ["fe80::1%eth0"],
    ["203.0.113.7, 198.51.100.1"],
    ["a".repeat(100)],
  ])("anything else is the one unknown bucket: %j", (raw) => {
    expect(clientIp(raw)).toBe(UNKNOWN_IP);
  });
});
