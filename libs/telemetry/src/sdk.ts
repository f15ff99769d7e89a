import type { IncomingMessage } from 'node:http';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';

/** Requests no trace is made for: probes and scrapes, many a minute, that tell nothing about an event. */
const UNTRACED_PATHS = /^\/(health|metrics)(\/|\?|$)/;

/**
 * The OpenTelemetry SDK as Dispatch runs it: traces only (Dispatch's metrics are Prometheus's,
 * its logs go to stdout), exported as the standard `OTEL_*` variables say (endpoint, protocol,
 * headers, sampler, batch delays), with the http (server spans), undici (calls to receivers,
 * with `traceparent`), pg and ioredis instrumentations. Database and Redis spans are made only
 * inside a trace (not for the background polls), a Redis span names its command and no
 * argument, and a pg span the statement's text, never its values. Answers how to stop it.
 */
export function startSdk(serviceName: string | undefined): () => Promise<void> {
  const sdk = new NodeSDK({
    serviceName,
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: [
      new HttpInstrumentation({
        ignoreIncomingRequestHook: (request: IncomingMessage) => UNTRACED_PATHS.test(request.url ?? ''),
        requireParentforOutgoingSpans: true,
      }),
      new UndiciInstrumentation({ requireParentforSpans: true }),
      new PgInstrumentation({ requireParentSpan: true, ignoreConnectSpans: true }),
      new IORedisInstrumentation({ requireParentSpan: true, dbStatementSerializer: (command) => command }),
    ],
  });
  sdk.start();
  return () => sdk.shutdown();
}
