import { context, isSpanContextValid, trace } from '@opentelemetry/api';
import type { Telemetry } from 'bullmq';
import { tracingOn } from './tracing';

type BullSpan = ReturnType<Telemetry['tracer']['startSpan']>;

/** What BullMQ gets for a span it is not to make: records nothing, and leaves the context as it was. */
const QUIET: BullSpan = {
  setSpanOnContext: (ctx: unknown) => ctx,
  setAttribute: () => undefined,
  setAttributes: () => undefined,
  addEvent: () => undefined,
  recordException: () => undefined,
  end: () => undefined,
};

/**
 * BullMQ's telemetry (bullmq-otel) for the delivery workers, or undefined when tracing is off.
 * A job run is a `process <queue>` span, child of the context the job carries (see
 * `DeliveryQueues.enqueue`), so each attempt of a delivery, retries included, is a child of its
 * enqueue; what BullMQ does inside it (moving the job on) is recorded too. Its polls and timers
 * (`getNextJob`, stalled checks, pause, close) are not: outside a job each would start a trace of
 * its own, many a minute.
 */
export function workerTelemetry(): Telemetry | undefined {
  if (!tracingOn()) return undefined;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { BullMQOtel } = require('bullmq-otel') as typeof import('bullmq-otel');
  const otel = new BullMQOtel({ tracerName: 'dispatch-worker' });
  const tracer = otel.tracer;
  return {
    contextManager: otel.contextManager,
    tracer: {
      startSpan: (name, options, ctx) => {
        if (name.startsWith('process ')) return tracer.startSpan(name, options, ctx);
        if (name.startsWith('getNextJob')) return QUIET;
        const parent = trace.getSpanContext(ctx ?? context.active());
        return parent && isSpanContextValid(parent) ? tracer.startSpan(name, options, ctx) : QUIET;
      },
    },
  };
}
