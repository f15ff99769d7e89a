import { existsSync } from 'node:fs';
import path from 'node:path';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { DispatchConfig, nestLogger } from '@dispatch/config';
import { OrganizationRepository } from '@dispatch/db';
import { REDIS } from '@dispatch/queue';
import { nameServerSpan } from '@dispatch/telemetry';
import { AppModule } from './app.module';
import { ApiKeyAuthenticator } from './auth/api-key-authenticator';
import { authenticateApiRequests } from './auth/access';
import { ensureBootstrapKey } from './auth/bootstrap-key';
import { limitRequestRates } from './http/rate-limit';
import { logRequests } from './http/request-log';
import { acceptJsonBodies } from './http/json-body';
import { acceptFileBodies } from './http/file-body';
import { serverOptions } from './http/server-options';
import { addSecurityHeaders } from './http/security-headers';
import { Metrics } from './operations/metrics';
import { BoardRetries } from './operations/board-retries';
import { boardPageWithoutThirdParties, queuesGate } from './operations/queues-board';
import { LiveHub } from './live/live-hub';

/** Where the built admin app the API serves is: DISPATCH_ADMIN_DIR, else apps/admin/dist. */
export function adminDirectory(config: DispatchConfig): string {
  return config.adminDir ?? path.resolve(__dirname, '..', '..', 'admin', 'dist');
}

/** The API application, ready to listen: routes, OpenAPI, Bull Board and the admin app. */
export async function createApi(config: DispatchConfig): Promise<NestFastifyApplication> {
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config), new FastifyAdapter(serverOptions(config)), {
    logger: nestLogger(config, 'api'),
    bufferLogs: true,
    bodyParser: false, // acceptJsonBodies below is the one body parser
  });
  // On SIGTERM/SIGINT: hooks run (live sessions closed with 1001, connections closed), then exit 0
  // (rather than the signal raised again, which ends the process as killed).
  app.enableShutdownHooks(undefined, { useProcessExit: true });
  const server = app.getHttpAdapter().getInstance();
  acceptJsonBodies(server);
  acceptFileBodies(server);
  // A trace's server span is named after its route (`POST /v1/events`), also when a later hook answers.
  server.addHook('onRequest', (request, _reply, done) => {
    nameServerSpan(request.method, request.routeOptions.url);
    done();
  });
  // First, so that every answer carries them, also one a later hook gives (401, 429).
  await addSecurityHeaders(server);
  // onRequest hooks run in this order: the rate limit first (a flood without a valid key is refused
  // by address), then authentication, before any body is read.
  await limitRequestRates(app, config, app.get(REDIS), app.get(ApiKeyAuthenticator));
  server.addHook('onRequest', queuesGate(app.get(ApiKeyAuthenticator), app.get(BoardRetries)));
  server.addHook('onSend', boardPageWithoutThirdParties);
  server.addHook('onRequest', authenticateApiRequests(app.get(ApiKeyAuthenticator)));
  // Live WebSocket sessions (`/v1/stream`): upgrades are taken before Fastify sees them.
  app.get(LiveHub).attach(server.server);
  logRequests(server);
  const metrics = app.get(Metrics);
  server.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'other';
    metrics.httpRequests.observe({ method: request.method, route, status: String(reply.statusCode) }, reply.elapsedTime / 1000);
  });

  if (config.bootstrapKey) await ensureBootstrapKey(app.get(OrganizationRepository), config.bootstrapKey);

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

  const adminDir = adminDirectory(config);
  if (existsSync(adminDir)) app.useStaticAssets({ root: adminDir, prefix: '/', index: 'index.html' });
  else Logger.warn(`No admin app at ${adminDir}; build it with "npm run build"`, 'api');
  return app;
}
