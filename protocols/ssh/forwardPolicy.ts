// The forwarding policy of config.toml [ssh]: which destinations `ssh -L`/`-D` may reach and which
// addresses `ssh -R` may listen on. A pattern is HOST:PORT; HOST is an IP address, a CIDR block
// (10.0.0.0/8, [fd00::]/8), a host name (matched case-insensitively, `*` as a wildcard label) or
// `*`; PORT is a number or `*`. IPv6 hosts are written in brackets. Pure: the caller resolves names.
import { BlockList, isIP } from 'node:net';

export interface ForwardRule {
  text: string;
  /** Matches an address (IP) or a name. */
  host: (host: string) => boolean;
  port: number | '*';
}

/** Parses one pattern; throws a one-line reason naming it. */
export function parseForwardRule(text: string): ForwardRule {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\*|\d{1,5})$/.exec(text.trim());
  if (!m) throw new Error(`forwarding rule "${text.slice(0, 80)}" must be HOST:PORT (IPv6 in brackets, * for any)`);
  const hostText = (m[1] ?? m[2])!.toLowerCase();
  const port = m[3] === '*' ? '*' : Number(m[3]);
  if (port !== '*' && (port < 1 || port > 65535)) throw new Error(`forwarding rule "${text}": port must be 1 to 65535 or *`);
  return { text, host: hostMatcher(hostText, text), port };
}

function hostMatcher(host: string, rule: string): (candidate: string) => boolean {
  if (host === '*') return () => true;
  const slash = host.indexOf('/');
  if (slash !== -1) {
    const base = host.slice(0, slash);
    const bits = Number(host.slice(slash + 1));
    const family = isIP(base);
    if (family === 0 || !Number.isInteger(bits) || bits < 0 || bits > (family === 4 ? 32 : 128)) throw new Error(`forwarding rule "${rule}": bad CIDR block`);
    const list = new BlockList();
    list.addSubnet(base, bits, family === 4 ? 'ipv4' : 'ipv6');
    return (candidate) => {
      const f = isIP(candidate);
      return f !== 0 && list.check(candidate, f === 4 ? 'ipv4' : 'ipv6');
    };
  }
  const family = isIP(host);
  if (family !== 0) {
    const list = new BlockList();
    list.addAddress(host, family === 4 ? 'ipv4' : 'ipv6');
    return (candidate) => {
      const f = isIP(candidate);
      return f !== 0 && list.check(candidate, f === 4 ? 'ipv4' : 'ipv6');
    };
  }
  if (!/^[a-z0-9*]([a-z0-9*-]*[a-z0-9*])?(\.[a-z0-9*]([a-z0-9*-]*[a-z0-9*])?)*$/.test(host)) throw new Error(`forwarding rule "${rule}": "${host}" is not an address, a CIDR block or a host name`);
  const re = new RegExp(`^${host.split('*').map((p) => p.replace(/[.\\-]/g, (c) => `\\${c}`)).join('[a-z0-9-]*')}$`);
  return (candidate) => isIP(candidate) === 0 && re.test(candidate.toLowerCase());
}

export class ForwardPolicy {
  readonly #rules: ForwardRule[];
  constructor(patterns: readonly string[]) {
    this.#rules = patterns.map(parseForwardRule);
  }

  /**
   * Whether HOST:PORT is allowed. `names` are what the host is known by besides its address (the
   * name the client asked for): a rule may match the name or the address it resolved to.
   */
  allows(address: string, port: number, names: readonly string[] = []): boolean {
    const candidates = [address, ...names];
    return this.#rules.some((rule) => (rule.port === '*' || rule.port === port) && candidates.some((c) => rule.host(c)));
  }

  /** Whether some rule allows every port on this address (what a request for port 0 needs). */
  allowsAnyPort(address: string): boolean {
    return this.#rules.some((rule) => rule.port === '*' && rule.host(address));
  }

  describe(): string {
    return this.#rules.length === 0 ? 'nothing' : this.#rules.map((r) => r.text).join(', ');
  }
}
