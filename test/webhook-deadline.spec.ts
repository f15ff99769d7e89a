import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { EgressGuard, webhookKind } from '@dispatch/destinations';
import { generateSigningSecret, retryPolicySchema } from '@dispatch/domain';
import { emptyFileStore, uniqueId } from '@dispatch/testing';
import { LOOPBACK_ALLOWED } from './processes';

/** A receiver that answers 200 at once, then sends its body one byte every 100 ms, forever. */
async function tricklingReceiver(): Promise<{ url: string; close: () => Promise<void> }> {
  const timers = new Set<NodeJS.Timeout>();
  const server: Server = createServer((request, response) => {
    request.resume();
    response.writeHead(200, { 'content-type': 'text/plain' });
    const timer = setInterval(() => response.write('.'), 100);
    timers.add(timer);
    response.on('close', () => clearInterval(timer));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    close: async () => {
      for (const timer of timers) clearInterval(timer);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** DISPATCH_WEBHOOK_TIMEOUT_MS bounds a whole attempt, not only each phase of it. */
describe('a webhook attempt under its deadline', () => {
  let receiver: Awaited<ReturnType<typeof tricklingReceiver>>;

  beforeAll(async () => {
    receiver = await tricklingReceiver();
  });

  afterAll(async () => {
    await receiver.close();
  });

  function attempt(timeoutMs: number, signal: AbortSignal) {
    const sender = webhookKind.createSender({ timeoutMs, replyMaxBytes: 1_000_000, egress: new EgressGuard(LOOPBACK_ALLOWED.split(',')), files: emptyFileStore() });
    const request = {
      destinationId: uniqueId('dst_deadline'),
      organizationId: uniqueId('org_deadline'),
      config: webhookKind.configSchema.parse({ url: receiver.url }),
      secrets: [generateSigningSecret()],
      retryPolicy: retryPolicySchema.parse({}),
      deliveryId: uniqueId('dlv_deadline'),
      attemptNumber: 1,
      event: { id: uniqueId('evt_deadline'), type: 'deadline.test', data: {}, receivedAt: new Date() },
    };
    return sender.send(request, signal).finally(() => sender.close());
  }

  it('ends an answer that keeps trickling in once the timeout is up, as a timeout to retry', async () => {
    // Each byte comes well within the body timeout (600 ms); only the whole attempt's deadline ends it.
    const result = await attempt(600, new AbortController().signal);
    expect(result).toMatchObject({ verdict: 'transient', error: expect.stringMatching(/^timeout/) });
    expect(result.durationMs).toBeGreaterThanOrEqual(550);
    expect(result.durationMs).toBeLessThan(3_000);
  });

  it('ends the attempt at shutdown, long before its timeout', async () => {
    const shutdown = new AbortController();
    setTimeout(() => shutdown.abort(new Error('worker shutting down')), 300);
    const result = await attempt(30_000, shutdown.signal);
    expect(result.verdict).toBe('transient');
    expect(result.durationMs).toBeLessThan(5_000);
  });
});
