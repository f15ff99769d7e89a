import { context, propagation, ROOT_CONTEXT, SpanStatusCode, trace } from '@opentelemetry/api';
// The pieces NodeSDK registers (context manager, propagator), here without its exporters.
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, InMemorySpanExporter, ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import {
  contextWith,
  currentContext,
  endSpan,
  inSpan,
  jobTraceMetadata,
  logCorrelation,
  nameServerSpan,
  setTracingOn,
  sharedSpan,
  SpanKind,
  startSpan,
  traceIdOf,
  withContext,
} from './tracing';
import { workerTelemetry } from './queue-telemetry';

/** Tracing as the SDK sets it up, spans kept in memory; `on: false` leaves the helpers off. */
function setup({ on = true } = {}) {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  trace.setGlobalTracerProvider(provider);
  context.setGlobalContextManager(contextManager);
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  setTracingOn(on);
  const mocks = {
    spans: () => exporter.getFinishedSpans(),
    named: (name: string) => exporter.getFinishedSpans().filter((span) => span.name === name),
    /** A caller of its own: the context of a new root span, ended. */
    caller: (name: string) => {
      const span = startSpan(name, { parent: ROOT_CONTEXT });
      span.end();
      return contextWith(span, ROOT_CONTEXT);
    },
  };
  return { mocks };
}

const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;

afterEach(() => {
  setTracingOn(false);
  trace.disable();
  context.disable();
  propagation.disable();
});

describe('tracing helpers', () => {
  it('run the work as it is when tracing is off: no span, no context, no trace id', async () => {
    const { mocks } = setup({ on: false });
    const answer = await inSpan('work', {}, async (span) => {
      expect(span.isRecording()).toBe(false);
      return sharedSpan('shared', [currentContext(), currentContext()], {}, async () => 'done');
    });
    expect(answer).toBe('done');
    endSpan(startSpan('started'));
    expect(mocks.spans()).toEqual([]);
    expect(currentContext()).toBe(ROOT_CONTEXT);
    expect(traceIdOf()).toBeNull();
    expect(jobTraceMetadata(currentContext())).toBeUndefined();
    expect(logCorrelation()).toEqual({});
  });

  it('inSpan: the work runs in a child of the active span, and a throw marks it failed', async () => {
    const { mocks } = setup();
    await inSpan('outer', {}, async () => {
      await expect(inSpan('inner', { kind: SpanKind.CLIENT }, async () => Promise.reject(new Error('refused')))).rejects.toThrow('refused');
    });
    const [outer] = mocks.named('outer');
    const [inner] = mocks.named('inner');
    expect(parentOf(inner)).toBe(outer.spanContext().spanId);
    expect(inner.spanContext().traceId).toBe(outer.spanContext().traceId);
    expect(inner.kind).toBe(SpanKind.CLIENT);
    expect(inner.status).toEqual({ code: SpanStatusCode.ERROR, message: 'refused' });
    expect(outer.status.code).not.toBe(SpanStatusCode.ERROR);
  });

  it('sharedSpan for one caller: the child of that caller, without links', async () => {
    const { mocks } = setup();
    const caller = mocks.caller('request');
    await sharedSpan('write', [caller], {}, async () => undefined);
    const [write] = mocks.named('write');
    expect(parentOf(write)).toBe(trace.getSpanContext(caller)?.spanId);
    expect(write.links).toEqual([]);
  });

  it('sharedSpan for several callers: a trace of its own, child of none of them, linked to each once; the work runs in it', async () => {
    const { mocks } = setup();
    const [first, second] = [mocks.caller('first'), mocks.caller('second')];
    let activeInWork: string | undefined;
    await withContext(first, () =>
      sharedSpan('write', [first, second, first], {}, async () => {
        activeInWork = trace.getActiveSpan()?.spanContext().spanId;
      }),
    );
    const [write] = mocks.named('write');
    expect(write.parentSpanContext).toBeUndefined();
    expect(write.spanContext().traceId).not.toBe(trace.getSpanContext(first)?.traceId);
    expect(write.links.map((link) => link.context.spanId)).toEqual([trace.getSpanContext(first)?.spanId, trace.getSpanContext(second)?.spanId]);
    expect(activeInWork).toBe(write.spanContext().spanId);
  });

  it('sharedSpan with a parent of its own (a batch and its request): the child of the parent, linked to each caller, even to one', async () => {
    const { mocks } = setup();
    const request = mocks.caller('request');
    const event = mocks.caller('event');
    await sharedSpan('write', [event], { parent: request }, async () => undefined);
    const [write] = mocks.named('write');
    expect(parentOf(write)).toBe(trace.getSpanContext(request)?.spanId);
    expect(write.links.map((link) => link.context.spanId)).toEqual([trace.getSpanContext(event)?.spanId]);
  });

  it('startSpan with newTrace: a root span linked to the span active then', async () => {
    const { mocks } = setup();
    const request = mocks.caller('request');
    withContext(request, () => endSpan(startSpan('event', { newTrace: true })));
    const [event] = mocks.named('event');
    expect(event.parentSpanContext).toBeUndefined();
    expect(event.spanContext().traceId).not.toBe(trace.getSpanContext(request)?.traceId);
    expect(event.links.map((link) => link.context.spanId)).toEqual([trace.getSpanContext(request)?.spanId]);
  });

  it('jobTraceMetadata: the context as BullMQ carries it (traceparent as JSON), nothing for a context without a span', () => {
    const { mocks } = setup();
    const job = mocks.caller('send');
    const spanContext = trace.getSpanContext(job);
    expect(JSON.parse(jobTraceMetadata(job) as string)).toEqual({ traceparent: `00-${spanContext?.traceId}-${spanContext?.spanId}-01` });
    expect(jobTraceMetadata(ROOT_CONTEXT)).toBeUndefined();
  });

  it('traceIdOf and logCorrelation: the ids of the active span, none outside one', async () => {
    setup();
    expect(traceIdOf()).toBeNull();
    expect(logCorrelation()).toEqual({});
    await inSpan('work', {}, async (span) => {
      expect(traceIdOf()).toBe(span.spanContext().traceId);
      expect(traceIdOf(span)).toBe(span.spanContext().traceId);
      expect(logCorrelation()).toEqual({ traceId: span.spanContext().traceId, spanId: span.spanContext().spanId });
    });
  });

  it('nameServerSpan: the active span takes the route as its name and http.route', async () => {
    const { mocks } = setup();
    await inSpan('POST', { kind: SpanKind.SERVER }, async () => nameServerSpan('POST', '/v1/events/:id'));
    const [server] = mocks.spans();
    expect(server.name).toBe('POST /v1/events/:id');
    expect(server.attributes['http.route']).toBe('/v1/events/:id');
  });
});

describe('workerTelemetry', () => {
  it('is undefined when tracing is off: BullMQ traces nothing', () => {
    setup({ on: false });
    expect(workerTelemetry()).toBeUndefined();
  });

  it("records a job's run and what BullMQ does inside it, not its polls and timers outside any trace", async () => {
    const { mocks } = setup();
    const telemetry = workerTelemetry();
    if (!telemetry) throw new Error('no telemetry');
    const { tracer, contextManager } = telemetry;
    const send = mocks.caller('send {dst_1}');
    // As BullMQ runs a job: its span child of the context the job carries, the processor inside it.
    const run = tracer.startSpan('process {dst_1}', { kind: SpanKind.CONSUMER }, send);
    contextManager.with(run.setSpanOnContext(send), () => tracer.startSpan('delay {dst_1}', { kind: SpanKind.INTERNAL }).end());
    run.end();
    // Its loop and timers, outside any job.
    for (const name of ['getNextJob {dst_1}', 'moveStalledJobsToWait {dst_1}', 'close {dst_1}']) {
      const span = tracer.startSpan(name, { kind: SpanKind.INTERNAL });
      expect(span.setSpanOnContext(ROOT_CONTEXT)).toBe(ROOT_CONTEXT);
      span.end();
    }
    // A poll that found a job carries its context, and is left out all the same.
    tracer.startSpan('getNextJob {dst_1}', { kind: SpanKind.INTERNAL }, send).end();

    expect(mocks.spans().map((span) => span.name)).toEqual(['send {dst_1}', 'delay {dst_1}', 'process {dst_1}']);
    const [process] = mocks.named('process {dst_1}');
    expect(parentOf(process)).toBe(trace.getSpanContext(send)?.spanId);
    expect(parentOf(mocks.named('delay {dst_1}')[0])).toBe(process.spanContext().spanId);
  });
});
