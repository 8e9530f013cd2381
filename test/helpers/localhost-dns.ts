/**
 * Browsers resolve every `*.localhost` name to loopback (RFC 6761 §6.3), which is how the
 * quick start gives each agency its own origin; Node's resolver (getaddrinfo) does not.
 * Tests whose fetches follow the gateway to an agency's host install this for their
 * lifetime: `<anything>.localhost` connects to 127.0.0.1, the Host header stays the name.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns'
import type { Test } from 'tap'
import { Agent, getGlobalDispatcher, setGlobalDispatcher } from 'undici'

export function resolveLocalhostSubdomains(t: Test): void {
  const previous = getGlobalDispatcher()
  const agent = new Agent({
    connect: {
      lookup(hostname, options, callback) {
        if (hostname === 'localhost' || hostname.endsWith('.localhost')) {
          const address: LookupAddress = { address: '127.0.0.1', family: 4 }
          if ((options as { all?: boolean }).all) (callback as (e: null, a: LookupAddress[]) => void)(null, [address])
          else (callback as (e: null, a: string, f: number) => void)(null, address.address, address.family)
          return
        }
        dnsLookup(hostname, options, callback)
      },
    },
  })
  setGlobalDispatcher(agent)
  t.teardown(async () => {
    setGlobalDispatcher(previous)
    await agent.close()
  })
}
