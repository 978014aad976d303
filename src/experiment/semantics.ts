/**
 * Rules checked after the schema (test/reference/SEMANTICS.md (c) and the blast-radius policy). Each part of the
 * document is checked only when the schema found nothing wrong inside it, so the typed access
 * below is safe and a user sees one explanation per mistake, not two.
 */
import {parseEnvoyExpectation, parsePrometheusExpectation} from '../probes/expect.js'
import {BUILTIN_DRIVER_METRICS, METRICS, parseThreshold} from '../probes/thresholds.js'
import {splitProblems} from '../load/k6-operator-plan.js'
import {formatDuration} from '@faultline/core/duration.js'
import type {Experiment, Fault, GameDay, Probe} from './model.js'
import {checkMatch} from './match-rules.js'
import {placeholderIssues} from './namespace.js'
import type {FieldPath, Issue} from './position.js'
import {checkDuration, checkHttpUrl, durationMs} from './rules.js'
import {setupIssues} from './setup-rules.js'

type Thresholds = Record<string, string[]>

/** Collects issues for the parts of a document the schema accepted. */
class Checker {
  readonly issues: Issue[] = []
  /** Paths with a schema issue, and every path above one: lookups stay cheap with thousands of issues. */
  private readonly at = new Set<string>()
  private readonly above = new Set<string>()

  constructor(schemaIssues: readonly Issue[]) {
    for (const issue of schemaIssues) {
      this.at.add(pathKey(issue.path))
      for (let i = 0; i < issue.path.length; i++) this.above.add(pathKey(issue.path.slice(0, i)))
    }
  }

  /** Whether the schema accepted everything at and below `path` (and nothing above it failed). */
  clean(path: FieldPath): boolean {
    return this.shaped(path) && !this.above.has(pathKey(path))
  }

  /** Whether nothing at or above `path` failed: the value there has the right shape, whatever is below. */
  shaped(path: FieldPath): boolean {
    for (let i = 0; i <= path.length; i++) if (this.at.has(pathKey(path.slice(0, i)))) return false
    return true
  }

  add(issue: Issue | undefined): void {
    if (issue !== undefined) this.issues.push(issue)
  }
}

function pathKey(path: FieldPath): string {
  return path.map(String).join('\u0000')
}

/** Semantic issues of an experiment at `base` (empty for a file, the entry's path for a GameDay inline one). */
export function experimentSemanticIssues(
  experiment: Experiment,
  schemaIssues: readonly Issue[],
  base: FieldPath = [],
): Issue[] {
  const c = new Checker(schemaIssues)
  const spec = [...base, 'spec']
  const {faults, phases, load, steadyState, guardrails, blastRadius} = experiment.spec ?? {}
  const policyClean = c.clean([...spec, 'blastRadius'])
  const policy = policyClean ? (blastRadius ?? {}) : {allowUntargeted: true}
  ;(Array.isArray(faults) ? faults : []).forEach((fault, i) => {
    const path = [...spec, 'faults', i]
    if (c.shaped(path)) checkFault(c, fault, path, policy)
  })
  const phasesPath = [...spec, 'phases']
  if (phases !== undefined && c.clean(phasesPath)) {
    for (const [name, text] of Object.entries(phases))
      c.add(checkDuration([...phasesPath, name], text, 1000, `phase ${name}`))
    if (guardrails?.maxDuration !== undefined && c.clean([...spec, 'guardrails', 'maxDuration'])) {
      checkMaxDuration(c, phases, guardrails.maxDuration, [...spec, 'guardrails', 'maxDuration'])
    }
  }
  const loadClean = load !== undefined && c.clean([...spec, 'load'])
  const trafficNames = loadClean ? checkLoad(c, load, [...spec, 'load']) : undefined
  const context: ProbeContext = {trafficNames, builtinDriver: loadClean && (load.driver ?? 'builtin') === 'builtin'}
  ;(Array.isArray(steadyState) ? steadyState : []).forEach((probe, i) => {
    const path = [...spec, 'steadyState', i]
    if (c.clean(path)) checkProbe(c, probe, path, context)
  })
  if (Array.isArray(steadyState) && c.clean([...spec, 'steadyState']))
    uniqueNames(c, steadyState, [...spec, 'steadyState'], 'probe')
  const abortWhen = guardrails?.abortWhen
  ;(Array.isArray(abortWhen) ? abortWhen : []).forEach((probe, i) => {
    const path = [...spec, 'guardrails', 'abortWhen', i]
    if (c.clean(path)) checkProbe(c, probe as Probe, path, context)
  })
  const prometheusUrl = experiment.spec?.prometheus?.url
  if (prometheusUrl !== undefined && c.clean([...spec, 'prometheus']))
    c.add(checkHttpUrl([...spec, 'prometheus', 'url'], prometheusUrl))
  const setup = experiment.spec?.setup
  if (setup !== undefined && c.clean([...spec, 'setup']))
    for (const issue of setupIssues(setup, [...spec, 'setup'])) c.add(issue)
  for (const issue of placeholderIssues(experiment, base)) if (c.shaped(issue.path)) c.add(issue)
  return c.issues
}

function checkFault(
  c: Checker,
  fault: Fault,
  path: FieldPath,
  policy: {allowUntargeted?: boolean; maxPercentage?: number},
): void {
  if (fault.delay === undefined && fault.abort === undefined) {
    c.add({
      path,
      at: 'value',
      message: 'HTTP fault injection must have an abort and/or a delay',
      hint: 'add delay: {fixedDelay: 7s, percentage: 100} or abort: {httpStatus: 503, percentage: 100}',
    })
  }
  if (fault.delay !== undefined && c.clean([...path, 'delay']))
    c.add(checkDuration([...path, 'delay', 'fixedDelay'], fault.delay.fixedDelay))
  for (const kind of ['delay', 'abort'] as const) {
    const percentage = c.clean([...path, kind]) ? fault[kind]?.percentage : undefined
    if (percentage !== undefined && policy.maxPercentage !== undefined && percentage > policy.maxPercentage) {
      c.add({
        path: [...path, kind, 'percentage'],
        at: 'value',
        message: `percentage ${percentage} is above spec.blastRadius.maxPercentage (${policy.maxPercentage})`,
        hint: `lower it to at most ${policy.maxPercentage}, or raise blastRadius.maxPercentage if affecting more requests is intended`,
      })
    }
  }
  if (!c.clean([...path, 'match'])) return
  if (fault.match !== undefined) for (const issue of checkMatch(fault.match, [...path, 'match'])) c.add(issue)
  const targeted = Object.keys(fault.match?.headers ?? {}).length > 0
  if (!targeted && policy.allowUntargeted !== true) {
    c.add({
      path: fault.match === undefined ? path : [...path, 'match'],
      at: 'key',
      message: `the fault on ${fault.service} has no header match, so it would hit every request to the service, including real users`,
      hint: 'add match.headers (e.g. x-chaos-test: {exact: "true"}) and send that header from a traffic class; or set spec.blastRadius.allowUntargeted: true if hitting all traffic is intended',
    })
  }
}

function checkMaxDuration(c: Checker, phases: Record<string, string>, maxDuration: string, path: FieldPath): void {
  const limit = durationMs(maxDuration)
  const parts = Object.values(phases).map(durationMs)
  if (limit === undefined || parts.some(p => p === undefined)) return
  c.add(checkDuration(path, maxDuration, 1, 'maxDuration'))
  const total = (parts as number[]).reduce((a, b) => a + b, 0)
  if (limit < total) {
    const list = Object.entries(phases)
      .map(([name, text]) => `${name} ${text}`)
      .join(' + ')
    c.add({
      path,
      at: 'value',
      message: `maxDuration ${maxDuration} is shorter than the phases (${list} = ${formatDuration(total)})`,
      hint: `maxDuration bounds the whole run, all three phases included, and stops it when exceeded; set it to at least ${formatDuration(total)} or shorten the phases`,
    })
  }
}

function checkLoad(c: Checker, load: Experiment['spec']['load'], path: FieldPath): Set<string> {
  c.add(checkHttpUrl([...path, 'url'], load.url))
  const names = new Set<string>()
  load.traffic.forEach((traffic, i) => {
    const at = [...path, 'traffic', i]
    if (names.has(traffic.name)) {
      c.add({
        path: [...at, 'name'],
        at: 'value',
        message: `traffic class name "${traffic.name}" is used twice`,
        hint: 'give every traffic class its own name; probes refer to them by name',
      })
    }
    names.add(traffic.name)
    if ((traffic.rate === undefined) === (traffic.vus === undefined)) {
      c.add({
        path: at,
        at: 'value',
        message:
          traffic.rate === undefined
            ? `traffic class "${traffic.name}" sets neither rate nor vus`
            : `traffic class "${traffic.name}" sets both rate and vus`,
        hint: 'set exactly one: rate (open model, e.g. 20/s) or vus (closed model: that many users looping)',
      })
    }
    if (traffic.rate !== undefined && Number.parseFloat(traffic.rate) <= 0) {
      c.add({
        path: [...at, 'rate'],
        at: 'value',
        message: `rate ${traffic.rate} sends no requests`,
        hint: 'use a positive rate such as 20/s',
      })
    }
    if (traffic.headers !== undefined) {
      for (const name of Object.keys(traffic.headers)) {
        if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name)) {
          c.add({
            path: [...at, 'headers', name],
            at: 'key',
            message: `header name ${name} is not a valid header name`,
            hint: "a header name is letters, digits and !#$%&'*+-.^_`|~, no spaces or colons",
          })
        }
      }
    }
  })
  // driver: k6-operator: the parallelism and how each rate splits across the runners (exit 2 here;
  // with --driver k6-operator on the command line the same check is preflight's, exit 4).
  if ((load.driver === 'k6-operator' || load.k6Operator !== undefined) && c.clean([...path, 'k6Operator'])) {
    for (const p of splitProblems(load))
      c.add({path: [...path, ...p.path], at: 'value', message: p.message, hint: p.hint})
  }
  return names
}

/** What probes are checked against: the traffic classes and which driver records the samples. */
interface ProbeContext {
  trafficNames: Set<string> | undefined
  builtinDriver: boolean
}

function checkProbe(c: Checker, probe: Probe, path: FieldPath, {trafficNames, builtinDriver}: ProbeContext): void {
  if (
    'traffic' in probe &&
    probe.traffic !== undefined &&
    trafficNames !== undefined &&
    !trafficNames.has(probe.traffic)
  ) {
    const known = [...trafficNames]
    c.add({
      path: [...path, 'traffic'],
      at: 'value',
      message: `no traffic class is named "${probe.traffic}"`,
      hint: `use one of ${known.join(', ')} (spec.load.traffic), or omit traffic to evaluate all classes`,
    })
  }
  if ('thresholds' in probe) checkThresholds(c, probe.thresholds as Thresholds, [...path, 'thresholds'], builtinDriver)
  if ('prometheus' in probe) {
    const parsed = parsePrometheusExpectation(probe.prometheus.expect)
    if (!parsed.ok)
      c.add({path: [...path, 'prometheus', 'expect'], at: 'value', message: parsed.message, hint: parsed.hint})
    if (probe.prometheus.url !== undefined) c.add(checkHttpUrl([...path, 'prometheus', 'url'], probe.prometheus.url))
  }
  if ('envoy' in probe) {
    const parsed = parseEnvoyExpectation(probe.envoy.expect)
    if (!parsed.ok) c.add({path: [...path, 'envoy', 'expect'], at: 'value', message: parsed.message, hint: parsed.hint})
    if (Object.keys(probe.envoy.pods).length === 0) {
      c.add({
        path: [...path, 'envoy', 'pods'],
        at: 'value',
        message: 'the pod selector is empty, so it would read every sidecar in the namespace',
        hint: 'select the pods by label, e.g. pods: {app: reviews}',
      })
    }
  }
  if ('http' in probe) {
    c.add(checkHttpUrl([...path, 'http', 'url'], probe.http.url))
    if (probe.http.timeout !== undefined) c.add(checkDuration([...path, 'http', 'timeout'], probe.http.timeout))
  }
  const phases = 'phases' in probe ? probe.phases : undefined
  if (phases !== undefined && new Set(phases).size !== phases.length) {
    c.add({
      path: [...path, 'phases'],
      at: 'value',
      message: 'a phase is listed twice',
      hint: 'list each of baseline, fault, recovery at most once',
    })
  }
}

function checkThresholds(c: Checker, thresholds: Thresholds, path: FieldPath, builtinDriver: boolean): void {
  const metrics = Object.keys(thresholds)
  if (metrics.length === 0)
    c.add({path, at: 'value', message: 'no thresholds', hint: 'e.g. http_req_duration: ["p(99)<500"]'})
  for (const metric of metrics) {
    if (builtinDriver && metric in METRICS && !BUILTIN_DRIVER_METRICS.includes(metric)) {
      c.add({
        path: [...path, metric],
        at: 'key',
        message: `the builtin load driver does not record ${metric}`,
        hint: `use one of ${BUILTIN_DRIVER_METRICS.join(', ')}, or set spec.load.driver: k6`,
      })
      continue
    }
    ;(thresholds[metric] ?? []).forEach((expression, j) => {
      const parsed = parseThreshold(metric, expression)
      if (parsed.ok) return
      const unknownMetric = parsed.on === 'metric'
      c.add({
        path: unknownMetric ? [...path, metric] : [...path, metric, j],
        at: unknownMetric ? 'key' : 'value',
        message: parsed.message,
        hint: parsed.hint,
      })
    })
  }
}

function uniqueNames(c: Checker, probes: ReadonlyArray<{name: string}>, path: FieldPath, what: string): void {
  const seen = new Set<string>()
  probes.forEach((probe, i) => {
    if (seen.has(probe.name))
      c.add({
        path: [...path, i, 'name'],
        at: 'value',
        message: `${what} name "${probe.name}" is used twice`,
        hint: 'reports list probes by name: give each its own',
      })
    seen.add(probe.name)
  })
}

/** Semantic issues of a GameDay's own fields (inline experiments are checked with experimentSemanticIssues). */
export function gameDaySemanticIssues(gameday: GameDay, schemaIssues: readonly Issue[]): Issue[] {
  const c = new Checker(schemaIssues)
  const spec = gameday.spec
  if (spec?.cooldown !== undefined && c.clean(['spec', 'cooldown']))
    c.add(checkDuration(['spec', 'cooldown'], spec.cooldown, 1, 'cooldown'))
  ;(Array.isArray(spec?.experiments) ? spec.experiments : []).forEach((entry, i) => {
    const path = ['spec', 'experiments', i]
    if (!c.clean(path)) return
    if ((entry.path === undefined) === (entry.experiment === undefined)) {
      c.add({
        path,
        at: 'value',
        message:
          entry.path === undefined
            ? 'set path (an experiment file) or experiment (an inline experiment)'
            : 'set exactly one of path, experiment (found both)',
        hint: 'each entry is either path: ratings-delay.yaml or experiment: {apiVersion…}',
      })
    }
    for (const [name, text] of Object.entries(entry.phases ?? {})) {
      if (text !== undefined) c.add(checkDuration([...path, 'phases', name], text, 1000, `phase ${name}`))
    }
  })
  return c.issues
}
