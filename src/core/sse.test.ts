import { describe, expect, it } from "vitest";
import { eventData, SseSplitter } from "./sse";

const bytes = (s: string) => new TextEncoder().encode(s);

describe("SseSplitter", () => {
  it("yields whole events however the bytes are cut, multi-byte characters included", () => {
    const stream = 'data: {"a":"héllo 🐑"}\n\n: keep-alive\n\ndata: [DONE]\n\n';
    const all = bytes(stream);
    for (let cut = 1; cut < all.length; cut++) {
      const s = new SseSplitter();
      const events = [...s.push(all.slice(0, cut)), ...s.push(all.slice(cut))];
      expect(events).toEqual(['data: {"a":"héllo 🐑"}\n\n', ": keep-alive\n\n", "data: [DONE]\n\n"]);
      expect(s.pending).toBe("");
    }
  });

  it("treats CRLF and CR line endings as LF", () => {
    const s = new SseSplitter();
    expect(s.push(bytes("data: 1\r\n\r\ndata: 2\r\rdata: 3"))).toEqual(["data: 1\n\n", "data: 2\n\n"]);
    expect(s.pending).toBe("data: 3");
  });
});

describe("eventData", () => {
  it("joins data lines, strips one leading space, and ignores other fields and comments", () => {
    expect(eventData("event: x\ndata: a\ndata:b\nid: 1\n\n")).toBe("a\nb");
    expect(eventData(": comment\n\n")).toBeNull();
  });
});
