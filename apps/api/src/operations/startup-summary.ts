import type { DispatchConfig } from '@dispatch/config';
import { startupLine } from '@dispatch/config';

export type ApiSummary = {
  /** Where clients reach the API, without a trailing slash. */
  url: string;
  /** Whether the admin app is served (it is when it was built). */
  adminApp: boolean;
  kinds: readonly string[];
};

/** Where clients reach the API: DISPATCH_PUBLIC_URL (or its default), or with `PORT=0` the port it got. */
export function apiUrl(config: Pick<DispatchConfig, 'port' | 'publicUrl'>, listeningPort: number): string {
  return config.port === 0 ? `http://127.0.0.1:${listeningPort}` : config.publicUrl;
}

/** What the API logs once it listens: where everything is, and the destination kinds it has. */
export function apiSummary(format: DispatchConfig['logFormat'], summary: ApiSummary): Record<string, unknown> {
  const { url } = summary;
  const admin = summary.adminApp ? `${url}/` : null;
  const lines = [
    `Dispatch API on ${url}`,
    `  Admin app  ${admin ?? 'not built (npm run build)'}`,
    `  API        ${url}/v1 (OpenAPI: ${url}/docs)`,
    `  Queues     ${url}/queues (Bull Board: any user, the admin key as password)`,
    `  Metrics    ${url}/metrics`,
    `  Kinds      ${summary.kinds.join(', ')}`,
  ];
  return startupLine(format, lines, { url, admin, docs: `${url}/docs`, queues: `${url}/queues`, metrics: `${url}/metrics`, kinds: summary.kinds });
}
