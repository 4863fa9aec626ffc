/**
 * Splits a byte stream into whole SSE events without touching their content, so events can be
 * forwarded as they complete. Line endings are normalised to `\n`, which SSE treats as equal.
 */
export class SseSplitter {
  private buffer = "";
  private readonly decoder = new TextDecoder();

  push(chunk: Uint8Array): string[] {
    this.buffer += this.decoder.decode(chunk, { stream: true });
    if (this.buffer.includes("\r")) this.buffer = this.buffer.replace(/\r\n?/g, "\n");
    const events: string[] = [];
    let end = this.buffer.indexOf("\n\n");
    while (end >= 0) {
      events.push(this.buffer.slice(0, end + 2));
      this.buffer = this.buffer.slice(end + 2);
      end = this.buffer.indexOf("\n\n");
    }
    return events;
  }

  /** Bytes of an event that never completed (the stream ended mid-event). */
  get pending(): string {
    return this.buffer;
  }
}

/** The event's `data` field (lines joined by `\n`), or null for comments and data-less events. */
export function eventData(event: string): string | null {
  let data: string | null = null;
  for (const line of event.split("\n")) {
    if (!line.startsWith("data:")) continue;
    const value = line.charCodeAt(5) === 32 ? line.slice(6) : line.slice(5);
    data = data === null ? value : `${data}\n${value}`;
  }
  return data;
}

const encoder = new TextEncoder();

export function sseEvent(payload: unknown): Uint8Array {
  return encoder.encode(`data: ${JSON.stringify(payload)}\n\n`);
}

export const SSE_DONE = "data: [DONE]\n\n";
