import 'reflect-metadata';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { loadConfig, logLevels } from '@dispatch/config';
import { OrganizationRepository } from '@dispatch/db';
import { AppModule } from './app.module';

async function main(): Promise<void> {
  const config = loadConfig();
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config), {
    logger: logLevels(config.logLevel),
    bufferLogs: true,
  });
  app.enableShutdownHooks();
  app.useBodyParser('json', { limit: '1mb' });

  if (config.bootstrapKey) await app.get(OrganizationRepository).ensureBootstrap(config.bootstrapKey);

  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Dispatch')
      .setDescription('Send events; Dispatch delivers each one to every destination that wants it.')
      .setVersion('0.1.0')
      .addBearerAuth()
      .build(),
  );
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json' });

  const adminDir = config.adminDir ?? path.resolve(__dirname, '..', '..', 'admin', 'dist');
  if (existsSync(adminDir)) app.useStaticAssets(adminDir, { index: 'index.html' });
  else Logger.warn(`No admin app at ${adminDir}; build it with "npm run build"`, 'api');

  await app.listen(config.port, config.host);
  Logger.log(`Dispatch API listening on http://127.0.0.1:${config.port}`, 'api');
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
