import { connect, Socket } from 'node:net';
import { createTransport, Transporter } from 'nodemailer';
import type SMTPPool from 'nodemailer/lib/smtp-pool';
import type { EgressGuard } from '../egress';
import type { SmtpConfig } from './config';
import type { EmailMessage } from './message';

/**
 * nodemailer's options for an SMTP server: every connection opened through the egress guard
 * (the address checked is the one connected to; TLS, from the start or by STARTTLS, still
 * checks the certificate against the host name), at most `timeoutMs` for each step.
 */
export function smtpOptions(config: SmtpConfig, egress: EgressGuard, timeoutMs: number, pool: boolean): SMTPPool.Options {
  return {
    pool,
    maxConnections: 2,
    host: config.host,
    port: config.port,
    secure: config.secure,
    requireTLS: config.requireTls,
    ...(config.username ? { auth: { user: config.username, pass: config.password ?? '' } } : {}),
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
    getSocket: (_options, callback) => guardedSocket(config, egress, timeoutMs, callback),
  };
}

function guardedSocket(config: SmtpConfig, egress: EgressGuard, timeoutMs: number, callback: (error: Error | null, socket?: { connection: Socket }) => void): void {
  const refusal = egress.hostRefusal(config.host);
  if (refusal) return callback(refusal);
  const socket = connect({ host: config.host, port: config.port, lookup: egress.lookup, timeout: timeoutMs });
  const settle = (error: Error | null) => {
    socket.removeListener('connect', onConnect).removeListener('error', settle).removeListener('timeout', onTimeout);
    socket.setTimeout(0);
    if (error) {
      socket.destroy();
      return callback(error);
    }
    callback(null, { connection: socket });
  };
  const onConnect = () => settle(null);
  const onTimeout = () => settle(Object.assign(new Error(`connecting to ${config.host}:${config.port} took longer than ${timeoutMs} ms`), { code: 'ETIMEDOUT' }));
  socket.once('connect', onConnect).once('error', settle).once('timeout', onTimeout);
}

/** A pooled transport for one destination (kept by the sender, closed when released). */
export function smtpTransport(config: SmtpConfig, egress: EgressGuard, timeoutMs: number): Transporter {
  return createTransport(smtpOptions(config, egress, timeoutMs, true));
}

/** Sends `message` (its attachment streamed from the file) and resolves the server's reply to the end of the data. */
export async function sendSmtp(transport: Transporter, message: EmailMessage): Promise<string> {
  const { attachment } = message;
  const info = (await transport.sendMail({
    from: message.from,
    to: message.to,
    subject: message.subject,
    text: message.text,
    attachments: attachment ? [{ filename: attachment.name, contentType: attachment.contentType, content: await attachment.open() }] : [],
  })) as { response?: string };
  return info.response ?? '';
}

/** Connects, says hello, starts TLS where asked and logs in on a connection of its own; sends nothing. */
export async function verifySmtp(config: SmtpConfig, egress: EgressGuard, timeoutMs: number): Promise<void> {
  const transport = createTransport(smtpOptions(config, egress, timeoutMs, false));
  try {
    await transport.verify();
  } finally {
    transport.close();
  }
}
