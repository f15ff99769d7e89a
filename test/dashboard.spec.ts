import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { loadConfig } from '@dispatch/config';
import { createWebhook, eventually, sendEvent, TEST_ENCRYPTION_KEY, waitForDelivery } from '@dispatch/testing';
import { Metrics } from '../apps/api/src/operations/metrics';
import { WorkerHttp } from '../apps/worker/src/operations/worker-http';
import { WorkerMetrics } from '../apps/worker/src/operations/worker-metrics';
import { useReceiver, useSystem } from './system';

const ROOT = path.join(__dirname, '..');
const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Words of PromQL that are not metric names where they stand. */
const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'inf', 'nan']);
/** Labels Prometheus adds to every scraped series. */
const TARGET_LABELS = ['instance', 'job'];

/**
 * The metric names a PromQL expression reads, as written (a histogram's `_bucket`, `_sum` and
 * `_count` kept), and the label names it uses (matchers, `by`/`without`/`on`/`ignoring`).
 */
export function promqlNames(expr: string): { metrics: string[]; labels: string[] } {
  const labels = new Set<string>();
  let text = expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""');
  text = text.replace(/\{([^}]*)\}/g, (_whole, inside: string) => {
    for (const [, name] of inside.matchAll(/([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)/g)) labels.add(name);
    return ' ';
  });
  text = text.replace(/\[[^\]]*\]/g, ' ');
  text = text.replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g, (_whole, inside: string) => {
    for (const name of inside.split(',').map((one) => one.trim())) if (name) labels.add(name);
    return ' ';
  });
  text = text.replace(/\boffset\s+-?\w+/g, ' ');
  const metrics = new Set<string>();
  for (const match of text.matchAll(/(?<![\w.:$])[a-zA-Z_:][\w:]*/g)) {
    const after = text.slice(match.index + match[0].length).trimStart();
    if (after.startsWith('(') || KEYWORDS.has(match[0].toLowerCase())) continue;
    metrics.add(match[0]);
  }
  return { metrics: [...metrics], labels: [...labels] };
}

type Family = { type: string; served: Set<string>; labels: Set<string> };

/** The metric families in Prometheus text (`# TYPE` lines), for `process`. */
function families(text: string, process: string, into: Map<string, Family>): void {
  for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const family = into.get(name) ?? { type, served: new Set(), labels: new Set() };
    family.served.add(process);
    into.set(name, family);
  }
}

/** The family a series name belongs to: itself, or a histogram's (or summary's) for its sample suffixes. */
function familyOf(name: string, exported: Map<string, Family>): { family: Family; bucket: boolean } | undefined {
  const itself = exported.get(name);
  if (itself) return { family: itself, bucket: false };
  const match = /^(.*)_(bucket|sum|count)$/.exec(name);
  const base = match && exported.get(match[1]);
  if (!match || !base) return undefined;
  if (base.type === 'histogram') return { family: base, bucket: match[2] === 'bucket' };
  if (base.type === 'summary' && match[2] !== 'bucket') return { family: base, bucket: false };
  return undefined;
}

/** The value of the first sample of `name` whose labels include `labels` in Prometheus text; undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map(([, key, value]) => [key, value]));
    if (Object.entries(labels).every(([key, value]) => found[key] === value)) return Number(match[3]);
  }
  return undefined;
}

/** `${NAME}`, `${NAME:-default}` and `${NAME:?message}` of a compose file, from `env` (then the default). */
function interpolate(value: unknown, env: Record<string, string>): string {
  return String(value).replace(/\$\{(\w+)(?::([-?])([^}]*))?\}/g, (_whole, name: string, how?: string, rest?: string) => {
    if (env[name] !== undefined) return env[name];
    if (how === '-') return rest ?? '';
    throw new Error(`${name} is required by docker-compose.yml: ${rest}`);
  });
}

type Panel = { id: number; type: string; title: string; datasource?: Json; targets?: Json[]; panels?: Panel[]; gridPos: { x: number; y: number; w: number; h: number } };

const compose = parse(read('docker-compose.yml')) as Json;
const dashboard = JSON.parse(read('deploy/grafana/dashboards/dispatch.json')) as Json & { panels: Panel[] };
const panels: Panel[] = dashboard.panels.flatMap((panel) => [panel, ...(panel.panels ?? [])]);
const queries = panels.flatMap((panel) =>
  (panel.targets ?? []).map((target) => ({ panel: panel.title, expr: String(target.expr ?? ''), legend: String(target.legendFormat ?? '') })),
);

/** The host side of a compose service's volume mounted at `target`, as a path in the repository. */
function mounted(service: string, target: string): string {
  const volume = (compose.services[service].volumes as string[]).find((one) => one.split(':')[1] === target);
  if (!volume) throw new Error(`${service} mounts nothing at ${target}`);
  return path.relative(ROOT, path.resolve(ROOT, volume.split(':')[0]));
}

describe('promqlNames', () => {
  it.each([
    ['sum(rate(dispatch_events_accepted_total[$__rate_interval]))', ['dispatch_events_accepted_total'], []],
    [
      'histogram_quantile(0.95, sum by (kind, le) (rate(dispatch_delivery_duration_seconds_bucket{outcome="delivered", kind=~"web.*"}[5m])))',
      ['dispatch_delivery_duration_seconds_bucket'],
      ['outcome', 'kind', 'le'],
    ],
    ['count(max by (destination) (dispatch_circuit_breaker_state) == 2) or vector(0)', ['dispatch_circuit_breaker_state'], ['destination']],
    ['sum(rate(a_total[1m] offset 1h)) / on (job) group_left sum without (instance) (b{c!="or (d)"})', ['a_total', 'b'], ['job', 'instance', 'c']],
    ['1e3 * dispatch_live_sessions', ['dispatch_live_sessions'], []],
  ])('reads %s', (expr, metrics, labels) => {
    const found = promqlNames(expr);
    expect({ metrics: found.metrics, labels: found.labels.sort() }).toEqual({ metrics, labels: labels.sort() });
  });
});

describe('the Prometheus and Grafana of docker-compose.yml and the Dispatch dashboard', () => {
  const system = useSystem();
  const receiver = useReceiver();
  const exported = new Map<string, Family>();
  let workerText = '';
  let failing: string;
  let healthy: string;

  const workerMetrics = async (metricsPath = '/metrics') => (await fetch(`http://127.0.0.1:${system.worker!.get(WorkerHttp).port}${metricsPath}`)).text();

  beforeAll(async () => {
    // Traffic, so that labelled series exist: a delivery answered 200, one answered 500 until it
    // fails (a retry, then a dead letter), and one waiting for a paused destination.
    receiver.answer((request) => ({ status: request.path.startsWith('/fail') ? 500 : 200 }));
    healthy = (await createWebhook(system.client, `${receiver.url}/ok`, { eventTypes: ['nobody.*'] })).id;
    failing = (await createWebhook(system.client, `${receiver.url}/fail`, { eventTypes: ['nobody.*'], retryPolicy: { maxAttempts: 2, schedule: [100], jitter: 0 } })).id;
    const paused = (await createWebhook(system.client, `${receiver.url}/ok`, { eventTypes: ['nobody.*'] })).id;
    expect((await system.client.post(`/v1/destinations/${paused}/pause`, {})).status).toBe(200);
    const delivered = await sendEvent(system.client, { id: 'evt_dash_ok', type: 'dashboard.ok', destinations: [healthy] });
    const failed = await sendEvent(system.client, { id: 'evt_dash_fail', type: 'dashboard.fail', destinations: [failing] });
    await sendEvent(system.client, { id: 'evt_dash_wait', type: 'dashboard.wait', destinations: [paused] });
    await waitForDelivery(system.client, delivered.deliveries[0].id, 'delivered', 15_000);
    await waitForDelivery(system.client, failed.deliveries[0].id, 'failed', 15_000);

    families(await (await fetch(`${system.url}/metrics`)).text(), 'api', exported);
    workerText = await eventually(
      async () => {
        const text = await workerMetrics();
        return sample(text, 'dispatch_events_failed_total', { kind: 'webhook', outcome: 'failed' }) === 1 ? text : undefined;
      },
      10_000,
      'the dead letter counted',
    );
    families(workerText, 'worker', exported);
    // The label names each metric is declared with, from the two processes' registries.
    for (const registry of [system.api.get(Metrics).registry, system.worker!.get(WorkerMetrics).registry]) {
      for (const metric of registry.getMetricsAsArray()) {
        const declared = (metric as unknown as { name: string; labelNames?: readonly string[] }).labelNames ?? [];
        for (const label of declared) exported.get((metric as unknown as { name: string }).name)?.labels.add(label);
      }
    }
  }, 60_000);

  it('reads in every query only metrics the API or the worker exports, with labels they have', () => {
    expect(queries.length).toBeGreaterThan(20);
    const problems: string[] = [];
    for (const { panel, expr, legend } of queries) {
      const { metrics, labels } = promqlNames(expr);
      if (metrics.length === 0) problems.push(`${panel}: reads no metric in ${expr}`);
      const known = new Set(TARGET_LABELS);
      for (const name of metrics) {
        const found = familyOf(name, exported);
        if (!found) {
          problems.push(`${panel}: ${name} is exported by neither the API nor the worker`);
          continue;
        }
        for (const label of found.family.labels) known.add(label);
        if (found.bucket) known.add('le');
      }
      for (const label of labels) if (!known.has(label)) problems.push(`${panel}: label ${label} is on none of ${metrics.join(', ')}`);
      for (const [, label] of legend.matchAll(/\{\{\s*(\w+)\s*\}\}/g))
        if (!known.has(label)) problems.push(`${panel}: legend label ${label} is on none of ${metrics.join(', ')}`);
    }
    expect(problems).toEqual([]);
  });

  it('matches label values the worker exports after deliveries (outcome="delivered")', () => {
    const matchers = queries.flatMap(({ expr }) =>
      [...expr.matchAll(/([a-zA-Z_:][\w:]*)\{([^}]*)\}/g)].flatMap(([, name, inside]) =>
        [...inside.matchAll(/(\w+)="([^"]*)"/g)].map(([, label, value]) => ({ name, label, value })),
      ),
    );
    expect(matchers.length).toBeGreaterThan(0);
    for (const { name, label, value } of matchers)
      expect({ name, label, value, found: sample(workerText, name, { [label]: value }) !== undefined }).toEqual({ name, label, value, found: true });
  });

  it('shows throughput, success rate, latency percentiles, backlog, retries, circuits, rate-limiter rejections, the top failing destinations and live sessions', () => {
    const read = (name: string) => queries.filter(({ expr }) => promqlNames(expr).metrics.includes(name)).map(({ panel }) => panel);
    expect(read('dispatch_events_accepted_total')).toContain('Throughput');
    expect(read('dispatch_events_delivered_total')).toEqual(expect.arrayContaining(['Throughput', 'Success rate']));
    expect(read('dispatch_attempts_total')).toContain('Success rate');
    const latency = queries.filter(({ panel }) => panel === 'Delivery attempt latency').map(({ expr }) => expr);
    for (const quantile of ['0.5', '0.95', '0.99'])
      expect(latency).toContainEqual(expect.stringMatching(new RegExp(`^histogram_quantile\\(${quantile}, .*dispatch_delivery_duration_seconds_bucket`)));
    expect(read('dispatch_deliveries_backlog')).toContain('Backlog by status');
    expect(read('dispatch_events_retrying_total')).toContain('Retries and re-enqueued');
    expect(read('dispatch_circuit_breaker_state')).toEqual(expect.arrayContaining(['Circuit breakers', 'Circuits not closed']));
    expect(read('dispatch_rate_limiter_rejections_total')).toContain('Rate-limiter rejections');
    expect(read('dispatch_destination_consecutive_failures')).toContain('Top failing destinations');
    expect(read('dispatch_live_sessions')).toContain('Live sessions');
    // Panels within the 24 columns, none over another.
    const cells = new Set<string>();
    for (const { gridPos, title } of panels) {
      expect({ title, inside: gridPos.x >= 0 && gridPos.w > 0 && gridPos.x + gridPos.w <= 24 }).toEqual({ title, inside: true });
      for (let x = gridPos.x; x < gridPos.x + gridPos.w; x += 1) {
        for (let y = gridPos.y; y < gridPos.y + gridPos.h; y += 1) {
          expect(cells.has(`${x},${y}`) ? title : undefined).toBeUndefined();
          cells.add(`${x},${y}`);
        }
      }
    }
    expect(new Set(panels.map((panel) => panel.id)).size).toBe(panels.length);
  });

  it('has Prometheus scrape the API and every worker at the port and path they serve with the settings of docker-compose.yml', async () => {
    expect(compose.services.prometheus.image).toMatch(/^prom\/prometheus:v\d+\.\d+\.\d+$/);
    const prometheus = parse(read(mounted('prometheus', '/etc/prometheus/prometheus.yml'))) as Json;
    expect(mounted('prometheus', '/etc/prometheus/prometheus.yml')).toBe('deploy/prometheus/prometheus.yml');
    /** Where the jobs scrape: `host:port path` of each target (static, or a DNS name with its port). */
    const targets = (prometheus.scrape_configs as Json[]).flatMap((job) => {
      const metricsPath = job.metrics_path ?? '/metrics';
      const statics = ((job.static_configs ?? []) as Json[]).flatMap((config) => config.targets as string[]);
      const dns = ((job.dns_sd_configs ?? []) as Json[]).flatMap((config) => (config.names as string[]).map((name) => `${name}:${config.port}`));
      return [...statics, ...dns].map((target) => ({ job: job.job_name as string, target, metricsPath: metricsPath as string }));
    });

    const env = { DISPATCH_BOOTSTRAP_KEY: 'a-compose-admin-key-of-24', DISPATCH_ENCRYPTION_KEY: TEST_ENCRYPTION_KEY };
    for (const service of ['api', 'worker']) {
      const settings = Object.fromEntries(Object.entries(compose.services[service].environment as Json).map(([key, value]) => [key, interpolate(value, env)]));
      const config = loadConfig(settings);
      // Reachable from the Prometheus container, not only from its own.
      expect(['0.0.0.0', '::']).toContain(config.host);
      const port = service === 'api' ? config.port : config.worker.metricsPort;
      const scraped = targets.filter(({ target }) => target === `${service}:${port}`);
      expect(scraped.map(({ job }) => job)).toHaveLength(1);
      // The path is one the process serves metrics at.
      const answer =
        service === 'api'
          ? await fetch(`${system.url}${scraped[0].metricsPath}`)
          : await fetch(`http://127.0.0.1:${system.worker!.get(WorkerHttp).port}${scraped[0].metricsPath}`);
      expect(answer.status).toBe(200);
      expect(answer.headers.get('content-type')).toMatch(/^text\/plain/);
      expect(await answer.text()).toContain(service === 'api' ? '# TYPE dispatch_events_accepted_total counter' : '# TYPE dispatch_attempts_total counter');
    }
    // Every worker replica: found by DNS, not one fixed address.
    expect((prometheus.scrape_configs as Json[]).find((job) => (job.dns_sd_configs ?? []).some((config: Json) => config.names.includes('worker')))).toBeDefined();
    expect(targets).toHaveLength(2);
  });

  it('provisions Grafana with that Prometheus and the dashboard, every panel reading it', () => {
    const grafana = compose.services.grafana as Json;
    expect(grafana.image).toMatch(/^grafana\/grafana:\d+\.\d+\.\d+$/);
    expect(mounted('grafana', '/etc/grafana/provisioning')).toBe('deploy/grafana/provisioning');
    const datasources = parse(read('deploy/grafana/provisioning/datasources/prometheus.yml')) as Json;
    expect(datasources.apiVersion).toBe(1);
    const [datasource] = datasources.datasources as Json[];
    expect(datasource).toMatchObject({ type: 'prometheus', access: 'proxy', isDefault: true });
    // The Prometheus service, at the port its container listens on (Prometheus's 9090).
    const url = new URL(datasource.url);
    expect(url.hostname).toBe('prometheus');
    expect(compose.services.prometheus.ports).toContainEqual(expect.stringMatching(new RegExp(`:${url.port}$`)));

    const providers = parse(read('deploy/grafana/provisioning/dashboards/dispatch.yml')) as Json;
    expect(providers.apiVersion).toBe(1);
    const [provider] = providers.providers as Json[];
    expect(provider).toMatchObject({ type: 'file' });
    const dashboards = mounted('grafana', provider.options.path);
    expect(dashboards).toBe('deploy/grafana/dashboards');
    expect(existsSync(path.join(ROOT, dashboards, 'dispatch.json'))).toBe(true);
    expect(grafana.environment.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH).toBe(`${provider.options.path}/dispatch.json`);

    expect(dashboard).toMatchObject({ uid: 'dispatch', title: 'Dispatch' });
    for (const panel of panels.filter((one) => one.type !== 'row')) {
      expect({ panel: panel.title, uid: panel.datasource?.uid }).toEqual({ panel: panel.title, uid: datasource.uid });
      for (const target of panel.targets ?? []) expect({ panel: panel.title, uid: target.datasource?.uid }).toEqual({ panel: panel.title, uid: datasource.uid });
    }
  });

  it('exports the backlog and the destinations failing most as the database holds them', async () => {
    // Read again at most once a second: the first scrapes may predate the dead letter.
    const text = await eventually(
      async () => {
        const now = await workerMetrics();
        return sample(now, 'dispatch_destination_consecutive_failures', { destination: failing }) === 2 &&
          sample(now, 'dispatch_deliveries_backlog', { status: 'retrying' }) === 0
          ? now
          : undefined;
      },
      15_000,
      'the failing destination and the backlog',
    );
    expect(sample(text, 'dispatch_deliveries_backlog', { status: 'pending' })).toBe(1);
    expect(sample(text, 'dispatch_deliveries_backlog', { status: 'delivering' })).toBe(0);
    expect(text).not.toContain(`destination="${healthy}"`);
  });

  it("lists every metric the API and the worker export in docs/operations.md's metric reference, and only those", () => {
    const section = /\n## Metric reference\n([\s\S]*?)(?=\n## |$)/.exec(read('docs/operations.md'));
    expect(section).not.toBeNull();
    const documented = new Set([...section![1].matchAll(/^\| `(dispatch_\w+)` \|/gm)].map(([, name]) => name));
    // Node.js's own metrics are documented by their prefix.
    const ours = [...exported.keys()].filter((name) => !/^dispatch_(api|worker)_/.test(name));
    expect([...documented].sort()).toEqual(ours.sort());
  });
});
