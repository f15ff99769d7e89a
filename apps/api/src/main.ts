import './tracing';
import 'reflect-metadata';
import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { Logger } from '@nestjs/common';
import { loadConfig } from '@dispatch/config';
import { logUnhandledRejections } from '@dispatch/domain';
import { destinationKinds } from '@dispatch/destinations';
import { adminDirectory, createApi } from './app';
import { apiSummary, apiUrl } from './operations/startup-summary';

async function main(): Promise<void> {
  logUnhandledRejections((message) => Logger.error(message, 'api'));
  const config = loadConfig();
  const app = await createApi(config);
  await app.listen(config.port, config.host);
  const { port } = app.getHttpServer().address() as AddressInfo;
  const summary = { url: apiUrl(config, port), adminApp: existsSync(adminDirectory(config)), kinds: destinationKinds.map((kind) => kind.kind) };
  Logger.log(apiSummary(config.logFormat, summary), 'api');
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
