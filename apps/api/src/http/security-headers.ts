import helmet from '@fastify/helmet';
import type { FastifyInstance, RouteOptions } from 'fastify';

type Directives = Record<string, string[]>;

/**
 * The Content-Security-Policy of every answer: scripts, styles, fonts and connections only
 * from this server, images also inline (`data:`), no plugins, no `<base>` elsewhere, forms
 * posted only here, and no framing by any page (clickjacking).
 */
const POLICY: Directives = {
  'default-src': ["'self'"],
  'base-uri': ["'self'"],
  'script-src': ["'self'"],
  'script-src-attr': ["'none'"],
  'style-src': ["'self'"],
  'img-src': ["'self'", 'data:'],
  'font-src': ["'self'"],
  'connect-src': ["'self'"],
  'object-src': ["'none'"],
  'form-action': ["'self'"],
  'frame-ancestors': ["'none'"],
};

/** Bull Board's and Swagger UI's pages carry inline styles (`style=` and `<style>`); their scripts are still files of this server. */
const PAGES_WITH_INLINE_STYLES = ['/queues', '/docs'];
const INLINE_STYLES: Directives = { ...POLICY, 'style-src': ["'self'", "'unsafe-inline'"] };

/**
 * Security headers on every answer (`@fastify/helmet`): the policy above, `nosniff`,
 * `X-Frame-Options: DENY`, `Referrer-Policy: no-referrer`, cross-origin isolation of windows
 * and resources. No `Strict-Transport-Security`: Dispatch speaks plain HTTP and is usually
 * run behind a TLS proxy, which is where HSTS belongs.
 */
export async function addSecurityHeaders(server: FastifyInstance): Promise<void> {
  server.addHook('onRoute', (route: RouteOptions) => {
    if (PAGES_WITH_INLINE_STYLES.some((prefix) => route.url === prefix || route.url.startsWith(`${prefix}/`))) {
      route.config = { ...route.config, helmet: { contentSecurityPolicy: { useDefaults: false, directives: INLINE_STYLES } } } as RouteOptions['config'];
    }
  });
  await server.register(helmet, {
    contentSecurityPolicy: { useDefaults: false, directives: POLICY },
    strictTransportSecurity: false,
    xFrameOptions: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
  });
}
