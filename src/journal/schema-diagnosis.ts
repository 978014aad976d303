/**
 * The journal's `blastRadius` (src/diagnosis/model.ts) as a TypeBox model, part of
 * schema/journal.schema.json (src/journal/schema.ts). Run `npm run schema` after changing it.
 */
import {type TSchema, Type} from '@sinclair/typebox'

import {WATCHED_FLAGS} from '../diagnosis/model.js'

const doc = (description: string) => ({description})
const text = (description: string) => Type.String(doc(description))
const count = (description: string) => Type.Number({...doc(description), minimum: 0})
const Phase = Type.Union(
  [Type.Literal('baseline'), Type.Literal('fault'), Type.Literal('recovery')],
  doc('A phase: baseline, fault or recovery.'),
)
const perPhase = <T extends TSchema>(item: T, description: string) =>
  Type.Object(
    {
      baseline: Type.Optional(item),
      fault: Type.Optional(item),
      recovery: Type.Optional(item),
    },
    {additionalProperties: false, ...doc(description)},
  )

const FlagCount = Type.Object(
  {
    count: count('Requests with this flag.'),
    meanMs: Type.Optional(count('Their mean duration, ms.')),
  },
  {additionalProperties: false},
)

const EdgePhase = Type.Object(
  {
    requests: count("Requests counted by the edge's reporter between the phase's two reads."),
    rps: count('Requests per second between the reads.'),
    codes: Type.Record(Type.String(), count(''), doc('response_code → requests (0: no response).')),
    errorRatio: Type.Number({
      ...doc('Requests answered outside 200–399 (or not at all), over requests.'),
      minimum: 0,
      maximum: 1,
    }),
    flags: Type.Object(
      {
        DI: Type.Optional(FlagCount),
        FI: Type.Optional(FlagCount),
        UT: Type.Optional(FlagCount),
        URX: Type.Optional(FlagCount),
        UO: Type.Optional(FlagCount),
        UH: Type.Optional(FlagCount),
        DC: Type.Optional(FlagCount),
        UF: Type.Optional(FlagCount),
      },
      {
        additionalProperties: false,
        ...doc(`Watched Envoy response flag (${WATCHED_FLAGS.join(', ')}) → its requests.`),
      },
    ),
    p50: Type.Optional(count("Median latency, ms, interpolated in istio_request_duration_milliseconds' buckets.")),
    p99: Type.Optional(count('99th percentile latency, ms, likewise.')),
    meanMs: Type.Optional(count('Mean duration, ms.')),
    responseBytes: Type.Optional(count('Mean response size, bytes (istio_response_bytes).')),
    envoy: Type.Optional(
      Type.Object(
        {
          retries: Type.Optional(count("upstream_rq_retry growth of the callers' outbound cluster.")),
          overflow: Type.Optional(count('upstream_rq_pending_overflow growth.')),
          ejectionsActive: Type.Optional(count('outlier_detection.ejections_active, the highest read.')),
        },
        {
          additionalProperties: false,
          ...doc("Envoy cluster counters of the callers' outbound cluster to the service."),
        },
      ),
    ),
  },
  {additionalProperties: false, ...doc('One edge in one phase.')},
)

const MapEdge = Type.Object(
  {
    id: text('source_workload→destination service.'),
    source: text('The calling workload (source_workload).'),
    destination: text("The service's short name."),
    destinationFqdn: text('destination_service.'),
    reporter: Type.Union(
      [Type.Literal('source'), Type.Literal('destination')],
      doc("Which sidecar's report the figures are."),
    ),
    servedBy: Type.Array(Type.String(), doc('The workloads that served it (destination_workload).')),
    entry: Type.Optional(Type.Boolean(doc("The load's own entry edge."))),
    faulted: Type.Optional(Type.Boolean(doc('A fault of the run targeted this service.'))),
    phases: perPhase(EdgePhase, "Phase → the edge's figures."),
  },
  {additionalProperties: false, ...doc('One edge source_workload → destination_service.')},
)

const ClassPhase = Type.Object(
  {
    requests: count('Requests of the class that completed in the phase.'),
    errorRatio: Type.Number({minimum: 0, maximum: 1}),
    p50: count('Median latency, ms.'),
    p99: count('99th percentile latency, ms.'),
  },
  {additionalProperties: false},
)

const BlastRadiusMap = Type.Object(
  {
    source: Type.Union(
      [Type.Literal('prometheus'), Type.Literal('sidecars'), Type.Literal('none')],
      doc('Where the figures come from.'),
    ),
    namespace: text('The namespace read.'),
    phases: Type.Array(Phase, doc('The phases with both reads.')),
    phaseMs: perPhase(count(''), "Milliseconds between each phase's two reads."),
    edges: Type.Array(MapEdge),
    workloads: Type.Record(Type.String(), Type.String(), doc('Workload → its canonical service.')),
    classes: Type.Record(
      Type.String(),
      Type.Object(
        {
          targeted: Type.Boolean(doc('A fault targets this class.')),
          phases: perPhase(ClassPhase, 'Phase → the class at the entry edge.'),
        },
        {additionalProperties: false},
      ),
      doc("The load's traffic classes at the entry edge."),
    ),
    reads: Type.Array(
      Type.Object(
        {
          phase: Phase,
          at: Type.Union([Type.Literal('start'), Type.Literal('end')]),
          t: count('Ms since the run started.'),
          pods: count('Sidecars (or Prometheus pods) read.'),
          failed: Type.Array(Type.String(), doc('Sidecars that could not be read.')),
        },
        {additionalProperties: false},
      ),
      doc('The reads at the phase boundaries.'),
    ),
    gaps: Type.Array(Type.String(), doc('What the map could not see.')),
  },
  {additionalProperties: false, ...doc('The blast-radius map.')},
)

const Finding = Type.Object(
  {
    rule: Type.Union(
      [
        Type.Literal('deadline'),
        Type.Literal('retries'),
        Type.Literal('overflow'),
        Type.Literal('ejection'),
        Type.Literal('silent-degradation'),
        Type.Literal('not-fired'),
        Type.Literal('blast-radius'),
        Type.Literal('control'),
      ],
      doc('The rule that found it.'),
    ),
    sentence: text('The finding, one plain sentence with its numbers.'),
    evidence: Type.Array(
      Type.Object(
        {
          edge: text('The edge id, or class:<name>.'),
          phase: Phase,
          what: text('What was measured.'),
        },
        {additionalProperties: false},
      ),
      doc('The figures behind it.'),
    ),
  },
  {additionalProperties: false},
)

/** The journal's `blastRadius`: the map and the diagnosis drawn from it. */
export const BlastRadiusSchema = Type.Object(
  {
    map: BlastRadiusMap,
    diagnosis: Type.Array(Finding, doc('One finding per rule that found its evidence, in order.')),
  },
  {
    additionalProperties: false,
    title: 'Blast radius',
    ...doc('What the mesh counted per edge and phase, and the diagnosis drawn from it (src/diagnosis/).'),
  },
)
