import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { loadConfig } from '@dispatch/config';
import { logUnhandledRejections } from '@dispatch/domain';
import { createApi } from './app';

async function main(): Promise<void> {
  logUnhandledRejections((message) => Logger.error(message, 'api'));
  const config = loadConfig();
  const app = await createApi(config);
  await app.listen(config.port, config.host);
  Logger.log(`Dispatch API listening on http://127.0.0.1:${config.port}`, 'api');
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
