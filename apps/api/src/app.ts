import { existsSync } from 'node:fs';
import path from 'node:path';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { DispatchConfig, logLevels } from '@dispatch/config';
import { OrganizationRepository } from '@dispatch/db';
import { AppModule } from './app.module';

/** The API application, ready to listen: routes, OpenAPI, Bull Board and the admin app. */
export async function createApi(config: DispatchConfig): Promise<NestExpressApplication> {
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
  return app;
}
