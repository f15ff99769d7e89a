// CPU time per process, read from /proc (Linux only; elsewhere `enabled` is false and the
// benchmark leaves its CPU figures out).
//
// A window (begin … end) gives, for each named part, the CPU time (user + system, every thread)
// its processes used inside the window:
// - The processes of a part are given by a function read at every sample, so processes that
//   start during the window are caught (a PostgreSQL backend that connects, for instance); a
//   process first seen after the window began counts from 0, that is with all the CPU it used
//   since it started.
// - Every SAMPLE_MS the sampler reads /proc/<pid>/stat of every process and keeps the last value
//   it saw; a process that has gone counts with that last value (so at most one sampling period
//   of its CPU is lost). A final sample is taken when the window ends.
// - A process is known by its pid and its start time, so a reused pid is never taken for the
//   process that had it before.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';

const CLOCK_TICKS_PER_SECOND = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;

const now = () => performance.timeOrigin + performance.now();

export class CpuSampler {
  /**
   * @param parts      () => Array<{ part: string, pid: number }>, the processes to count now
   * @param refresh    async () => void, called every `refreshEvery` samples and at both ends of a
   *                   window, before sampling (to re-read lists that change, such as backends)
   */
  constructor({ parts, refresh = async () => {}, sampleMs = 100, refreshEvery = 2 }) {
    this.enabled = existsSync('/proc/self/stat');
    this.parts = parts;
    this.refresh = refresh;
    this.sampleMs = sampleMs;
    this.refreshEvery = refreshEvery;
    this.window = null;
  }

  /**
   * Starts a window: re-reads the process lists, reads every process's CPU time, and samples on.
   * With `others`, it also reads every process on the machine at both ends, to name at the end
   * the ones outside the parts that used the most CPU in the window.
   */
  async begin({ others = false } = {}) {
    if (!this.enabled) return null;
    if (this.window) throw new Error('a CPU window is already open');
    await this.refresh();
    const window = {
      startedAt: now(),
      endedAt: 0,
      processes: new Map(),
      machineFirst: readMachine(),
      machineLast: 0,
      everyFirst: others ? readEvery() : null,
      ticks: 0,
      refreshing: null,
      timer: null,
    };
    this.window = window;
    this.sample(window, true);
    window.timer = setInterval(() => this.tick(window), this.sampleMs);
    return window;
  }

  /** Ends the window: a last re-read and sample; CPU ms per part, and the window's wall time. */
  async end(window) {
    if (!window) return null;
    clearInterval(window.timer);
    await window.refreshing;
    await this.refresh();
    this.sample(window, false);
    window.endedAt = now();
    this.window = null;
    const result = totals(window, window.endedAt);
    if (window.everyFirst) result.others = busiestOthers(window, readEvery());
    return result;
  }

  /** Reads every process now and returns the window's totals so far; the window stays open. */
  read(window) {
    if (!window) return null;
    this.sample(window, false);
    return totals(window, now());
  }

  tick(window) {
    window.ticks += 1;
    if (window.ticks % this.refreshEvery === 0 && !window.refreshing) {
      window.refreshing = this.refresh()
        .catch(() => {}) // a failed re-read keeps the previous list; the final one at the window's end throws
        .finally(() => {
          window.refreshing = null;
        });
    }
    this.sample(window, false);
  }

  sample(window, initial) {
    window.machineLast = readMachine();
    for (const { part, pid } of this.parts()) {
      const stat = readStat(pid);
      if (!stat) continue; // gone: its last value stays
      const id = `${pid}:${stat.startTicks}`;
      const known = window.processes.get(id);
      if (known) known.last = stat.cpuMs;
      else window.processes.set(id, { part, first: initial ? stat.cpuMs : 0, last: stat.cpuMs });
    }
  }
}

/**
 * CPU ms per part from the window's start to its last sample, the wall time up to `at`, and the
 * CPU ms the whole machine used meanwhile (every process, the benchmark's and any other).
 */
function totals(window, at) {
  const parts = {};
  for (const { part, first, last } of window.processes.values()) parts[part] = (parts[part] ?? 0) + (last - first);
  return { parts, wallMs: at - window.startedAt, machineMs: window.machineLast - window.machineFirst, processes: window.processes.size };
}

/** Every process on the machine: id (pid and start time) → { name, cpuMs }. */
function readEvery() {
  const every = new Map();
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const stat = readStat(pid);
    if (!stat) continue;
    every.set(`${pid}:${stat.startTicks}`, { pid, cpuMs: stat.cpuMs });
  }
  return every;
}

/** The processes outside the window's parts that used the most CPU in it (at least 1 % of its time), by name. */
function busiestOthers(window, everyLast) {
  const byName = new Map();
  for (const [id, { pid, cpuMs }] of everyLast) {
    if (window.processes.has(id)) continue;
    const used = cpuMs - (window.everyFirst.get(id)?.cpuMs ?? 0);
    if (used <= 0) continue;
    const name = processName(pid);
    byName.set(name, (byName.get(name) ?? 0) + used);
  }
  const floor = (window.endedAt - window.startedAt) / 100;
  return [...byName]
    .filter(([, used]) => used >= floor)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 4)
    .map(([name, cpuMs]) => ({ name, cpuMs }));
}

/** A short name: the command line's start (a PostgreSQL process names its role there), or [comm] for a kernel thread. */
function processName(pid) {
  try {
    const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0+/g, ' ').trim();
    if (command) return command.length > 48 ? `${command.slice(0, 47)}…` : command;
    return `[${readFileSync(`/proc/${pid}/comm`, 'utf8').trim()}]`;
  } catch {
    return `pid ${pid}`;
  }
}

/** CPU ms the machine has been busy since boot, all cores together (/proc/stat: all but idle and iowait). */
function readMachine() {
  let text;
  try {
    text = readFileSync('/proc/stat', 'utf8');
  } catch {
    return 0;
  }
  const [user, nice, system, , , irq, softirq, steal] = text.slice(0, text.indexOf('\n')).trim().split(/\s+/).slice(1).map(Number);
  return ((user + nice + system + irq + softirq + (steal || 0)) * 1000) / CLOCK_TICKS_PER_SECOND;
}

/** User + system CPU ms of a process (all its threads) and its start time in clock ticks; null once it has gone. */
function readStat(pid) {
  let text;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' '); // fields from the 3rd (state) on
  // utime and stime are fields 14 and 15, starttime field 22 (proc(5)).
  return { cpuMs: ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SECOND, startTicks: fields[19] };
}
