import type { DispatchConfig } from '@dispatch/config';
import { workerSummary } from './startup-summary';

const config = (natsUrl?: string) => ({ worker: { concurrency: 10 }, natsIngest: { url: natsUrl } }) as unknown as Pick<DispatchConfig, 'worker' | 'natsIngest'>;

describe('the worker start-up summary', () => {
  it('is one line: attempts at a time, metrics, and NATS ingest off', () => {
    expect(workerSummary('pretty', config(), 9464)).toEqual({
      msg: 'Dispatch worker: delivering, 10 attempts at a time per destination; metrics on http://127.0.0.1:9464/metrics; NATS ingest off',
    });
  });

  it('names the NATS server it takes events from without its credentials, and as JSON carries fields', () => {
    expect(workerSummary('json', config('nats://ingest:s3cret@nats.internal:4222'), 9464)).toEqual({
      msg: 'Dispatch worker: delivering, 10 attempts at a time per destination; metrics on http://127.0.0.1:9464/metrics; NATS ingest from nats://[redacted]@nats.internal:4222',
      concurrency: 10,
      metrics: 'http://127.0.0.1:9464/metrics',
      natsIngest: 'nats://[redacted]@nats.internal:4222',
    });
  });
});
