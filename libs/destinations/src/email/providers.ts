import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { Readable } from 'node:stream';
import { GetAccountCommand, SendEmailCommand, SESv2Client } from '@aws-sdk/client-sesv2';
import MailComposer from 'nodemailer/lib/mail-composer';
import { Dispatcher, request } from 'undici';
import type { EgressGuard } from '../egress';
import type { DeliveredFile } from '../files/delivered-file';
import { providerBase, ResendConfig, SendgridConfig, SesConfig } from './config';
import { EmailMessage, jsonWithFile } from './message';
import { UnsendableEmailError } from './verdict';
import { readCapped } from '../http-reply';

const MiB = 1024 * 1024;

/**
 * The largest file each provider is sent, in bytes, with its own limit on a whole message
 * (base64 makes an attachment a third larger): SendGrid 30 MB, Resend 40 MB, SES v2 40 MB.
 */
export const PROVIDER_FILE_LIMITS = { sendgrid: 20 * MiB, resend: 28 * MiB, ses: 28 * MiB } as const;

const PROVIDER_NAMES = { sendgrid: 'SendGrid', resend: 'Resend', ses: 'Amazon SES' } as const;

/** An HTTP answer from a provider: its status, `Retry-After`, and the start of its body. */
export type ProviderAnswer = { statusCode: number; retryAfter: string | null; reply: string };

/** Refuses a file above the provider's limit (permanent), naming the limit. */
export function checkFileSize(transport: keyof typeof PROVIDER_FILE_LIMITS, file: DeliveredFile | null): void {
  const limit = PROVIDER_FILE_LIMITS[transport];
  if (file && file.size > limit)
    throw new UnsendableEmailError(
      `${file.name} is ${file.size} bytes: ${PROVIDER_NAMES[transport]} is sent files up to ${limit / MiB} MiB (attachments travel as base64)`,
    );
}

/** SendGrid v3 `POST /v3/mail/send` (202 when accepted), the attachment streamed as base64 into the JSON. */
export async function sendSendgrid(
  agent: Dispatcher,
  config: SendgridConfig,
  message: EmailMessage,
  signal: AbortSignal,
  replyMaxBytes: number,
): Promise<ProviderAnswer> {
  checkFileSize('sendgrid', message.attachment);
  const payload = (content?: string) => ({
    personalizations: [{ to: message.to.map((email) => ({ email })) }],
    from: { email: message.from },
    subject: message.subject,
    content: [{ type: 'text/plain', value: message.text }],
    ...(content !== undefined && message.attachment
      ? { attachments: [{ content, filename: message.attachment.name, type: message.attachment.contentType, disposition: 'attachment' }] }
      : {}),
  });
  return postJson(agent, `${providerBase(config)}/v3/mail/send`, config.apiKey, payload, message.attachment, signal, replyMaxBytes);
}

/** Resend `POST /emails`, the attachment streamed as base64 into the JSON. */
export async function sendResend(agent: Dispatcher, config: ResendConfig, message: EmailMessage, signal: AbortSignal, replyMaxBytes: number): Promise<ProviderAnswer> {
  checkFileSize('resend', message.attachment);
  const payload = (content?: string) => ({
    from: message.from,
    to: message.to,
    subject: message.subject,
    text: message.text,
    ...(content !== undefined && message.attachment
      ? { attachments: [{ content, filename: message.attachment.name, content_type: message.attachment.contentType }] }
      : {}),
  });
  return postJson(agent, `${providerBase(config)}/emails`, config.apiKey, payload, message.attachment, signal, replyMaxBytes);
}

async function postJson(
  agent: Dispatcher,
  url: string,
  apiKey: string,
  payload: (content?: string) => unknown,
  file: DeliveredFile | null,
  signal: AbortSignal,
  replyMaxBytes: number,
): Promise<ProviderAnswer> {
  const body = file ? jsonWithFile(payload, file) : { body: JSON.stringify(payload()), length: Buffer.byteLength(JSON.stringify(payload())) };
  const response = await request(url, {
    method: 'POST',
    dispatcher: agent,
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', 'content-length': String(body.length) },
    body: typeof body.body === 'string' ? body.body : Readable.from(body.body),
    signal,
  });
  return answerOf(response, replyMaxBytes);
}

/** An authenticated GET that sends nothing (`POST /test`). */
export async function getWithKey(agent: Dispatcher, url: string, apiKey: string, signal: AbortSignal, replyMaxBytes: number): Promise<ProviderAnswer> {
  const response = await request(url, { method: 'GET', dispatcher: agent, headers: { authorization: `Bearer ${apiKey}` }, signal });
  return answerOf(response, replyMaxBytes);
}

async function answerOf(response: Dispatcher.ResponseData, replyMaxBytes: number): Promise<ProviderAnswer> {
  const retryAfter = response.headers['retry-after'];
  return {
    statusCode: response.statusCode,
    retryAfter: (Array.isArray(retryAfter) ? retryAfter[0] : retryAfter) ?? null,
    reply: await readCapped(response.body, replyMaxBytes),
  };
}

/**
 * An SES v2 client for one destination: its HTTP agents resolve names through the egress guard
 * (and the endpoint's host, when a literal, is checked before anything is sent); the SDK makes
 * one attempt, Dispatch retries.
 */
export function sesClient(config: SesConfig, egress: EgressGuard, timeoutMs: number): SESv2Client {
  const endpoint = providerBase(config);
  const refusal = egress.hostRefusal(new URL(endpoint).hostname);
  if (refusal) throw refusal;
  const agentOptions = { keepAlive: true, maxSockets: 8, lookup: egress.lookup };
  return new SESv2Client({
    region: config.region,
    ...(config.endpoint ? { endpoint } : {}),
    credentials: { accessKeyId: config.accessKeyId, secretAccessKey: config.apiKey },
    maxAttempts: 1,
    requestHandler: { httpAgent: new HttpAgent(agentOptions), httpsAgent: new HttpsAgent(agentOptions), connectionTimeout: timeoutMs, requestTimeout: timeoutMs },
  });
}

/**
 * SES v2 SendEmail with the raw MIME message nodemailer composes. The SDK takes the message
 * whole, so it is held in memory: at most the SES file limit, as base64.
 */
export async function sendSes(client: SESv2Client, config: SesConfig, message: EmailMessage, signal: AbortSignal): Promise<string> {
  checkFileSize('ses', message.attachment);
  const { attachment } = message;
  const raw = await new MailComposer({
    from: message.from,
    to: message.to,
    subject: message.subject,
    text: message.text,
    attachments: attachment ? [{ filename: attachment.name, contentType: attachment.contentType, content: await attachment.open() }] : [],
  })
    .compile()
    .build();
  const answer = await client.send(new SendEmailCommand({ FromEmailAddress: config.from, Destination: { ToAddresses: config.to }, Content: { Raw: { Data: raw } } }), {
    abortSignal: signal,
  });
  return JSON.stringify({ MessageId: answer.MessageId });
}

/** SES v2 GetAccount: an authenticated call that sends nothing (`POST /test`). */
export async function checkSes(client: SESv2Client, signal: AbortSignal): Promise<void> {
  await client.send(new GetAccountCommand({}), { abortSignal: signal });
}

/** What an SES SDK error carries: the HTTP status, when SES answered. */
export function sesAnswer(error: unknown): ProviderAnswer | null {
  const failure = error as { $metadata?: { httpStatusCode?: number }; $response?: { headers?: Record<string, string> }; name?: string; message?: string };
  const statusCode = failure?.$metadata?.httpStatusCode;
  if (typeof statusCode !== 'number') return null;
  return { statusCode, retryAfter: failure.$response?.headers?.['retry-after'] ?? null, reply: `${failure.name ?? 'error'}: ${failure.message ?? ''}`.slice(0, 1000) };
}
