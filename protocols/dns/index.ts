// The DNS front end: authoritative answers for pkarr keys and configured zones, forwarding, over
// plain UDP/TCP (its own port), DoT (`dot`), DoQ (`doq`) and DoH (/dns-query). Wire and decisions: docs/dns.md.
export { DnsCore, dnsCoreFromConfig, type DnsClient, type DnsTransport, type PkarrLookup } from './core.ts';
export { DEFAULT_DNS_CONFIG, readDnsConfig, parseDnsListen, type DnsConfig } from './config.ts';
export { dnsProtocols, DOT_ALPN, DOQ_ALPN } from './protocol.ts';
export { dohMount, DOH_PATH } from './doh.ts';
export { plainDnsActorLogic, type PlainDnsActorInput } from './plainActor.ts';
export { startPlainDns, type PlainDnsServer } from './server.ts';
