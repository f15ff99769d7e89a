import type { DestinationKind } from '../kind';
import { WebsocketConfig, websocketConfigSchema } from './config';
import { WebsocketSender } from './send';

export * from './config';
export * from './send';
export * from './subject';
export * from './subject-streams';

/** Events pushed to the live WebSocket sessions of a subject, held by the API processes. */
export const websocketKind: DestinationKind<WebsocketConfig> = {
  kind: 'websocket',
  configSchema: websocketConfigSchema,
  secretFields: [],
  signsWithSecret: false,
  // Opens no connection of its own: devices connect to Dispatch.
  endpoints: () => [],
  createSender: (deps) => new WebsocketSender(deps),
};
