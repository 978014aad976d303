/**
 * Which of an experiment's traffic classes its faults target (pure): a class is targeted when its
 * headers satisfy some fault's header match, as a sidecar would match them; the rest are control.
 * The runner compares the two during the fault phase; the reports group and colour them the same way.
 */
import {stringMatches} from '@faultline/core/istio/routing.js'
import type {Experiment} from './model.js'

/** Traffic classes whose headers satisfy some fault's header match (the rest are control). */
export function targetedClasses(input: {experiment: Experiment}): Set<string> {
  const {faults, load} = input.experiment.spec
  const targeted = new Set<string>()
  for (const t of load.traffic) {
    const headers = Object.fromEntries(Object.entries(t.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]))
    const hit = faults.some(f =>
      Object.entries(f.match?.headers ?? {}).every(([k, m]) => stringMatches(m, headers[k.toLowerCase()])),
    )
    if (hit) targeted.add(t.name)
  }
  return targeted
}
