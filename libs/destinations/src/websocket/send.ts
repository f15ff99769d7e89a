import type { SendRequest, SendResult, Sender, SenderDeps } from '../kind';
import { renderTemplate, TemplateError } from '../messages';
import type { WebsocketConfig } from './config';
import { liveSubjectProblem } from './subject';

/**
 * A delivery to a `websocket` destination: the event is pushed to the live sessions of the
 * subject its template names, through Redis (see `SubjectStreams`). It is delivered once
 * pushed, or, when no session is connected, once kept for replay; the attempt's reply says which.
 */
export class WebsocketSender implements Sender<WebsocketConfig> {
  constructor(private readonly deps: SenderDeps) {}

  async send(request: SendRequest<WebsocketConfig>): Promise<SendResult> {
    const started = Date.now();
    const took = () => Date.now() - started;
    const live = this.deps.live;
    if (!live) return { verdict: 'transient', durationMs: took(), error: 'live push is not available in this process' };
    const subject = subjectOf(request);
    if (typeof subject !== 'string') return { verdict: 'permanent', durationMs: took(), error: subject.problem };
    const { event } = request;
    try {
      const { seq, processes } = await live.push(request.organizationId, subject, {
        id: event.id,
        type: event.type,
        timestamp: event.receivedAt.toISOString(),
        data: event.data,
      });
      const reply =
        processes > 0
          ? `pushed to the sessions of "${subject}" on ${processes} API process${processes === 1 ? '' : 'es'} (seq ${seq})`
          : `no session of "${subject}" is connected; kept for replay (seq ${seq})`;
      return { verdict: 'delivered', durationMs: took(), reply };
    } catch (error) {
      return { verdict: 'transient', durationMs: took(), error: `Redis did not take the frame: ${(error as Error).message}` };
    }
  }

  /** Says how many API processes hold sessions of the subject (of a test event); pushes nothing. */
  async test(request: SendRequest<WebsocketConfig>): Promise<SendResult> {
    const started = Date.now();
    const took = () => Date.now() - started;
    const live = this.deps.live;
    if (!live) return { verdict: 'transient', durationMs: took(), error: 'live push is not available in this process' };
    const subject = subjectOf(request);
    if (typeof subject !== 'string') return { verdict: 'delivered', durationMs: took(), reply: `Redis is reachable; ${subject.problem}` };
    try {
      const processes = await live.processesHolding(request.organizationId, subject);
      return {
        verdict: 'delivered',
        durationMs: took(),
        reply: `Redis is reachable; ${processes} API process${processes === 1 ? ' holds' : 'es hold'} sessions of "${subject}"`,
      };
    } catch (error) {
      return { verdict: 'transient', durationMs: took(), error: `Redis is not reachable: ${(error as Error).message}` };
    }
  }

  async close(): Promise<void> {}
}

/** The subject an event goes to, or why it has none (a delivery that can never be made). */
function subjectOf(request: SendRequest<WebsocketConfig>): string | { problem: string } {
  let subject: string;
  try {
    subject = renderTemplate(request.config.subject, { organizationId: request.organizationId, event: request.event });
  } catch (error) {
    if (error instanceof TemplateError) return { problem: `the subject template cannot be filled: ${error.message}` };
    throw error;
  }
  const problem = liveSubjectProblem(subject);
  return problem ? { problem: `the subject "${subject.slice(0, 200)}" ${problem}` } : subject;
}
