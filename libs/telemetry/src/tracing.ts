import {
  Attributes,
  context,
  Context,
  INVALID_SPAN_CONTEXT,
  isSpanContextValid,
  Link,
  propagation,
  ROOT_CONTEXT,
  Span,
  SpanContext,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';

export { ROOT_CONTEXT, SpanKind };
export type { Context, Span };

/**
 * Whether this process traces (`startTracing` found `OTEL_EXPORTER_OTLP_ENDPOINT`). Off, every
 * helper here runs the work as it is: no span, no context captured.
 */
let on = false;

export function tracingOn(): boolean {
  return on;
}

/** For `startTracing` (and tests of what uses these helpers): turns the helpers on or off. */
export function setTracingOn(value: boolean): void {
  on = value;
}

const TRACER = 'dispatch';

/** A span that records nothing: what the work gets when tracing is off. */
const NO_SPAN: Span = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

export type SpanSettings = {
  kind?: SpanKind;
  attributes?: Attributes;
  /** The parent's context; the active one when absent. */
  parent?: Context;
  links?: Link[];
  /** Start a trace of its own (no parent), linked to the active span when there is one. */
  newTrace?: boolean;
};

/** Starts a span the caller ends (`endSpan`): for work that does not fit in one callback. A span that records nothing when tracing is off. */
export function startSpan(name: string, settings: SpanSettings = {}): Span {
  if (!on) return NO_SPAN;
  const links = [...(settings.links ?? [])];
  if (settings.newTrace) {
    const active = trace.getSpanContext(context.active());
    if (active && isSpanContextValid(active)) links.push({ context: active });
  }
  const parent = settings.newTrace ? ROOT_CONTEXT : (settings.parent ?? context.active());
  return trace.getTracer(TRACER).startSpan(name, { kind: settings.kind ?? SpanKind.INTERNAL, attributes: settings.attributes, links }, parent);
}

/** Ends a span, marked as failed with the error's message when there is one. */
export function endSpan(span: Span, error?: unknown): void {
  if (error !== undefined) failed(span, error);
  span.end();
}

/** Marks a span as failed: status error with the message, and the exception as an event. */
export function failed(span: Span, error: unknown): void {
  if (!span.isRecording()) return;
  const message = error instanceof Error ? error.message : String(error);
  span.setStatus({ code: SpanStatusCode.ERROR, message });
  if (error instanceof Error) span.recordException(error);
}

/** The context of `span`, child of `parent` (the active context when absent). */
export function contextWith(span: Span, parent: Context = context.active()): Context {
  return on ? trace.setSpan(parent, span) : parent;
}

/**
 * Runs `work` in a new span (child of `settings.parent`, else of the active context) that ends
 * when the work settles, marked as failed when it throws.
 */
export async function inSpan<T>(name: string, settings: SpanSettings, work: (span: Span) => Promise<T>): Promise<T> {
  if (!on) return work(NO_SPAN);
  const parent = settings.parent ?? context.active();
  const span = startSpan(name, { ...settings, parent });
  try {
    return await context.with(trace.setSpan(parent, span), () => work(span));
  } catch (error) {
    failed(span, error);
    throw error;
  } finally {
    span.end();
  }
}

/** The span of a context (see `contextWith`); one that records nothing when it has none. */
export function spanIn(ctx: Context): Span {
  return trace.getSpan(ctx) ?? NO_SPAN;
}

/** Runs `work` with `ctx` as the active context (as it is when tracing is off). */
export function withContext<T>(ctx: Context, work: () => T): T {
  return on ? context.with(ctx, work) : work();
}

/** The caller's context, for work done later on its behalf (a statement it shares with others). */
export function currentContext(): Context {
  return on ? context.active() : ROOT_CONTEXT;
}

/**
 * Runs work done for several callers at once (one statement writing the events of several
 * requests): when there is one caller, in a span child of its context; when there are several,
 * in a span that is the child of none of them (a new trace, or `parent` when the work has one
 * of its own, as a batch has its request) and links to each caller's span instead.
 */
export function sharedSpan<T>(name: string, callers: readonly Context[], settings: Omit<SpanSettings, 'links'>, work: (span: Span) => Promise<T>): Promise<T> {
  if (!on) return work(NO_SPAN);
  const linked = distinctSpans(callers);
  if (linked.length <= 1 && settings.parent === undefined) return inSpan(name, { ...settings, parent: callers[0] ?? ROOT_CONTEXT }, work);
  return inSpan(name, { ...settings, parent: settings.parent ?? ROOT_CONTEXT, links: linked.map((spanContext) => ({ context: spanContext })) }, work);
}

function distinctSpans(callers: readonly Context[]): SpanContext[] {
  const seen = new Map<string, SpanContext>();
  for (const caller of callers) {
    const spanContext = trace.getSpanContext(caller);
    if (spanContext && isSpanContextValid(spanContext)) seen.set(spanContext.spanId, spanContext);
  }
  return [...seen.values()];
}

/** The trace id of `span`, or of the active span; null when there is none (tracing off). */
export function traceIdOf(span?: Span): string | null {
  if (!on) return null;
  const spanContext = (span ?? trace.getActiveSpan())?.spanContext();
  return spanContext && isSpanContextValid(spanContext) ? spanContext.traceId : null;
}

/** Adds attributes to the active span (the attempt's, in a delivery job). */
export function annotate(attributes: Attributes): void {
  if (on) trace.getActiveSpan()?.setAttributes(attributes);
}

/** The active span, for its status and events; a span that records nothing when there is none. */
export function activeSpan(): Span {
  return (on && trace.getActiveSpan()) || NO_SPAN;
}

/**
 * A context as BullMQ carries it in a job (`opts.telemetry.metadata`: the propagation headers,
 * `traceparent` and `tracestate`, as JSON); undefined when it holds no span.
 */
export function jobTraceMetadata(ctx: Context): string | undefined {
  if (!on) return undefined;
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier);
  return Object.keys(carrier).length > 0 ? JSON.stringify(carrier) : undefined;
}

/** The ids of the active span for a log line (`traceId`, `spanId`); none when tracing is off or no span is active. */
export function logCorrelation(): { traceId?: string; spanId?: string } {
  if (!on) return {};
  const spanContext = trace.getActiveSpan()?.spanContext();
  if (!spanContext || !isSpanContextValid(spanContext)) return {};
  return { traceId: spanContext.traceId, spanId: spanContext.spanId };
}

/**
 * Names the active span, an HTTP server span, after the route that serves it (`POST /v1/events`)
 * and sets `http.route`: the http instrumentation knows only the method.
 */
export function nameServerSpan(method: string, route: string | undefined): void {
  if (!on || !route) return;
  const span = trace.getActiveSpan();
  span?.updateName(`${method} ${route}`);
  span?.setAttribute('http.route', route);
}
