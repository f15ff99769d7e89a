import type { BrowserContext, Page } from 'playwright-core';
import { createWebhook, sendEvent, waitForDelivery } from '@dispatch/testing';
import { useBrowser } from './browser';
import { useReceiver, useSystem } from './system';

const OPERATOR_KEY = 'operator-key-for-browser-csp-tests';

/** What went wrong on a page: policy violations it reported, console errors, uncaught errors, requests that left this server. */
type Trouble = { violations: string[]; consoleErrors: string[]; pageErrors: string[]; elsewhere: string[] };

/**
 * A page that records every Content-Security-Policy violation (the `securitypolicyviolation`
 * event, and Chromium's console message for it), every console error and uncaught error. A
 * request to anywhere but the system is recorded and never sent.
 */
async function watchedPage(context: BrowserContext, origin: string): Promise<{ page: Page; trouble: Trouble }> {
  const trouble: Trouble = { violations: [], consoleErrors: [], pageErrors: [], elsewhere: [] };
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(`${origin}/`) || url.startsWith('data:')) return route.continue();
    trouble.elsewhere.push(url);
    return route.abort();
  });
  await context.exposeFunction('reportViolation', (violation: string) => trouble.violations.push(violation));
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (event) => {
      const report = (window as unknown as { reportViolation: (violation: string) => void }).reportViolation;
      void report(`${event.violatedDirective} blocked ${event.blockedURI || 'inline'} (${event.sourceFile}:${event.lineNumber})`);
    });
  });
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  page.on('console', (message) => {
    if (message.type() === 'error') trouble.consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => trouble.pageErrors.push(error.message));
  return { page, trouble };
}

const NO_TROUBLE: Trouble = { violations: [], consoleErrors: [], pageErrors: [], elsewhere: [] };

describe('the pages work under their Content-Security-Policy, in headless Chromium', () => {
  const system = useSystem({ env: { DISPATCH_BOOTSTRAP_KEY: OPERATOR_KEY } });
  const receiver = useReceiver();
  const browser = useBrowser();

  it("the admin app: signs in, lists destinations, shows a destination's page with its chart, the alerts and the audit log, with no violation", async () => {
    const destination = await createWebhook(system.client, `${receiver.url}/hook`, { name: 'csp-admin-app' });
    const sent = await sendEvent(system.client, { type: 'csp.checked', destinations: [destination.id] });
    await waitForDelivery(system.client, sent.deliveries[0].id, 'delivered');
    const context = await browser.newContext();
    try {
      const { page, trouble } = await watchedPage(context, system.url);
      await page.goto(`${system.url}/`);
      await page.getByLabel('API key').fill(system.organization.adminKey);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('heading', { name: 'Destinations' }).waitFor();
      await page.getByRole('table', { name: 'Destinations' }).getByRole('row').filter({ hasText: destination.name }).waitFor();
      // The chart library is a chunk of its own, loaded here, and draws under the same policy.
      await page.getByRole('link', { name: destination.name }).click();
      await page.locator('.recharts-bar-rectangle').first().waitFor();
      await page.getByRole('button', { name: 'Alerts' }).click();
      await page.getByRole('form', { name: 'Alert settings' }).waitFor();
      await page.getByRole('button', { name: 'Audit log' }).click();
      await page.getByText('destination.create').first().waitFor();
      expect(trouble).toEqual(NO_TROUBLE);
    } finally {
      await context.close();
    }
  }, 60_000);

  it("Bull Board, signed in with the operator's key: lists the queues with no violation and nothing loaded from elsewhere", async () => {
    const destination = await createWebhook(system.client, `${receiver.url}/hook`, { name: 'csp-board' });
    const context = await browser.newContext({ httpCredentials: { username: 'operator', password: OPERATOR_KEY } });
    try {
      const { page, trouble } = await watchedPage(context, system.url);
      await page.goto(`${system.url}/queues`);
      await page.getByText(`csp-board (${destination.id})`).first().waitFor();
      await page.getByText('maintenance (reconciler)').first().waitFor();
      await page.getByText(`csp-board (${destination.id})`).first().click();
      await page.waitForURL(/\/queues\/queue\//);
      expect(trouble).toEqual(NO_TROUBLE);
    } finally {
      await context.close();
    }
  }, 60_000);

  it('the OpenAPI UI: renders the operations with no violation', async () => {
    const context = await browser.newContext();
    try {
      const { page, trouble } = await watchedPage(context, system.url);
      await page.goto(`${system.url}/docs`);
      await page
        .getByRole('heading', { name: /Dispatch/ })
        .first()
        .waitFor();
      await page.getByText('/v1/events', { exact: true }).first().waitFor();
      expect(trouble).toEqual(NO_TROUBLE);
    } finally {
      await context.close();
    }
  }, 60_000);
});
