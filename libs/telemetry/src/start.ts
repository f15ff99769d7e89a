import { setTracingOn, tracingOn } from './tracing';

/** Ends tracing: the spans still waiting are sent. Set while tracing runs. */
let stop: (() => Promise<void>) | undefined;

/**
 * Whether the environment asks for traces: `OTEL_EXPORTER_OTLP_ENDPOINT` is set (the one switch:
 * the other `OTEL_*` variables, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` included, only shape what
 * is sent) and the SDK is not disabled (`OTEL_SDK_DISABLED=true`).
 */
export function tracingRequested(env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim()) && env.OTEL_SDK_DISABLED?.trim().toLowerCase() !== 'true';
}

/**
 * Starts OpenTelemetry tracing for this process when the environment asks for it
 * (`tracingRequested`), before anything it instruments (http, undici, pg, ioredis) is loaded:
 * call it first thing in an app's entry point. `serviceName` unless `OTEL_SERVICE_NAME` (or
 * `service.name` in `OTEL_RESOURCE_ATTRIBUTES`) names the service. Otherwise nothing of the SDK
 * is loaded. Answers whether tracing runs.
 */
export function startTracing(serviceName: string, env: NodeJS.ProcessEnv = process.env): boolean {
  if (tracingOn()) return true;
  if (!tracingRequested(env)) return false;
  // Loaded only now: with tracing off the SDK costs nothing, not even its loading.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { startSdk } = require('./sdk') as typeof import('./sdk');
  const named = Boolean(env.OTEL_SERVICE_NAME?.trim()) || /(^|,)\s*service\.name\s*=/.test(env.OTEL_RESOURCE_ATTRIBUTES ?? '');
  stop = startSdk(named ? undefined : serviceName);
  setTracingOn(true);
  return true;
}

/** The longest a stopping process waits for its last spans to be sent. */
const STOP_WAIT_MS = 5_000;

/**
 * Sends the spans still waiting and ends tracing (on shutdown); nothing when tracing is off. It
 * never fails a shutdown: a collector that cannot be reached, or does not answer within 5 s,
 * loses those spans.
 */
export async function stopTracing(): Promise<void> {
  const ending = stop;
  stop = undefined;
  if (!ending) return;
  setTracingOn(false);
  let timer: NodeJS.Timeout | undefined;
  const waited = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, STOP_WAIT_MS);
    timer.unref();
  });
  await Promise.race([ending().catch(() => undefined), waited]);
  clearTimeout(timer);
}
