import type { DispatchConfig } from '@dispatch/config';
import { startupLine, withoutUrlCredentials } from '@dispatch/config';

/** What the worker logs once it runs: its attempts at a time per destination, where its metrics are, and whether it takes events from NATS. */
export function workerSummary(format: DispatchConfig['logFormat'], config: Pick<DispatchConfig, 'worker' | 'natsIngest'>, metricsPort: number): Record<string, unknown> {
  const metrics = `http://127.0.0.1:${metricsPort}/metrics`;
  const nats = config.natsIngest.url === undefined ? null : withoutUrlCredentials(config.natsIngest.url);
  const line = `Dispatch worker: delivering, ${config.worker.concurrency} attempts at a time per destination; metrics on ${metrics}; NATS ingest ${nats === null ? 'off' : `from ${nats}`}`;
  return startupLine(format, [line], { concurrency: config.worker.concurrency, metrics, natsIngest: nats });
}
