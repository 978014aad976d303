/**
 * The journal (`journal.json`) as one TypeBox model: the single source of the journal's TypeScript
 * types (each `Static` below, re-exported where the runner and the reports use them) and of its
 * published JSON Schema (`schema/journal.schema.json`, written by schema.ts, which `chaos report`
 * checks a journal read from disk against before rendering). Run `npm run schema` after changing it.
 */
import {type Static, type TProperties, Type} from '@sinclair/typebox'

import {Experiment, PHASES} from '../experiment/model.js'
import {BlastRadiusSchema} from './schema-diagnosis.js'

const text = (description: string) => Type.String({description})
const doc = (description: string) => ({description})
const literals = <T extends string>(values: readonly T[], description: string) =>
  Type.Union(
    values.map(v => Type.Literal(v)),
    doc(description),
  )
const Ms = (description: string) => Type.Number({...doc(description), minimum: 0})
const Timestamp = (description: string) => Type.String({...doc(description), format: 'date-time'})

/** How a run ended (README, "Exit codes"). */
export const Outcome = literals(
  ['held', 'deviated', 'aborted', 'could-not-run', 'revert-failed'] as const,
  'How the run ended: held (0), deviated (1), aborted (3), could-not-run (4), revert-failed (5).',
)
const PhaseName = literals(PHASES, 'A phase: baseline, fault or recovery.')

/** One probe evaluated in one phase. */
export const ProbeResult = Type.Object(
  {
    probe: Type.String(doc("The probe's name as written in the experiment.")),
    kind: literals(['threshold', 'prometheus', 'envoy', 'http'] as const, 'The kind of probe.'),
    phase: PhaseName,
    status: literals(
      ['held', 'missed', 'errored'] as const,
      'held; missed its tolerance; or errored (no data is never a pass).',
    ),
    actual: Type.String(doc('The measured value(s), e.g. p(95)=5980ms.')),
    expected: Type.String(doc('The expectation as written, e.g. http_req_duration p(95)<4000.')),
    message: Type.Optional(Type.String(doc('Why it errored, or what it measured in words.'))),
    value: Type.Optional(Type.Number(doc('The main measured number, for charts and trends.'))),
  },
  {additionalProperties: false, title: 'Probe result', ...doc('One probe evaluated in one phase.')},
)

/** What was written to one VirtualService. */
export const AppliedFault = Type.Object(
  {
    kind: Type.Optional(
      Type.Literal(
        'DestinationRule',
        doc('DestinationRule for a spec.setup patch; absent for a VirtualService (a fault).'),
      ),
    ),
    namespace: Type.String(doc('Namespace of the VirtualService.')),
    name: Type.String(doc('Name of the VirtualService.')),
    action: literals(
      ['create', 'update'] as const,
      'create (a VirtualService of our own) or update (an existing one).',
    ),
    resourceVersion: Type.String(doc('The resourceVersion the API server gave our write.')),
    before: Type.Optional(Type.Unknown(doc('The VirtualService spec before our write (updates only).'))),
    after: Type.Unknown(doc('The VirtualService spec we wrote.')),
  },
  {
    additionalProperties: false,
    title: 'Applied fault',
    ...doc("What was written to one VirtualService, for the report's diff."),
  },
)

/** One second of one traffic class's load. */
export const SecondStats = Type.Object(
  {
    traffic: Type.String(doc('The traffic class.')),
    second: Type.Integer({...doc('Seconds since the load started.'), minimum: 0}),
    requests: Type.Integer({...doc('Requests completed in this second.'), minimum: 0}),
    failed: Type.Integer({...doc("k6's http_req_failed: network errors and statuses outside 200–399."), minimum: 0}),
    dropped: Type.Integer({
      ...doc("Requests not sent because too many were in flight (k6's dropped_iterations)."),
      minimum: 0,
    }),
    cancelled: Type.Optional(
      Type.Integer({
        ...doc(
          'Requests the runner cancelled (a hard stop) or that never completed: counted neither as passed nor as failed.',
        ),
        minimum: 0,
      }),
    ),
    statuses: Type.Record(Type.String(), Type.Integer({minimum: 0}), doc('HTTP status (or error class) → count.')),
    reasons: Type.Optional(
      Type.Record(
        Type.String(),
        Type.Integer({minimum: 0}),
        doc(
          "Why the failed requests failed, reason → count, summing to failed: a network error (ENOTFOUND productpage, ECONNREFUSED 127.0.0.1:9080, reset (ECONNRESET), timeout, TLS …, proxy …) or an HTTP status with Envoy's response flag when the answer was an Envoy local reply (503 UO, 500 FI), else the bare status (absent in older journals).",
        ),
      ),
    ),
    p50: Ms('Median latency, ms.'),
    p95: Ms('95th percentile latency, ms.'),
    p99: Ms('99th percentile latency, ms.'),
    max: Ms('Maximum latency, ms.'),
    histogram: Type.String(doc("The second's latency histogram, HdrHistogram compressed base64 (values in µs).")),
  },
  {additionalProperties: false, title: 'Load second', ...doc("One second of one traffic class's load.")},
)

export const InFlight = Type.Object(
  {
    traffic: text('The traffic class.'),
    count: Type.Integer({...doc('Requests in flight.'), minimum: 0}),
    oldestMs: Ms('Age of the oldest one, ms (0 when none).'),
  },
  {additionalProperties: false, ...doc("One class's requests in flight at one moment.")},
)

/** A phase stopped before its planned length. */
export const PhaseCut = Type.Object(
  {
    reason: text('Why the phase was cut short.'),
    afterMs: Ms('How long the phase had run.'),
    plannedMs: Ms('Its planned length.'),
    inFlight: Type.Array(InFlight, doc('Requests in flight when it was cut, per class: the runner cancelled them.')),
  },
  {additionalProperties: false, ...doc('A phase cut short: incomplete, its probes not evaluated.')},
)

/** One PromQL query's range series over the whole run. */
export const ProbeSeries = Type.Object(
  {
    probe: text('The probe or abort condition the query belongs to.'),
    query: text('The PromQL query.'),
    stepSeconds: Type.Number({...doc("The range query's step, seconds."), exclusiveMinimum: 0}),
    series: Type.Array(
      Type.Object(
        {
          labels: Type.Record(Type.String(), Type.String(), doc("The series' labels.")),
          points: Type.Array(
            Type.Tuple([Ms('Milliseconds since the run started.'), Type.Number(doc('The value.'))]),
            doc('[t, value] pairs.'),
          ),
        },
        {additionalProperties: false},
      ),
      doc('One entry per label set the query returned.'),
    ),
    error: Type.Optional(text('Why there is no series (the query failed or Prometheus did not answer).')),
  },
  {
    additionalProperties: false,
    title: 'Probe series',
    ...doc("A PromQL probe's range series over the whole run, for the report's charts."),
  },
)

export const ClusterTarget = Type.Object(
  {
    source: literals(['kubeconfig', 'in-cluster', 'sandbox'] as const, 'Where the cluster connection came from.'),
    context: Type.String(doc('The kubeconfig context.')),
    server: Type.String(doc('The API server URL.')),
    namespace: Type.String(doc('The namespace under test.')),
    user: Type.Optional(Type.String(doc('The kubeconfig user.'))),
  },
  {additionalProperties: false, ...doc('The cluster the run talked to.')},
)

const event = <K extends string, F extends TProperties>(kind: K, description: string, fields: F) =>
  Type.Object(
    {
      t: Ms('Milliseconds since the run started.'),
      at: Timestamp('Wall-clock time of the event.'),
      kind: Type.Literal(kind, doc(description)),
      ...fields,
    },
    {additionalProperties: false, title: `${kind} event`, ...doc(description)},
  )

export const RunEventUnion = Type.Union([
  event('run-started', 'The run started.', {
    runId: text('The run id.'),
    experiment: text("The experiment's name."),
    file: text('The experiment file.'),
    target: ClusterTarget,
    driver: text('The load driver.'),
    driverVersion: text("The load driver's version."),
  }),
  event('preflight', 'One preflight check.', {
    check: text('Which check.'),
    status: literals(['ok', 'warning', 'failed'] as const, 'ok, warning or failed.'),
    message: text('What it found.'),
    hint: Type.Optional(text('What to do about it.')),
  }),
  event('phase-started', 'A phase started.', {phase: PhaseName, plannedMs: Ms('Its planned length.')}),
  event('phase-ended', 'A phase ended.', {phase: PhaseName, cutShort: Type.Optional(PhaseCut)}),
  event('fault-applied', 'A VirtualService was written.', {fault: AppliedFault}),
  event('setup-applied', 'A spec.setup DestinationRule was patched before the baseline (kept in applied too).', {
    setup: AppliedFault,
  }),
  event('fault-evidence', 'First evidence that the fault took effect.', {
    source: text('Where the evidence comes from.'),
    message: text('The evidence.'),
    afterWriteMs: Ms('How long after the write.'),
  }),
  event('fault-not-fired', 'No evidence that the fault ever took effect.', {
    message: text('What was checked.'),
    hint: text('Why that may be.'),
  }),
  event('control-evidence', 'Whether the control traffic was left untouched.', {
    untouched: Type.Boolean(doc('True when the control traffic did not change.')),
    message: text('The comparison.'),
  }),
  event('load-second', 'One second of load (kept in load, not events).', {second: SecondStats}),
  event('load-progress', 'Requests in flight, once a second (kept in inFlight, not events).', {
    loadMs: Ms('Milliseconds since the load started.'),
    inFlight: Type.Array(InFlight),
  }),
  event('probe-result', 'A probe evaluated in a phase.', {result: ProbeResult}),
  event('probe-series', "A PromQL probe's series (kept in series, not events).", {series: ProbeSeries}),
  event('blast-radius', 'The blast-radius map and the diagnosis (kept in blastRadius, not events).', {
    blastRadius: BlastRadiusSchema,
  }),
  event('guardrail-breached', 'A guardrail held: the run stops and reverts.', {
    guardrail: text('Which guardrail.'),
    message: text('What it measured.'),
  }),
  event('revert', 'One VirtualService reverted (or a spec.setup DestinationRule restored).', {
    resource: Type.Optional(
      Type.Literal('DestinationRule', doc('DestinationRule for a spec.setup restore; absent for a VirtualService.')),
    ),
    namespace: text('Namespace.'),
    name: text('Name.'),
    action: literals(
      ['restored', 'stripped', 'deleted', 'absent'] as const,
      'How: restored exactly, stripped of our routes, deleted, or already absent.',
    ),
    message: text('Why this way.'),
  }),
  event('last-evidence', 'The last faulted request seen after the revert.', {
    afterRevertMs: Ms('How long after the revert.'),
    message: text('The evidence.'),
  }),
  event('revert-failed', 'A revert failed: the fault may still be live.', {
    resource: Type.Optional(
      Type.Literal('DestinationRule', doc('DestinationRule for a spec.setup restore; absent for a VirtualService.')),
    ),
    namespace: text('Namespace.'),
    name: text('Name.'),
    message: text('Why it failed.'),
    command: text('The command that cleans up by hand.'),
  }),
  event('log', 'A message.', {
    level: literals(['info', 'warn', 'error'] as const, 'Severity.'),
    message: text('The message.'),
  }),
  event('run-finished', 'The run ended.', {
    outcome: Outcome,
    exitCode: Type.Integer(doc('The exit code.')),
    reason: text('Why, in one sentence.'),
  }),
])

/**
 * A lifecycle event. `oneOf` with a discriminator on kind (rather than TypeBox's anyOf), so a bad
 * event is reported against its own kind's schema, not against all sixteen.
 */
export const RunEvent = Type.Unsafe<Static<typeof RunEventUnion>>({
  ...doc('A lifecycle event, told apart by kind; t is milliseconds since the run started, at the wall-clock time.'),
  oneOf: RunEventUnion.anyOf,
  discriminator: {propertyName: 'kind'},
})

/** The schema's `$id`, the URL it is published under. */
export const JOURNAL_SCHEMA_ID = 'https://faultline.dev/schema/journal.schema.json'

/** The journal document. */
export const JournalDocument = Type.Object(
  {
    kind: Type.Literal('FaultlineJournal', doc('Always FaultlineJournal.')),
    version: Type.Literal(1, doc('Journal format version; bumped on incompatible changes.')),
    runId: text('The run id (also on the VirtualServices it wrote).'),
    experiment: Type.Object(
      {
        name: text("The experiment's name."),
        file: text('The experiment file as given on the command line.'),
        spec: Type.Unsafe<Experiment>({
          $ref: '#/$defs/Experiment',
          description:
            'The experiment as loaded, every probe with the phases it was planned for (phase overrides are in phases, not here).',
        }),
      },
      {additionalProperties: false, ...doc('The experiment that ran.')},
    ),
    status: literals(
      ['running', 'finished'] as const,
      'running until the run ends; a journal left running belongs to a run that died.',
    ),
    outcome: Type.Optional(Outcome),
    deviated: Type.Optional(Type.Boolean(doc('True when the hypothesis deviated.'))),
    exitCode: Type.Optional(Type.Integer({...doc('The exit code (README, "Exit codes").'), minimum: 0, maximum: 5})),
    reason: Type.Optional(text('Why the run ended this way, in one sentence.')),
    startedAt: Timestamp('When the run started.'),
    finishedAt: Type.Optional(Timestamp('When the run ended.')),
    environment: Type.Record(
      Type.String(),
      Type.String(),
      doc('Cluster, context, server, namespace, runner, node, driver, user.'),
    ),
    phases: Type.Array(
      Type.Object(
        {
          name: text('baseline, fault or recovery.'),
          startT: Ms('Start, ms since the run started.'),
          endT: Type.Optional(Ms('End, ms since the run started (absent while running or when cut short).')),
          plannedMs: Ms('Planned length.'),
          cutShort: Type.Optional(PhaseCut),
        },
        {additionalProperties: false},
      ),
      doc('The phases that ran, in order.'),
    ),
    applied: Type.Array(
      AppliedFault,
      doc('Every VirtualService written, and every spec.setup DestinationRule patched (kind DestinationRule).'),
    ),
    reverted: Type.Array(
      Type.Object(
        {
          namespace: text('Namespace.'),
          name: text('Name.'),
          action: text('restored, stripped, deleted or absent.'),
          t: Ms('When, ms since the run started.'),
        },
        {additionalProperties: false},
      ),
      doc('Every successful revert.'),
    ),
    probes: Type.Array(ProbeResult, doc('Every probe result.')),
    series: Type.Optional(
      Type.Array(
        ProbeSeries,
        doc(
          'PromQL range series over the whole run, for the charts (absent in journals of runs before it was recorded).',
        ),
      ),
    ),
    load: Type.Record(Type.String(), Type.Array(SecondStats), doc('Traffic class → its load, one entry per second.')),
    inFlight: Type.Optional(
      Type.Record(
        Type.String(),
        Type.Array(
          Type.Object(
            {
              loadMs: Ms('Milliseconds since the load started.'),
              count: Type.Integer({...doc('Requests in flight.'), minimum: 0}),
              oldestMs: Ms('Age of the oldest one, ms.'),
            },
            {additionalProperties: false},
          ),
        ),
        doc('Traffic class → requests in flight, sampled once a second (absent in older journals).'),
      ),
    ),
    blastRadius: Type.Optional(BlastRadiusSchema),
    events: Type.Array(RunEvent, doc('Every event except load seconds, in order.')),
  },
  {
    additionalProperties: false,
    title: 'Faultline journal',
    ...doc('The journal of one chaos run (journal.json).'),
    // A finished journal says how it ended.
    if: {properties: {status: {const: 'finished'}}, required: ['status']},
    then: {required: ['outcome', 'deviated', 'exitCode', 'reason', 'finishedAt']},
  },
)
export type JournalDocument = Static<typeof JournalDocument>

/** How a run ended (README, "Exit codes"). */
export type Outcome = Static<typeof Outcome>
/** One probe evaluated in one phase. */
export type ProbeResult = Static<typeof ProbeResult>
/** A probe's verdict in one phase: `missed` its tolerance, or `errored` (no data is never a pass). */
export type ProbeStatus = ProbeResult['status']
/** What was written to one VirtualService (or, for `spec.setup`, DestinationRule), for the report's diff. */
export type AppliedFault = Static<typeof AppliedFault>
/** One second of one traffic class's load. */
export type SecondStats = Static<typeof SecondStats>
/** Requests of one class in flight at a moment: how many, and how long the oldest has been waiting. */
export type InFlight = Static<typeof InFlight>
/**
 * A phase stopped before its planned length (Ctrl-C, a guardrail, the time limit): it is
 * incomplete, so its probes are not evaluated, and the requests still in flight then are counted
 * with their age (the runner cancels them; they are never counted as failures).
 */
export type PhaseCut = Static<typeof PhaseCut>
/** One query's series over the run; `t` is ms since the run started. */
export type ProbeSeries = Static<typeof ProbeSeries>
/** A lifecycle event; `t` is milliseconds since the run started, `at` the wall-clock time. */
export type RunEvent = Static<typeof RunEventUnion>
