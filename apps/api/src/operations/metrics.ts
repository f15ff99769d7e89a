import { Controller, Get, Header, Injectable } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Prometheus metrics of the API process. */
@Injectable()
export class Metrics {
  readonly registry = new Registry();
  readonly eventsAccepted = new Counter({ name: 'dispatch_events_accepted_total', help: 'Events accepted (not counting repeated ids)', registers: [this.registry] });
  /** Every event of a request the API accepted (202, or 200 when every id was seen before), single or in a batch, repeated ids included: received minus accepted is the repeats. */
  readonly eventsReceived = new Counter({
    name: 'dispatch_events_received_total',
    help: 'Events received via the API in accepted requests, single or batched, repeated ids included',
    registers: [this.registry],
  });
  readonly httpRequests = new Histogram({
    name: 'dispatch_http_request_duration_seconds',
    help: 'HTTP requests by method, route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  /** Sends a destination's rate limit held back; `source` only (never the destination: thousands of them). */
  readonly rateLimiterRejections = new Counter({
    name: 'dispatch_rate_limiter_rejections_total',
    help: "Sends held back by a destination's rate limit (source=test: POST /v1/destinations/:id/test answered 429)",
    labelNames: ['source'] as const,
    registers: [this.registry],
  });

  readonly liveSessions = new Gauge({ name: 'dispatch_live_sessions', help: 'Live WebSocket sessions this API process holds', registers: [this.registry] });
  readonly liveFrames = new Counter({
    name: 'dispatch_live_frames_total',
    help: 'Frames written to live WebSocket sessions (source=live: as pushed; replay: kept frames after lastSeq or a gap; resync: resync_required)',
    labelNames: ['source'] as const,
    registers: [this.registry],
  });
  readonly liveCloses = new Counter({
    name: 'dispatch_live_session_closes_total',
    help: 'Live WebSocket sessions ended, by why (client, pong_timeout, backpressure, going_away, error)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly liveRefusals = new Counter({
    name: 'dispatch_live_upgrades_refused_total',
    help: 'WebSocket upgrades to /v1/stream refused, by HTTP status (401: no valid stream token)',
    labelNames: ['status'] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'dispatch_api_' });
  }
}

@ApiExcludeController()
@Controller('metrics')
export class MetricsController {
  constructor(private readonly metrics: Metrics) {}

  @Get()
  @Header('content-type', 'text/plain; version=0.0.4; charset=utf-8')
  render(): Promise<string> {
    return this.metrics.registry.metrics();
  }
}
