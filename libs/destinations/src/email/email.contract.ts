import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import type { ContractPeer, KindContract } from '../kind.contract';

const HOST = '127.0.0.1';

/** A mail as the test SMTP server received it, its MIME parts read. */
export type ReceivedMail = {
  from: string;
  to: string[];
  user: string | null;
  subject: string;
  text: string;
  attachments: { filename: string; contentType: string; content: Buffer }[];
  raw: string;
};

/** An SMTP answer the test server gives instead of accepting a mail. */
export type SmtpRefusal = { code: number; message: string };

export type SmtpPeer = ContractPeer & {
  mails: ReceivedMail[];
  waitForMail(matches: (mail: ReceivedMail) => boolean, timeoutMs: number): Promise<ReceivedMail>;
  /** What the server answers to the next mails (null: accept them). */
  refuseWith(refusal: SmtpRefusal | null): void;
  /** How many connections it has open. */
  connections(): number;
};

/**
 * An SMTP server on loopback (smtp-server) that keeps what it receives. With `auth` a user, it
 * lets in only that user and nothing without a login; with `any`, it takes mail without a login
 * and any login offered. No STARTTLS: the tests speak plain SMTP on loopback.
 */
export async function startSmtpPeer(auth: { user: string; pass: string } | 'any' = 'any'): Promise<SmtpPeer> {
  const mails: ReceivedMail[] = [];
  const waiters: { matches: (mail: ReceivedMail) => boolean; resolve: (mail: ReceivedMail) => void }[] = [];
  let refusal: SmtpRefusal | null = null;
  let open = 0;
  const server = new SMTPServer({
    disabledCommands: ['STARTTLS'],
    authOptional: auth === 'any',
    allowInsecureAuth: true,
    logger: false,
    onConnect: (_session, callback) => ((open += 1), callback()),
    onClose: () => (open -= 1),
    onAuth: (login, _session, callback) =>
      auth === 'any' || (login.username === auth.user && login.password === auth.pass)
        ? callback(null, { user: login.username })
        : callback(Object.assign(new Error('Authentication credentials invalid'), { responseCode: 535 })),
    onData: (stream, session, callback) => {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        if (refusal) return callback(Object.assign(new Error(refusal.message), { responseCode: refusal.code }));
        const mail = {
          ...readMime(Buffer.concat(chunks).toString('latin1')),
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((rcpt) => rcpt.address),
          user: typeof session.user === 'string' ? session.user : null,
        };
        mails.push(mail);
        callback(null, 'queued as test');
        for (const waiter of waiters.filter((one) => one.matches(mail))) waiter.resolve(mail);
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  const { port } = (server as unknown as { server: { address(): AddressInfo } }).server.address();
  const waitForMail = (matches: (mail: ReceivedMail) => boolean, timeoutMs: number) => {
    const seen = mails.find(matches);
    if (seen) return Promise.resolve(seen);
    return new Promise<ReceivedMail>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the SMTP server got no such mail in ${timeoutMs} ms`)), timeoutMs);
      waiters.push({ matches, resolve: (mail) => (clearTimeout(timer), resolve(mail)) });
    });
  };
  return {
    address: { host: HOST, port },
    mails,
    waitForMail,
    waitForEvent: async (eventId, timeoutMs) => void (await waitForMail((mail) => mentions(mail, eventId), timeoutMs)),
    refuseWith: (next) => (refusal = next),
    connections: () => open,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** Whether a mail's body or attachments carry `text`. */
export function mentions(mail: ReceivedMail, text: string): boolean {
  return mail.text.includes(text) || mail.attachments.some((attachment) => attachment.content.toString('utf8').includes(text));
}

/** The subject, the text body and the attachments of a MIME message as nodemailer writes them. */
function readMime(raw: string): Omit<ReceivedMail, 'from' | 'to' | 'user'> {
  const top = readPart(raw);
  const boundary = /boundary="?([^";]+)"?/.exec(top.headers['content-type'] ?? '')?.[1];
  const parts = boundary
    ? top.body
        .split(`--${boundary}`)
        .slice(1, -1)
        .map((part) => readPart(part.replace(/^\r\n/, '')))
    : [top];
  const text = parts.find((part) => (part.headers['content-type'] ?? 'text/plain').startsWith('text/plain') && !part.headers['content-disposition']);
  return {
    subject: top.headers.subject ?? '',
    text: text ? decode(text).toString('utf8').replace(/\r\n/g, '\n') : '',
    attachments: parts
      .filter((part) => part.headers['content-disposition']?.startsWith('attachment'))
      .map((part) => ({
        filename: /filename="?([^";]+)"?/.exec(part.headers['content-disposition'])?.[1] ?? '',
        contentType: (part.headers['content-type'] ?? '').split(';')[0],
        content: decode(part),
      })),
    raw,
  };
}

function readPart(text: string): { headers: Record<string, string>; body: string } {
  const end = text.indexOf('\r\n\r\n');
  const head = text.slice(0, end).replace(/\r\n[ \t]+/g, ' ');
  const headers = Object.fromEntries(head.split('\r\n').map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]));
  return { headers, body: text.slice(end + 4) };
}

function decode(part: { headers: Record<string, string>; body: string }): Buffer {
  const encoding = (part.headers['content-transfer-encoding'] ?? '7bit').toLowerCase();
  const body = part.body.replace(/\r\n$/, '');
  if (encoding === 'base64') return Buffer.from(body.replace(/\s/g, ''), 'base64');
  if (encoding === 'quoted-printable')
    return Buffer.from(
      body.replace(/=\r\n/g, '').replace(/=([0-9A-F]{2})/g, (_all, hex: string) => String.fromCharCode(parseInt(hex, 16))),
      'latin1',
    );
  return Buffer.from(body, 'latin1');
}

/** The email kind's part of the kind contract: an SMTP server on loopback. */
export const contract: KindContract = {
  startPeer: () => startSmtpPeer(),
  validConfig: (peer) => ({ transport: 'smtp', host: peer.address.host, port: peer.address.port, from: 'dispatch@example.com', to: ['ops@example.com'] }),
  invalidConfig: { config: { transport: 'smtp', host: '', port: 70_000, from: 'nobody', to: [] }, paths: ['host', 'port', 'from', 'to'] },
  blockedConfig: { config: { transport: 'smtp', host: '169.254.169.254', port: 25, from: 'dispatch@example.com', to: ['ops@example.com'] }, paths: ['host'] },
  unreachableConfig: (closedPort) => ({ transport: 'smtp', host: HOST, port: closedPort, from: 'dispatch@example.com', to: ['ops@example.com'] }),
  credentials: (peer) => {
    const password = randomBytes(24).toString('hex');
    return { config: { ...contract.validConfig(peer), username: 'dispatch', password }, secrets: [password] };
  },
};
