import { createServer } from 'node:net';
import type { Page } from 'playwright-core';
import type { INestApplicationContext } from '@nestjs/common';
import { createWebhook, eventually, uniqueId } from '@dispatch/testing';
import { createWorker } from '../apps/worker/src/worker';
import { signIn, useBrowser } from './browser';
import { useReceiver, useSystem } from './system';

interface Group {
  category: string;
  count: number;
  bytes: number;
  destinations: { id: string; name: string; count: number }[];
}

/** A loopback port nothing listens on (a connection to it is refused). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * The Dead letters page (docs/admin.md) in headless Chromium against the real API and worker:
 * dead letters of every failure category, made for real (a receiver answering 422 and 503, a
 * refused connection, an address the egress guard refuses, a subject template the event cannot
 * fill), grouped, and one group replayed after its preview.
 */
describe('admin app: dead letters by failure category in headless Chromium', () => {
  const system = useSystem();
  const receiver = useReceiver();
  const browser = useBrowser();

  function row(page: Page, label: string) {
    return page
      .getByRole('table', { name: 'Dead letters by failure category' })
      .getByRole('row')
      .filter({ has: page.getByRole('rowheader', { name: label }) });
  }

  async function cells(page: Page, label: string): Promise<string[]> {
    return row(page, label).getByRole('cell').allTextContents();
  }

  it('groups the dead letters by why they failed, previews a group’s replay (count, bytes, destinations) and runs it', async () => {
    const page = await signIn(browser, system.url, system.organization.adminKey);
    await page.getByRole('button', { name: 'Dead letters', exact: true }).click();
    expect(new URL(page.url()).hash).toBe('#/dead-letters');
    await page.getByText('No dead letters: every delivery was delivered').waitFor();
    expect(await cells(page, 'Receiver 5xx')).toEqual(['0', '0 B', '—', '—', 'Replay…']);
    expect(await row(page, 'Receiver 5xx').getByRole('button').isDisabled()).toBe(true);

    let broken = true;
    receiver.answer((request) =>
      request.path === '/refuse' ? { status: 422, body: 'no such customer' } : request.path.startsWith('/broken') && broken ? { status: 503 } : { status: 200 },
    );
    const once = { retryPolicy: { maxAttempts: 1 } };
    const prefix = uniqueId('dl');
    await createWebhook(system.client, `${receiver.url}/refuse`, { name: 'crm', eventTypes: [`${prefix}.refused`], ...once });
    await createWebhook(system.client, `${receiver.url}/broken/orders`, { name: 'orders', eventTypes: [`${prefix}.broken`], ...once });
    await createWebhook(system.client, `${receiver.url}/broken/audit`, { name: 'audit', eventTypes: [`${prefix}.broken`], ...once });
    await createWebhook(system.client, `http://127.0.0.1:${await closedPort()}/hook`, { name: 'gone-away', eventTypes: [`${prefix}.network`], ...once });
    await createWebhook(system.client, `http://localhost:${new URL(receiver.url).port}/private`, { name: 'private', eventTypes: [`${prefix}.private`], ...once });
    const devices = await system.client.post('/v1/destinations', {
      name: 'devices',
      kind: 'websocket',
      config: { subject: '{data.user_id}' },
      eventTypes: [`${prefix}.device`],
      ...once,
    });
    expect(devices.status).toBe(201);

    const answer = await system.client.post('/v1/events/batch', {
      events: [
        { type: `${prefix}.refused`, data: { customer: 'c-1' } },
        ...[1, 2, 3].map((n) => ({ type: `${prefix}.broken`, data: { order: n } })),
        { type: `${prefix}.network`, data: {} },
        // No user_id: the subject template cannot be filled.
        { type: `${prefix}.device`, data: { message: 'hello' } },
      ],
    });
    expect(answer.status).toBe(202);

    // The egress guard refuses localhost when connecting for a worker that allows only 192.0.2.0/24.
    await eventually(
      async () => ((await system.client.get('/v1/deliveries?status=failed&limit=200')).body.data.length === 9 ? true : undefined),
      20_000,
      'the dead letters of the worker that allows loopback',
    );
    await system.stopWorker();
    let refusing: INestApplicationContext | undefined;
    try {
      refusing = await createWorker({ ...system.config, egressAllow: ['192.0.2.0/24'] });
      expect((await system.client.post('/v1/events', { type: `${prefix}.private`, data: {} })).status).toBe(202);
      await eventually(
        async () => ((await system.client.get('/v1/deliveries?status=failed&limit=200')).body.data.length === 10 ? true : undefined),
        10_000,
        'the dead letter the egress guard refused',
      );
    } finally {
      await refusing?.close();
      await system.startWorker();
    }

    const groups = await eventually(
      async () => {
        const found: Group[] = (await system.client.get('/v1/dead-letters/categories')).body.data;
        const counts = Object.fromEntries(found.map((group) => [group.category, group.count]));
        return counts.receiver_4xx === 1 && counts.receiver_5xx === 6 && counts.timeout_or_network === 1 && counts.egress_refused === 1 && counts.configuration === 1
          ? found
          : undefined;
      },
      20_000,
      'a dead letter in every category (6 of receiver_5xx)',
    );
    const fiveHundreds = groups.find((group) => group.category === 'receiver_5xx')!;

    await page.getByRole('button', { name: 'Refresh' }).click();
    await row(page, 'Receiver 5xx').getByRole('cell').first().filter({ hasText: /^6$/ }).waitFor();
    expect(await page.getByText('No dead letters: every delivery was delivered').count()).toBe(0);
    const shown = await cells(page, 'Receiver 5xx');
    expect(shown[0]).toBe('6');
    expect(shown[1]).toBe(`${fiveHundreds.bytes} B`);
    expect(shown[2]).toMatch(/^(orders \(3\), audit \(3\)|audit \(3\), orders \(3\))$/);
    expect(shown[3]).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC · \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);
    for (const label of ['Receiver 4xx', 'Timeout or network', 'Refused by the egress guard', 'Configuration']) {
      expect((await cells(page, label))[0]).toBe('1');
    }
    expect(await row(page, 'Receiver 4xx').getByRole('rowheader').textContent()).toContain('fix what it says in the response body');

    // The preview: a dry run of this category only; nothing is sent.
    const dryRuns: unknown[] = [];
    page.on('request', (request) => {
      if (request.method() === 'POST' && new URL(request.url()).pathname === '/v1/deliveries/retry') dryRuns.push(request.postDataJSON());
    });
    const requestsBefore = receiver.requests.length;
    // Keyboard: the group's button, Enter.
    await row(page, 'Receiver 5xx').getByRole('button', { name: 'Replay Receiver 5xx…' }).focus();
    await page.keyboard.press('Enter');
    const preview = page.getByRole('group', { name: /^Replay 6 dead letters/ });
    await preview.waitFor();
    expect(await preview.getByRole('paragraph').first().textContent()).toBe(`Replay 6 dead letters (${fiveHundreds.bytes} B) to 2 destinations?`);
    expect((await preview.getByRole('listitem').allTextContents()).sort()).toEqual(['audit: 3', 'orders: 3']);
    expect(dryRuns).toEqual([{ status: 'failed', failureCategory: 'receiver_5xx', dryRun: true }]);
    // Cancel is where the focus went; it sends nothing and gives the focus back.
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Cancel');
    await page.keyboard.press('Enter');
    await preview.waitFor({ state: 'detached' });
    expect(await page.evaluate(() => document.activeElement?.getAttribute('aria-label'))).toBe('Replay Receiver 5xx…');
    expect(receiver.requests.length).toBe(requestsBefore);

    // The receiver is fixed: preview again, then run it; the progress ends with all 6 done.
    broken = false;
    await page.keyboard.press('Enter');
    await preview.waitFor();
    await preview.getByRole('button', { name: 'Replay', exact: true }).click();
    await page
      .getByRole('status')
      .filter({ hasText: /^Replay .+: all 6 done/ })
      .waitFor({ timeout: 20_000 });
    expect(dryRuns.at(-1)).toEqual({ status: 'failed', failureCategory: 'receiver_5xx', dryRun: false });
    await row(page, 'Receiver 5xx').getByRole('cell').first().filter({ hasText: /^0$/ }).waitFor();
    const replayed = receiver.requests.slice(requestsBefore).map((request) => request.path);
    expect(replayed.sort()).toEqual([...Array(3).fill('/broken/audit'), ...Array(3).fill('/broken/orders')]);
    // The other groups are as they were.
    expect((await cells(page, 'Receiver 4xx'))[0]).toBe('1');
    await page.close();

    // A key that may not replay (a viewer) is told so where it asked: in the replay's part of the page.
    const viewer = await signIn(browser, system.url, system.organization.viewerKey);
    await viewer.getByRole('button', { name: 'Dead letters', exact: true }).click();
    await row(viewer, 'Receiver 4xx').getByRole('cell').first().filter({ hasText: /^1$/ }).waitFor();
    await row(viewer, 'Receiver 4xx').getByRole('button').click();
    const part = viewer.getByRole('region', { name: 'Replay: Receiver 4xx' });
    await part.getByRole('alert').filter({ hasText: "This API key's role (viewer) may not do this" }).waitFor();
    expect(await row(viewer, 'Receiver 4xx').getByRole('button').isDisabled()).toBe(false);
    await viewer.close();
  }, 30_000);
});
