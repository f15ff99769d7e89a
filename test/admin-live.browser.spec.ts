import type { Locator, Page } from 'playwright-core';
import { eventually, LiveClient, uniqueId } from '@dispatch/testing';
import { signIn, useBrowser } from './browser';
import { useSystem } from './system';

interface StreamSession {
  id: string;
  subject: string;
  process: string;
  connectedAt: string;
  remoteAddress: string;
}

/**
 * The Live page of the admin app (docs/admin.md): a subject's presence, stream and sessions, in
 * headless Chromium against the real API and worker, with real WebSocket sessions of the subject.
 */
describe('admin app: the Live page of a subject in headless Chromium', () => {
  const system = useSystem();
  const browser = useBrowser();
  const open: LiveClient[] = [];

  afterEach(async () => {
    await Promise.all(open.splice(0).map((client) => client.close()));
  });

  /** Opens a session of `subject` as a device does: a token its producer's backend asked for, then `/v1/stream` (the `ws` package). */
  async function connect(subject: string): Promise<LiveClient> {
    const minted = await system.client.post('/v1/stream-tokens', { subject });
    expect(minted.status).toBe(201);
    const client = await LiveClient.connect(system.url, minted.body.token);
    open.push(client);
    return client;
  }

  /** The sessions of `subject` as the API lists them, once there are `count`. */
  async function sessionsOf(subject: string, count: number): Promise<StreamSession[]> {
    return eventually(
      async () => {
        const answer = await system.client.get(`/v1/stream-sessions?subject=${encodeURIComponent(subject)}`);
        const presence = await system.client.get(`/v1/presence/${encodeURIComponent(subject)}`);
        return answer.body.data.length === count && presence.body.sessions === count ? (answer.body.data as StreamSession[]) : undefined;
      },
      10_000,
      `${count} session(s) of ${subject} in the API`,
    );
  }

  /** A figure of a section of the page, by its label. */
  function fact(page: Page, section: string, label: string): Locator {
    return page
      .getByRole('region', { name: section })
      .locator('.stats > div')
      .filter({ has: page.getByText(label, { exact: true }) })
      .locator('dd');
  }

  function sessionsTable(page: Page): Locator {
    return page.getByRole('table', { name: 'Sessions' });
  }

  it('shows a connected device online with its session; offline after Refresh once it is gone; and a new session on its own every 5 s', async () => {
    const subject = uniqueId('user');
    const device = await connect(subject);
    const [session] = await sessionsOf(subject, 1);

    const page = await signIn(browser, system.url, system.organization.adminKey);
    // The page's timers under the test's hand from the next load on; time flows until paused.
    await page.clock.install();
    // A shared link: the subject is in the address.
    await page.goto(`${system.url}/#/live?subject=${encodeURIComponent(subject)}`);
    await page.reload();
    await page.getByRole('heading', { name: subject }).waitFor();
    expect(await page.getByLabel('Subject', { exact: true }).inputValue()).toBe(subject);

    await fact(page, 'Presence', 'Status').filter({ hasText: 'online' }).waitFor();
    expect(await fact(page, 'Presence', 'Sessions').textContent()).toBe('1');
    const row = sessionsTable(page).getByRole('row').filter({ hasText: session.id });
    await row.waitFor();
    expect(await sessionsTable(page).locator('tbody tr').count()).toBe(1);
    const cells = await row.getByRole('cell').allTextContents();
    expect(cells[0]).toBe(session.id);
    expect(cells[1]).toBe(session.process);
    // Connected: how long ago, then the time itself (UTC).
    expect(cells[2]).toMatch(/^(just now|\d+ s ago)\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);
    expect(cells[2]).toContain(`${session.connectedAt.slice(0, 19).replace('T', ' ')} UTC`);
    expect(cells[3]).toBe(session.remoteAddress);
    expect(session.remoteAddress).toMatch(/127\.0\.0\.1/);
    expect(await fact(page, 'Stream', 'Latest seq').textContent()).toBe('0');
    expect(await fact(page, 'Stream', 'Kept for replay').textContent()).toBe('0 frames');
    expect(await fact(page, 'Stream', 'Oldest kept seq').textContent()).toBe('—');

    // An event pushed to the subject by a websocket destination: read by the device, kept for replay.
    const destination = await system.client.post('/v1/destinations', {
      name: 'devices',
      kind: 'websocket',
      config: { subject: '{data.user_id}' },
      eventTypes: ['live.*'],
    });
    expect(destination.status).toBe(201);
    expect((await system.client.post('/v1/events', { type: 'live.message', data: { user_id: subject } })).status).toBe(202);
    await device.waitForEvents(1, 20_000);
    expect(device.lastSeq).toBe(1);
    await page.getByRole('button', { name: 'Refresh', exact: true }).click();
    await fact(page, 'Stream', 'Latest seq').filter({ hasText: /^1$/ }).waitFor();
    expect(await fact(page, 'Stream', 'Kept for replay').textContent()).toBe('1 frame');
    expect(await fact(page, 'Stream', 'Oldest kept seq').textContent()).toBe('1');

    // Time stops: nothing is read again but on Refresh.
    await page.clock.pauseAt(Date.now() + 1_000);
    await device.close();
    await sessionsOf(subject, 0);
    expect(await fact(page, 'Presence', 'Status').textContent()).toBe('online');
    await page.getByRole('button', { name: 'Refresh', exact: true }).click();
    await fact(page, 'Presence', 'Status').filter({ hasText: 'offline' }).waitFor();
    expect(await fact(page, 'Presence', 'Sessions').textContent()).toBe('0');
    await page.getByText('No device of this subject is connected. A device connects to /v1/stream with a token from POST /v1/stream-tokens.').waitFor();
    expect(await sessionsTable(page).count()).toBe(0);

    // A device connects again: shown once 5 s have passed, with no click.
    await connect(subject);
    const [again] = await sessionsOf(subject, 1);
    expect(again.id).not.toBe(session.id);
    expect(await fact(page, 'Presence', 'Status').textContent()).toBe('offline');
    await page.clock.runFor(5_000);
    await sessionsTable(page).getByRole('row').filter({ hasText: again.id }).waitFor();
    expect(await fact(page, 'Presence', 'Status').textContent()).toBe('online');
    await page.close();
  }, 60_000);

  it('says what is wrong with a subject next to its field without asking the API, and what to do for a subject with no device', async () => {
    const page = await signIn(browser, system.url, system.organization.adminKey);
    const asked: string[] = [];
    page.on('request', (request) => {
      const url = new URL(request.url());
      if (/^\/v1\/(presence|stream-)/.test(url.pathname)) asked.push(`${url.pathname}${url.search}`);
    });
    await page.getByRole('button', { name: 'Live', exact: true }).click();
    await page.getByText('Enter a subject to see whether a device of it is connected, its stream and its live sessions.').waitFor();
    expect(new URL(page.url()).hash).toBe('#/live');

    // Keyboard only: the field, Enter.
    const field = page.getByLabel('Subject', { exact: true });
    await field.fill('{data.user id}');
    await field.press('Enter');
    const problem = page.getByRole('alert').filter({ hasText: 'A subject may not contain "{", a space or "}".' });
    await problem.waitFor();
    expect(await field.getAttribute('aria-invalid')).toBe('true');
    expect(await field.getAttribute('aria-describedby')).toContain(await problem.getAttribute('id'));
    expect(new URL(page.url()).hash).toBe('#/live');

    // Put right as it is typed; then shown, and in the address.
    await field.fill('nobody_here');
    await problem.waitFor({ state: 'detached' });
    expect(await field.getAttribute('aria-invalid')).toBe('false');
    await field.press('Enter');
    await page.getByRole('heading', { name: 'nobody_here' }).waitFor();
    expect(new URL(page.url()).hash).toBe('#/live?subject=nobody_here');
    await fact(page, 'Presence', 'Status').filter({ hasText: 'offline' }).waitFor();
    expect(await fact(page, 'Presence', 'Sessions').textContent()).toBe('0');
    await page.getByText('No device of this subject is connected. A device connects to /v1/stream with a token from POST /v1/stream-tokens.').waitFor();
    await page.getByText('Nothing was pushed to this subject yet.', { exact: false }).waitFor();
    expect(await fact(page, 'Stream', 'Latest seq').textContent()).toBe('0');

    // A link with a subject the API would refuse: said, not asked.
    await page.goto(`${system.url}/#/live?subject=${encodeURIComponent('a'.repeat(201))}`);
    await page.getByRole('alert').filter({ hasText: 'A subject has at most 200 characters; this one has 201.' }).waitFor();
    expect(await page.getByRole('heading', { name: 'nobody_here' }).count()).toBe(0);
    // The API was asked about the good subject only: its presence, stream and sessions.
    expect(asked.length).toBeGreaterThanOrEqual(3);
    expect(asked.filter((path) => !path.includes('nobody_here'))).toEqual([]);
    await page.close();
  }, 60_000);
});
