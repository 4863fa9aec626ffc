// Readings from /proc (Linux): process trees, memory, CPU time and listening sockets, which is how
// the bench tells wrangler's processes apart and measures the one running the Worker.
import { readdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";

function procName(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return null;
  }
}

function parentOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The name is in parentheses and may hold spaces; ppid is the second field after it.
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(rest[1]);
  } catch {
    return null;
  }
}

/** Every descendant of `root`, breadth first. */
function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    const ppid = parentOf(pid);
    if (ppid === null) continue;
    const list = children.get(ppid) ?? [];
    list.push(pid);
    children.set(ppid, list);
  }
  const out: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift() as number;
    for (const c of children.get(pid) ?? []) {
      out.push(c);
      queue.push(c);
    }
  }
  return out;
}

/** VmRSS and VmHWM (peak RSS) in bytes. */
export function memoryOf(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN) * 1024;
  return { rss: field("VmRSS"), hwm: field("VmHWM") };
}

/** CPU time (user + system) a process has used, in ms (USER_HZ is 100 on Linux). */
export function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(rest[11]) + Number(rest[12])) * 10;
  } catch {
    return NaN;
  }
}

/** Resets VmHWM to the current RSS (Linux: `echo 5 > /proc/<pid>/clear_refs`); false if not allowed. */
export function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}

/**
 * The TCP ports `pid` listens on (from /proc/net/tcp and its socket fds): how the bench finds
 * the Worker's own workerd entry socket behind wrangler's proxy.
 */
export function listeningPorts(pid: number): number[] {
  const inodes = new Set<string>();
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m?.[1]) inodes.add(m[1]);
      } catch {
        // Closed meanwhile.
      }
    }
  } catch {
    return [];
  }
  const ports: number[] = [];
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = "";
    try {
      text = readFileSync(table, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      // local_address is "HEXIP:HEXPORT", st 0A is LISTEN, inode is the 10th column.
      if (cols[3] === "0A" && cols[9] && inodes.has(cols[9])) ports.push(parseInt(cols[1]?.split(":")[1] ?? "0", 16));
    }
  }
  return ports;
}

export function proxyWorkerd(wranglerPid: number, proxyPort: number): number | null {
  return (
    descendants(wranglerPid).find((pid) => {
      try {
        return (
          procName(pid) === "workerd" && readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(`entry=127.0.0.1:${proxyPort}`)
        );
      } catch {
        return false;
      }
    }) ?? null
  );
}

/** The workerd process running the Worker itself (not wrangler's proxy, which owns `proxyPort`). */
export function workerWorkerd(wranglerPid: number, proxyPort: number): number | null {
  const candidates = descendants(wranglerPid).filter((pid) => procName(pid) === "workerd");
  const own = candidates.filter((pid) => {
    try {
      return !readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(`entry=127.0.0.1:${proxyPort}`);
    } catch {
      return false;
    }
  });
  return own[0] ?? candidates[0] ?? null;
}
