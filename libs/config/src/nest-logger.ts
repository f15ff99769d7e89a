import type { LoggerService } from '@nestjs/common';
import { Logger as NestPinoLogger, PinoLogger } from 'nestjs-pino';
import type { Logger as Pino } from 'pino';
import type { DispatchConfig } from './config';
import { createLogger, LogApp } from './logging';

/**
 * Nest's start-up lines about its own wiring (a line per module, per controller and per route):
 * written at `debug` rather than `log`, so that start-up says what matters (the app's summary).
 */
export const WIRING_CONTEXTS: ReadonlySet<string> = new Set(['InstanceLoader', 'RoutesResolver', 'RouterExplorer', 'NestFactory', 'NestApplication']);

/** nestjs-pino's logger of one pino instance of our own (rather than the first one the process made, which it keeps for all). */
class OwnPinoLogger extends PinoLogger {
  constructor(private readonly own: Pino) {
    super({ pinoHttp: { logger: own } });
  }

  override get logger(): Pino {
    return this.own;
  }
}

/**
 * The logger Nest is given (`NestFactory.create(…, { logger })`): every `new Logger(Context)`
 * line goes to pino with its `context`, an object given as the message is its fields
 * (`logger.warn({ msg, deliveryId })`), and Nest's wiring lines go to `debug`.
 */
export class DispatchLogger extends NestPinoLogger implements LoggerService {
  constructor(readonly pino: Pino) {
    super(new OwnPinoLogger(pino), {});
  }

  override log(message: unknown, ...optionalParams: unknown[]): void {
    const context = optionalParams[optionalParams.length - 1];
    if (typeof context === 'string' && WIRING_CONTEXTS.has(context)) super.debug(message, ...optionalParams);
    else super.log(message, ...optionalParams);
  }
}

/** The Nest logger of `app`, writing as `config` says (level, format). */
export function nestLogger(config: Pick<DispatchConfig, 'logLevel' | 'logFormat'>, app: LogApp, output?: { write(text: string): unknown }): DispatchLogger {
  return new DispatchLogger(createLogger(config, app, output));
}
