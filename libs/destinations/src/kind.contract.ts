import type { ApiClient } from '@dispatch/testing';

/**
 * What the kind contract test (test/kinds.contract.spec.ts) needs of each kind: every kind's
 * folder has `<kind>.contract.ts` exporting one of these as `contract`. Test code only: not
 * part of the build.
 */
export type KindContract = {
  /**
   * Starts a live peer of this kind on loopback. `api` is the Dispatch under test, for a kind
   * whose recipient fetches from Dispatch rather than being sent to (a download link).
   */
  startPeer(api: ContractApi): Promise<ContractPeer>;
  /** A valid config that delivers to `peer`. */
  validConfig(peer: ContractPeer): Record<string, unknown>;
  /** A config the kind must refuse, and the config fields its 400 must name (relative to `config`). */
  invalidConfig: { config: Record<string, unknown>; paths: string[] };
  /**
   * A config whose host is a literal address the egress guard refuses even where loopback is
   * allowed (a private or metadata address: it is only validated, never connected to), and the
   * config fields its 400 must name; null for a kind that opens no connection.
   */
  blockedConfig: { config: Record<string, unknown>; paths: string[] } | null;
  /**
   * A valid config whose peer cannot be reached (a closed loopback port); null for a kind that
   * opens no connection (then, as for `blockedConfig`, the egress and unreachable checks do not apply).
   */
  unreachableConfig: ((closedPort: number) => Record<string, unknown>) | null;
  /** Credentials placed in a valid config, which must never show in answers after creation, logs or job data. */
  credentials(peer: ContractPeer): { config: Record<string, unknown>; secrets: string[] };
};

/** The Dispatch under test: its URL and a client with an admin key of the test's organization. */
export type ContractApi = { url: string; client: ApiClient };

export type ContractPeer = {
  /** Resolves once the peer has received event `eventId`. */
  waitForEvent(eventId: string, timeoutMs: number): Promise<void>;
  close(): Promise<void>;
  /** Where it listens, for `validConfig`. */
  address: { host: string; port: number };
};
