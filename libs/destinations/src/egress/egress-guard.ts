import { lookup, LookupAddress, LookupAllOptions, LookupOptions } from 'node:dns';
import type { LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';
import { buildConnector } from 'undici';

/** The setting that lists the ranges destinations may reach even though the guard refuses them. */
export const EGRESS_ALLOW_SETTING = 'DISPATCH_EGRESS_ALLOW';

type Address = ipaddr.IPv4 | ipaddr.IPv6;

/** Resolves a name to all its addresses, as `dns.lookup` with `all: true` does. */
export type Resolver = (hostname: string, options: LookupAllOptions, callback: (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void) => void;
type Range = [Address, number];

const IPV4_COMPATIBLE: Range = ipaddr.parseCIDR('::/96');
const NAT64: Range = ipaddr.parseCIDR('64:ff9b::/96');

/**
 * Why a connection was not made: the host (a literal, or a name that resolved to) is an address
 * destinations may not reach. Its message names only the host as the destination gave it, never
 * what a name resolved to.
 */
export class EgressRefusedError extends Error {
  readonly code = 'EGRESS_NOT_ALLOWED';

  constructor(host: string, resolved: boolean) {
    const what = resolved ? `${host} resolves to an address that is not allowed` : `${host} is not an allowed address`;
    super(
      `${what}: Dispatch does not connect to loopback, private, link-local or other non-public addresses unless ${EGRESS_ALLOW_SETTING} lists a range that holds them`,
    );
    this.name = 'EgressRefusedError';
  }
}

/**
 * The one check every destination kind makes before it connects: only public unicast addresses,
 * and the ranges the operator allows (`DISPATCH_EGRESS_ALLOW`). A kind connects through
 * `connector` (undici) or with `lookup` and `hostRefusal` (net.connect, tls.connect), so the
 * address checked is the address connected to, whether the host is a literal or a name.
 */
export class EgressGuard {
  private readonly allowed: readonly Range[];

  /** `allow`: CIDRs (`127.0.0.0/8`, `::1/128`) reachable even though they are not public. `resolve`: the system resolver. */
  constructor(
    allow: readonly string[],
    private readonly resolve: Resolver = lookup,
  ) {
    this.allowed = allow.map((cidr) => ipaddr.parseCIDR(cidr));
  }

  /** Whether a connection to `address` (an IP address) may be made. */
  allows(address: string): boolean {
    return this.allowsAddress(ipaddr.parse(address));
  }

  /**
   * The refusal for a host as a config or URL names it (brackets around IPv6 allowed): an error
   * when it is an IP literal, in any notation the system resolver reads as one, that may not be
   * reached; null for an allowed literal or a name (names are checked when connecting).
   */
  hostRefusal(host: string): EgressRefusedError | null {
    const literal = unbracketed(host);
    if (!ipaddr.isValid(literal)) return null;
    return this.allowsAddress(ipaddr.parse(literal)) ? null : new EgressRefusedError(host, false);
  }

  /**
   * A `dns.lookup` for net.connect and tls.connect (`lookup` option): resolves the name and
   * fails with `EgressRefusedError` when any address it resolves to may not be reached. Node
   * skips `lookup` for IP literals: check those with `hostRefusal` first.
   */
  readonly lookup: LookupFunction = (hostname: string, options: LookupOptions, callback) => {
    this.resolve(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, []);
      if (!addresses.every((entry) => this.allows(entry.address))) return callback(new EgressRefusedError(hostname, true), []);
      if (options.all) return callback(null, addresses);
      callback(null, addresses[0].address, addresses[0].family);
    });
  };

  /**
   * The address to connect to for `host`, for a client library that takes a host but no
   * `lookup` (connect to the answer, not to the name): the literal in its plain notation, or the
   * first address the name resolves to. Rejects with `EgressRefusedError` as `hostRefusal` and `lookup` refuse.
   */
  resolveAllowed(host: string): Promise<string> {
    const refusal = this.hostRefusal(host);
    if (refusal) return Promise.reject(refusal);
    const literal = unbracketed(host);
    if (ipaddr.isValid(literal)) return Promise.resolve(ipaddr.parse(literal).toString());
    return new Promise((resolve, reject) => this.lookup(literal, {}, (error, address) => (error ? reject(error) : resolve(address as string))));
  }

  /** An undici `connect` (for an Agent or Client) that refuses blocked literals and resolves names with `lookup`. */
  connector(options: buildConnector.BuildOptions): buildConnector.connector {
    const connect = buildConnector({ ...options, lookup: this.lookup });
    return (target, callback) => {
      const refusal = this.hostRefusal(target.hostname);
      if (refusal) return callback(refusal, null);
      connect(target, callback);
    };
  }

  private allowsAddress(address: Address): boolean {
    if (this.allowed.some((range) => range[0].kind() === address.kind() && address.match(range))) return true;
    const reached = reachedInstead(address);
    if (reached) return this.allowsAddress(reached);
    return address.range() === 'unicast';
  }
}

/**
 * The address a connection to `address` actually reaches, when that is another one: the IPv4
 * address an IPv6 form embeds (IPv4-mapped, IPv4-compatible ::/96, NAT64 64:ff9b::/96, 6to4),
 * and loopback for the unspecified address (the kernel connects 0.0.0.0 and :: to this host).
 */
function reachedInstead(address: Address): Address | null {
  if (address.kind() === 'ipv4') return address.toString() === '0.0.0.0' ? ipaddr.parse('127.0.0.1') : null;
  const ipv6 = address as ipaddr.IPv6;
  const parts = ipv6.parts;
  const range = ipv6.range();
  if (range === 'unspecified') return ipaddr.parse('::1');
  if (range === 'ipv4Mapped') return ipv6.toIPv4Address();
  if (range === '6to4') return ipv4Of(parts[1], parts[2]);
  // ipaddr.js counts IPv4-compatible addresses (::7f00:1) as unicast.
  if (ipv6.match(NAT64) || (range === 'unicast' && ipv6.match(IPV4_COMPATIBLE))) return ipv4Of(parts[6], parts[7]);
  return null;
}

function ipv4Of(high: number, low: number): ipaddr.IPv4 {
  return new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff]);
}

function unbracketed(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}
