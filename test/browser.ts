import { existsSync } from 'node:fs';
import { Browser, chromium, Page } from 'playwright-core';
import { lateBound } from './system';

const CHROMIUM = '/usr/bin/chromium';

/** Debian's headless Chromium, with no traffic of its own (only the pages a test opens). */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: install Debian's "chromium" package (.ci/run does)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** Opens the admin app in a new page and signs in with `key`; resolves once the destinations show. */
export async function signIn(browser: Browser, url: string, key: string): Promise<Page> {
  const page = await browser.newPage();
  page.setDefaultTimeout(10_000);
  await page.goto(`${url}/`);
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Destinations' }).waitFor();
  return page;
}

/** A headless Chromium for the enclosing `describe`: launched in `beforeAll`, closed in `afterAll`. */
export function useBrowser(): Browser {
  let current: Browser | undefined;
  beforeAll(async () => {
    current = await launchChromium();
  });
  afterAll(async () => {
    await current?.close();
    current = undefined;
  });
  return lateBound('browser', () => current);
}
