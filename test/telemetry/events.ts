/** Synthetic run events for the telemetry tests: a stream on a fake clock and the shapes the runner emits. */
import type {AppliedFault, ProbeResult} from '../../src/journal/events.js'
import {EventStream} from '../../src/journal/events.js'

/** An event stream whose clock the test moves. */
export function fakeStream(): {events: EventStream; advance: (ms: number) => void} {
  let now = Date.parse('2026-11-26T01:00:00Z')
  return {
    events: new EventStream(() => now),
    advance: ms => {
      now += ms
    },
  }
}

/** `run-started` for an experiment on the sandbox. */
export function started(experiment: string): Parameters<EventStream['emit']>[0] {
  return {
    kind: 'run-started',
    runId: '20261126-010000-abcd',
    experiment,
    file: `experiments/${experiment}.yaml`,
    driver: 'builtin',
    driverVersion: '1',
    target: {source: 'sandbox', context: 'faultline-sandbox', server: 'https://127.0.0.1:1', namespace: 'default'},
  }
}

/** A VirtualService write as the fault phase reports it: one fault route named as the compiler names them. */
export function applied(name: string, hosts: string[], authorityRegex?: string): AppliedFault {
  const match = [
    {headers: {'x-chaos': {exact: '1'}}, ...(authorityRegex === undefined ? {} : {authority: {regex: authorityRegex}})},
  ]
  return {
    namespace: 'default',
    name,
    action: 'create',
    resourceVersion: '7',
    after: {
      hosts,
      http: [
        {
          name: 'faultline:20261126-010000-abcd:default',
          match,
          fault: {abort: {httpStatus: 503, percentage: {value: 100}}},
          route: [{destination: {host: hosts[0]}}],
        },
        {name: 'default', route: [{destination: {host: hosts[0]}}]},
      ],
    },
  }
}

/** A probe verdict. */
export function probe(name: string, phase: ProbeResult['phase'], status: ProbeResult['status']): ProbeResult {
  return {probe: name, kind: 'threshold', phase, status, actual: 'p(95)=120ms', expected: 'p(95)<4000'}
}
