import { readFileSync } from 'node:fs';
import { Client } from 'pg';
import type { Page } from 'playwright-core';
import { createWebhook, eventually, uniqueId, waitForDelivery } from '@dispatch/testing';
import { signIn, useBrowser } from './browser';
import { useReceiver, useSystem } from './system';

/**
 * The Events page and an event's page (docs/admin.md), in headless Chromium against the real API
 * and worker: search by type, correlation id and id, pages of 25, and the whole story of an event
 * delivered to one receiver and refused by another.
 */
describe('admin app: events and an event’s story in headless Chromium', () => {
  const system = useSystem();
  const receiver = useReceiver();

  const browser = useBrowser();

  function eventsTable(page: Page) {
    return page.getByRole('table', { name: 'Events' });
  }

  async function send(events: Record<string, unknown>[]): Promise<void> {
    const answer = await system.client.post('/v1/events/batch', { events });
    expect(answer.status).toBe(202);
  }

  it('lists events a page at a time, finds them by type, correlation id and id, and says what to do when none match', async () => {
    const type = `${uniqueId('tick')}.made`;
    await send(Array.from({ length: 27 }, (_, index) => ({ type, data: { index }, correlationId: index === 3 ? 'corr-three' : undefined })));

    const page = await signIn(browser, system.url, system.organization.viewerKey);
    await page.getByRole('button', { name: 'Events', exact: true }).click();
    expect(new URL(page.url()).hash).toBe('#/events');
    await page.getByRole('heading', { name: 'Latest events' }).waitFor();

    // By type, keyboard only: the field, Enter.
    await page.getByLabel('Type', { exact: true }).fill(type);
    await page.getByLabel('Type', { exact: true }).press('Enter');
    await page.getByRole('heading', { name: 'Matching events' }).waitFor();
    await eventsTable(page).locator('tbody tr').nth(24).waitFor();
    expect(await eventsTable(page).locator('tbody tr').count()).toBe(25);
    expect(await page.getByRole('button', { name: 'Previous page' }).isDisabled()).toBe(true);
    // Next page: the last 2 (the oldest), and the first of them has the focus.
    await page.getByRole('button', { name: 'Next page' }).click();
    await page.getByText('page 2').waitFor();
    await eventsTable(page).locator('tbody tr').nth(1).waitFor();
    expect(await eventsTable(page).locator('tbody tr').count()).toBe(2);
    expect(await page.evaluate(() => document.activeElement?.closest('table')?.getAttribute('aria-label'))).toBe('Events');
    expect(await page.getByRole('button', { name: 'Next page' }).isDisabled()).toBe(true);
    await page.getByRole('button', { name: 'Previous page' }).click();
    await page.getByText('page 1').waitFor();
    await eventsTable(page).locator('tbody tr').nth(24).waitFor();

    // By correlation id: the one event; its link opens its page.
    await page.getByLabel('Correlation id').fill('corr-three');
    await page.getByRole('button', { name: 'Search' }).click();
    await eventsTable(page).locator('tbody tr').filter({ hasText: 'corr-three' }).waitFor();
    expect(await eventsTable(page).locator('tbody tr').count()).toBe(1);

    // Nothing matches: the page says what to do.
    await page.getByLabel('Type', { exact: true }).fill('no.such.type');
    await page.getByLabel('Correlation id').fill('');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByText('No event matches this search. Widen the time range').waitFor();
    expect(await eventsTable(page).count()).toBe(0);

    // A time range the wrong way round is refused beside its field, without asking the API.
    await page.getByLabel('Since (UTC)').fill('2026-12-01T10:00:00');
    await page.getByLabel('Until (UTC)').fill('2026-12-01T09:00:00');
    await page.getByRole('button', { name: 'Search' }).click();
    const problem = page.getByRole('alert').filter({ hasText: 'Until must be after since.' });
    await problem.waitFor();
    expect(await page.getByLabel('Until (UTC)').getAttribute('aria-describedby')).toBe(await problem.getAttribute('id'));

    // An answer the API refuses is shown above the list it was for.
    await page.getByRole('button', { name: 'Clear' }).click();
    await page.getByLabel('Type', { exact: true }).fill('x'.repeat(256));
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByRole('region', { name: 'Matching events' }).getByRole('alert').filter({ hasText: /type/ }).waitFor();

    // By id: straight to the event's page; an unknown id says so.
    const [listed] = (await system.client.get(`/v1/events?type=${type}&limit=1`)).body.data;
    await page.getByLabel('Event id').fill(listed.id);
    await page.getByLabel('Event id').press('Enter');
    await page.getByRole('heading', { name: type }).waitFor();
    expect(new URL(page.url()).hash).toBe(`#/events/${listed.id}`);
    await page.getByText('No destination wanted this event').waitFor();
    await page.goto(`${system.url}/#/events/evt_${uniqueId('missing')}`);
    await page.getByRole('heading', { name: 'Event not found' }).waitFor();
    await page.close();
  }, 30_000);

  it('shows an event’s payload (its first 64 KiB, then all of it), its trace id, and each destination with what was sent and every attempt', async () => {
    receiver.answer((request) =>
      request.path === '/ledger'
        ? { status: 422, body: '{"error":"amount is required"}', headers: { 'content-type': 'application/json' } }
        : { status: 200, body: 'thanks' },
    );
    const type = `${uniqueId('shop')}.order`;
    const shop = await createWebhook(system.client, `${receiver.url}/shop`, { name: 'shop', eventTypes: [type] });
    const ledger = await createWebhook(system.client, `${receiver.url}/ledger`, { name: 'ledger', eventTypes: [type], retryPolicy: { maxAttempts: 1 } });
    // About 80 KiB of pretty JSON.
    const data = { order: 42, lines: Array.from({ length: 1500 }, (_, index) => `line ${index} ${'x'.repeat(30)}`) };
    const eventId = uniqueId('evt_big');
    await send([{ id: eventId, type, data, correlationId: 'order-42' }]);
    const story = await eventually(
      async () => {
        const found = (await system.client.get(`/v1/events/${eventId}`)).body;
        return found.deliveries?.length === 2 ? found : undefined;
      },
      10_000,
      'two deliveries',
    );
    const deliveries = story.deliveries;
    // As stored (PostgreSQL orders the keys of a JSON object its own way).
    const pretty = JSON.stringify(story.data, null, 2);
    expect(story.data).toEqual(data);
    const byName = (name: string) => deliveries.find((delivery: { destination: { name: string } }) => delivery.destination.name === name);
    await waitForDelivery(system.client, byName('shop').id, 'delivered');
    await waitForDelivery(system.client, byName('ledger').id, 'failed');

    const page = await signIn(browser, system.url, system.organization.viewerKey);
    await page.goto(`${system.url}/#/events/${eventId}`);
    await page.getByRole('heading', { name: type }).waitFor();
    const facts = page.getByRole('region', { name: 'Event', exact: true });
    expect(await facts.textContent()).toContain('order-42');
    // Tracing is off in tests: the page says why there is no trace id.
    expect(await facts.textContent()).toContain('none (tracing was off when the event arrived)');
    expect(await facts.getByRole('button', { name: 'Copy trace id' }).count()).toBe(0);

    // The payload: its first 64 KiB and a note; Show all shows all of it.
    const payload = page.getByRole('region', { name: 'Payload', exact: true });
    const note = payload.getByRole('note');
    expect(await note.textContent()).toMatch(/^Showing the first 64\.0 KiB of \d+\.\d KiB\./);
    const shown = (await payload.getByLabel('Payload', { exact: true }).textContent()) ?? '';
    expect(Buffer.byteLength(shown)).toBe(64 * 1024);
    expect(pretty.startsWith(shown)).toBe(true);
    await payload.getByRole('button', { name: 'Show all' }).click();
    await note.getByText(/^Showing all/).waitFor();
    expect(JSON.parse((await payload.getByLabel('Payload', { exact: true }).textContent()) ?? '')).toEqual(data);
    const download = page.waitForEvent('download');
    await payload.getByRole('button', { name: 'Download payload' }).click();
    expect((await download).suggestedFilename()).toBe(`${eventId}.json`);

    // Each destination: its status, the failure category, every attempt with its answer.
    const shopStory = page.getByRole('article', { name: /^shop/ });
    expect(await shopStory.textContent()).toContain('delivered');
    expect(await shopStory.getByRole('link', { name: 'shop' }).getAttribute('href')).toBe(`#/destinations/${shop.id}`);
    const shopAttempt = await shopStory.getByRole('table', { name: 'Attempts to shop' }).locator('tbody tr').first().getByRole('cell').allTextContents();
    expect(shopAttempt[0]).toBe('1');
    expect(shopAttempt[5]).toBe('200');
    expect(shopAttempt[6]).toBe('thanks');

    const ledgerStory = page.getByRole('article', { name: /^ledger/ });
    expect(await ledgerStory.textContent()).toContain('failed');
    expect(await ledgerStory.textContent()).toContain('Receiver 4xx');
    expect(await ledgerStory.getByRole('link', { name: 'ledger' }).getAttribute('href')).toBe(`#/destinations/${ledger.id}`);
    const ledgerAttempts = ledgerStory.getByRole('table', { name: 'Attempts to ledger' }).locator('tbody tr');
    expect(await ledgerAttempts.count()).toBe(1);
    const ledgerAttempt = await ledgerAttempts.first().getByRole('cell').allTextContents();
    expect(ledgerAttempt[3]).toMatch(/^\d+ ms$/);
    expect(ledgerAttempt[5]).toBe('422');
    expect(ledgerAttempt[6]).toContain('{"error":"amount is required"}');

    // What was sent: the payload as the receiver got it, and where.
    await ledgerStory.getByText('What was sent').click();
    expect(await ledgerStory.locator('.sent').textContent()).toContain(`${receiver.url}/ledger`);
    const sent = (await ledgerStory.getByLabel('Payload sent to ledger', { exact: true }).textContent()) ?? '';
    // The body the receiver got: indented on the page (its first 64 KiB), byte for byte in the download.
    const got = receiver.requestsOf(eventId).find((request) => request.path === '/ledger')?.body ?? '';
    expect(Buffer.byteLength(sent)).toBe(64 * 1024);
    expect(JSON.stringify(JSON.parse(got), null, 2).startsWith(sent)).toBe(true);
    const sentDownload = page.waitForEvent('download');
    await ledgerStory.getByRole('button', { name: 'Download payload sent to ledger' }).click();
    expect(readFileSync(await (await sentDownload).path(), 'utf8')).toBe(got);

    // An event accepted while tracing was on keeps its trace id: shown, and copied by Copy.
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const database = new Client({ connectionString: system.config.databaseUrl });
    await database.connect();
    try {
      await database.query('UPDATE events SET trace_id = $1 WHERE id = $2', [traceId, eventId]);
    } finally {
      await database.end();
    }
    await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: system.url });
    await page.getByRole('button', { name: 'Refresh' }).click();
    await facts.getByText(traceId).waitFor();
    await facts.getByRole('button', { name: 'Copy trace id' }).click();
    await facts.getByRole('status').filter({ hasText: 'Copied' }).waitFor();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(traceId);
    await page.close();
  }, 30_000);
});
