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
import { existsSync, readFileSync } from 'node:fs';

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

  /** Starts a window: re-reads the process lists, reads every process's CPU time, and samples on. */
  async begin() {
    if (!this.enabled) return null;
    if (this.window) throw new Error('a CPU window is already open');
    await this.refresh();
    const window = { startedAt: now(), endedAt: 0, processes: new Map(), machineFirst: readMachine(), machineLast: 0, ticks: 0, refreshing: null, timer: null };
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
    return totals(window, window.endedAt);
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
