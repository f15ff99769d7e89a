// Imported first by main.ts: tracing (when OTEL_EXPORTER_OTLP_ENDPOINT is set) must start before
// the modules it instruments (http, pg, ioredis, undici) are loaded.
import { addLogFields } from '@dispatch/config';
import { logCorrelation, startTracing } from '@dispatch/telemetry';

// Lines logged inside a span carry its traceId and spanId.
if (startTracing('dispatch-worker')) addLogFields(logCorrelation);
