import type { SESv2Client } from '@aws-sdk/client-sesv2';
import type { Transporter } from 'nodemailer';
import { Agent, Dispatcher } from 'undici';
import type { SendResult } from '@dispatch/domain';
import { attemptDeadline, untilDeadline } from '../attempt-deadline';
import type { SendRequest, Sender, SenderDeps } from '../kind';
import { DestinationConnections } from '../messages/destination-connections';
import { EmailConfig, providerBase, ProviderConfig, SesConfig, SmtpConfig } from './config';
import { emailMessage } from './message';
import { checkSes, getWithKey, ProviderAnswer, sendResend, sendSendgrid, sendSes, sesAnswer, sesClient } from './providers';
import { sendSmtp, smtpTransport, verifySmtp } from './smtp';
import { providerFailure, providerVerdict, smtpFailure } from './verdict';

type Verdict = Omit<SendResult, 'durationMs'>;

/**
 * Sends the delivered file by email: over SMTP with a pooled transport per destination, or
 * through SendGrid, Resend or Amazon SES over HTTPS. Every connection goes through the egress
 * guard. Delivered when the SMTP server accepts the message (250 after the data) or the
 * provider answers 2xx.
 */
export class EmailSender implements Sender<EmailConfig> {
  private readonly smtp = new DestinationConnections<Transporter>(async (transport) => transport.close());
  private readonly ses = new DestinationConnections<SESv2Client>(async (client) => client.destroy());
  private readonly agent: Dispatcher;

  constructor(private readonly deps: SenderDeps) {
    this.agent = new Agent({
      connect: deps.egress.connector({ timeout: Math.min(deps.timeoutMs, 10_000) }),
      headersTimeout: deps.timeoutMs,
      bodyTimeout: deps.timeoutMs,
      keepAliveTimeout: 4_000,
    });
  }

  async send(request: SendRequest<EmailConfig>, signal: AbortSignal, now: Date = new Date()): Promise<SendResult> {
    return this.timed(signal, async (deadline) => {
      const { config } = request;
      if (config.transport === 'smtp') return this.sendBySmtp(request as SendRequest<SmtpConfig>, deadline);
      try {
        const message = await emailMessage(request, this.deps.files);
        if (config.transport === 'ses') {
          const client = await this.ses.get(request.destinationId, config, async () => sesClient(config, this.deps.egress, this.deps.timeoutMs));
          return { verdict: 'delivered', statusCode: 200, reply: await sendSes(client, config, message, deadline) };
        }
        const answer =
          config.transport === 'sendgrid'
            ? await sendSendgrid(this.agent, config, message, deadline, this.deps.replyMaxBytes)
            : await sendResend(this.agent, config, message, deadline, this.deps.replyMaxBytes);
        return answered(answer, now);
      } catch (error) {
        const answer = config.transport === 'ses' ? sesAnswer(error) : null;
        return answer ? answered(answer, now) : providerFailure(error);
      }
    });
  }

  /**
   * SMTP: connects and logs in on a connection of its own, sending nothing. SendGrid: `GET
   * /v3/scopes`; Resend: `GET /domains` (a key restricted to sending is answered 401
   * `restricted_api_key`, which still proves the key); SES: GetAccount.
   */
  async test(request: SendRequest<EmailConfig>, signal: AbortSignal): Promise<SendResult> {
    return this.timed(signal, async (deadline) => {
      const { config } = request;
      if (config.transport === 'smtp') {
        try {
          await untilDeadline(verifySmtp(config, this.deps.egress, this.deps.timeoutMs), deadline);
          return { verdict: 'delivered' };
        } catch (error) {
          return smtpFailure(error);
        }
      }
      try {
        if (config.transport === 'ses') {
          const client = sesClient(config, this.deps.egress, this.deps.timeoutMs);
          try {
            await checkSes(client, deadline);
          } finally {
            client.destroy();
          }
          return { verdict: 'delivered', statusCode: 200 };
        }
        const path = config.transport === 'sendgrid' ? '/v3/scopes' : '/domains';
        const answer = await getWithKey(this.agent, `${providerBase(config)}${path}`, config.apiKey, deadline, this.deps.replyMaxBytes);
        if (config.transport === 'resend' && answer.statusCode === 401 && answer.reply.includes('restricted_api_key')) return { verdict: 'delivered', statusCode: 401 };
        return answered(answer);
      } catch (error) {
        return sesAnswerOrFailure(config, error);
      }
    });
  }

  async release(destinationId: string): Promise<void> {
    await Promise.all([this.smtp.release(destinationId), this.ses.release(destinationId)]);
  }

  async close(): Promise<void> {
    await Promise.all([this.smtp.close(), this.ses.close(), this.agent.close()]);
  }

  private async sendBySmtp(request: SendRequest<SmtpConfig>, deadline: AbortSignal): Promise<Verdict> {
    let transport: Transporter | undefined;
    try {
      const message = await emailMessage(request, this.deps.files);
      transport = await this.smtp.get(request.destinationId, request.config, async () => smtpTransport(request.config, this.deps.egress, this.deps.timeoutMs));
      const reply = await untilDeadline(sendSmtp(transport, message), deadline);
      return { verdict: 'delivered', statusCode: Number(/^\d{3}/.exec(reply)?.[0] ?? 250), reply };
    } catch (error) {
      const verdict = smtpFailure(error);
      // A server that answered leaves its connections as they were; anything else (lost, timed out) leaves them in doubt.
      if (transport && verdict.statusCode === undefined && verdict.verdict === 'transient') await this.smtp.drop(request.destinationId, transport);
      return verdict;
    }
  }

  private async timed(signal: AbortSignal, attempt: (deadline: AbortSignal) => Promise<Verdict>): Promise<SendResult> {
    const started = performance.now();
    const deadline = attemptDeadline(signal, this.deps.timeoutMs);
    try {
      return { ...(await attempt(deadline.signal)), durationMs: Math.round(performance.now() - started) };
    } finally {
      deadline.end();
    }
  }
}

function answered(answer: ProviderAnswer, now: Date = new Date()): Verdict {
  return { ...providerVerdict(answer.statusCode, answer.retryAfter, now), ...(answer.reply ? { reply: answer.reply } : {}) };
}

function sesAnswerOrFailure(config: ProviderConfig | SesConfig, error: unknown): Verdict {
  const answer = config.transport === 'ses' ? sesAnswer(error) : null;
  return answer ? answered(answer) : providerFailure(error);
}
