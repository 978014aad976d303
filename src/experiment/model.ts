/**
 * The one typed model of an experiment file (apiVersion faultline.dev/v1alpha1). The TypeScript
 * types and the published JSON Schema (`schema/experiment.schema.json`) are both derived from
 * these definitions; nothing is kept in parallel by hand.
 */
import {GRPC_STATUSES} from '@faultline/core/istio/webhook-rules.js'
import {type Static, type TSchema, Type} from '@sinclair/typebox'

/** The apiVersion every file must carry. */
export const API_VERSION = 'faultline.dev/v1alpha1'

const doc = (description: string) => ({description})

/** A Go-style duration in whole milliseconds or coarser: `500ms`, `7s`, `1m30s`, `2h`. */
export const Duration = Type.String({
  ...doc('A duration such as 500ms, 7s, 1m30s or 2h (whole milliseconds, at least 1ms).'),
  pattern: '^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$',
})

/** Istio StringMatch: exactly one of exact, prefix, regex (RE2, full-string). */
export const StringMatch = Type.Union(
  [
    Type.Object(
      {exact: Type.String(doc('Matches the whole value exactly (case-sensitive).'))},
      {additionalProperties: false},
    ),
    Type.Object({prefix: Type.String(doc('Matches values starting with this string.'))}, {additionalProperties: false}),
    Type.Object(
      {regex: Type.String(doc('An RE2 regular expression matched against the whole value.'))},
      {additionalProperties: false},
    ),
  ],
  doc("Exactly one of exact, prefix or regex, as in Istio's StringMatch."),
)
export type StringMatch = Static<typeof StringMatch>

const StringMatchMap = (what: string) => Type.Record(Type.String(), StringMatch, doc(what))

/** The request match of a fault: a subset of Istio's HTTPMatchRequest. */
export const FaultMatch = Type.Object(
  {
    headers: Type.Optional(
      StringMatchMap('Header name (lowercase) → match. Targets the fault at requests carrying these headers.'),
    ),
    withoutHeaders: Type.Optional(StringMatchMap('Header name (lowercase) → match that must NOT hold.')),
    uri: Type.Optional(StringMatch),
    method: Type.Optional(StringMatch),
    queryParams: Type.Optional(StringMatchMap('Query parameter → match.')),
  },
  {
    additionalProperties: false,
    ...doc(
      'Which requests the fault applies to (Istio HTTPMatchRequest subset). A header match is required unless the blast-radius policy allows untargeted faults.',
    ),
  },
)
export type FaultMatch = Static<typeof FaultMatch>

/** Percentage of matching requests, 0.0001–100. */
export const Percentage = Type.Number({
  ...doc('Percentage of matching requests affected, 0.0001 to 100.'),
  minimum: 0.0001,
  maximum: 100,
})

/** A fixed delay injected by the calling sidecar. */
export const Delay = Type.Object(
  {
    fixedDelay: Duration,
    percentage: Percentage,
  },
  {additionalProperties: false, ...doc('Delay matching requests by fixedDelay before forwarding them.')},
)
export type Delay = Static<typeof Delay>

/** gRPC status names Istio accepts for an abort (one list with the webhook rules that check it). */
export {GRPC_STATUSES}

/** An abort answered locally by the calling sidecar. */
export const Abort = Type.Union(
  [
    Type.Object(
      {
        httpStatus: Type.Integer({...doc('HTTP status to answer with, 200–599.'), minimum: 200, maximum: 599}),
        percentage: Percentage,
      },
      {additionalProperties: false},
    ),
    Type.Object(
      {
        grpcStatus: Type.Union(
          GRPC_STATUSES.map(s => Type.Literal(s)),
          doc('gRPC status name, e.g. UNAVAILABLE.'),
        ),
        percentage: Percentage,
      },
      {additionalProperties: false},
    ),
  ],
  doc('Abort matching requests with httpStatus or grpcStatus.'),
)
export type Abort = Static<typeof Abort>

/** One header-targeted fault on one service. */
export const Fault = Type.Object(
  {
    service: Type.String({
      ...doc('The host the fault applies to: short name (ratings), FQDN, or a host an existing VirtualService routes.'),
      minLength: 1,
    }),
    match: Type.Optional(FaultMatch),
    delay: Type.Optional(Delay),
    abort: Type.Optional(Abort),
  },
  {additionalProperties: false, title: 'Fault', ...doc('A delay and/or abort on requests to one service.')},
)
export type Fault = Static<typeof Fault>

/** The three phases of a run, on one clock. */
export const Phases = Type.Object(
  {
    baseline: Duration,
    fault: Duration,
    recovery: Duration,
  },
  {additionalProperties: false, ...doc('How long each phase lasts.')},
)
export type Phases = Static<typeof Phases>

/** The phase names. */
export const PHASES = ['baseline', 'fault', 'recovery'] as const
/** One phase name. */
export type PhaseName = (typeof PHASES)[number]
const PhaseList = Type.Array(Type.Union(PHASES.map(p => Type.Literal(p))), {
  ...doc('Phases this probe is evaluated in (default: all three: baseline, fault, recovery).'),
  minItems: 1,
})

/** A class of load traffic (e.g. targeted vs control). */
export const TrafficClass = Type.Object(
  {
    name: Type.String({
      ...doc('Unique name, referenced by probes (e.g. targeted, control).'),
      pattern: '^[a-z0-9]([-a-z0-9_]*[a-z0-9])?$',
    }),
    rate: Type.Optional(
      Type.String({...doc('Open-model arrival rate, e.g. 20/s, 600/m.'), pattern: '^[0-9]+(\\.[0-9]+)?/(s|m|h)$'}),
    ),
    vus: Type.Optional(Type.Integer({...doc('Closed model: this many virtual users looping.'), minimum: 1})),
    headers: Type.Optional(
      Type.Record(Type.String(), Type.String(), doc('Headers sent with every request of this class.')),
    ),
  },
  {
    additionalProperties: false,
    ...doc(
      "A class of load traffic with its own rate and headers, e.g. targeted (sends the fault's header) and control.",
    ),
  },
)
export type TrafficClass = Static<typeof TrafficClass>

/** The load drivers. */
export const LOAD_DRIVERS = ['builtin', 'k6', 'k6-operator'] as const
/** One load driver's name. */
export type LoadDriverName = (typeof LOAD_DRIVERS)[number]

const StringMap = (what: string) => Type.Record(Type.String(), Type.String(), doc(what))

/** How the k6-operator driver runs the load inside the cluster (grafana/k6-operator's TestRun). */
export const K6Operator = Type.Object(
  {
    parallelism: Type.Optional(
      Type.Integer(
        doc(
          "How many k6 runner pods share the load (default 1, at most 64): each sends 1/parallelism of every traffic class's rate, so every rate must split into whole requests per second or per minute per runner.",
        ),
      ),
    ),
    namespace: Type.Optional(
      Type.String({
        ...doc(
          "Namespace the TestRun, its ConfigMap and runner pods are created in (default: the run's target namespace).",
        ),
        pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$',
      }),
    ),
    runnerImage: Type.Optional(
      Type.String({
        ...doc(
          "The runner image (default grafana/k6:latest): it needs k6's experimental-prometheus-rw output (k6 v0.42 or newer).",
        ),
        minLength: 1,
      }),
    ),
    resources: Type.Optional(
      Type.Object(
        {
          requests: Type.Optional(StringMap('e.g. {cpu: 500m, memory: 256Mi}')),
          limits: Type.Optional(
            StringMap(
              'e.g. {memory: 1Gi}. A CPU limit throttles the load generator, and throttling shows as latency the mesh never added.',
            ),
          ),
        },
        {additionalProperties: false, ...doc("The runner container's resources.")},
      ),
    ),
    serviceAccount: Type.Optional(
      Type.String({...doc("The runner pods' service account (default: the namespace's default)."), minLength: 1}),
    ),
    nodeSelector: Type.Optional(StringMap('Node labels the runner pods must be scheduled on.')),
    labels: Type.Optional(StringMap("Extra labels on the runner pods (the run's own labels are always set).")),
    annotations: Type.Optional(
      StringMap('Extra annotations on the runner pods (sidecar.istio.io/inject: "true" is always set).'),
    ),
    remoteWriteUrl: Type.Optional(
      Type.String({
        ...doc(
          "Where the runners write their metrics, as the runner pods reach Prometheus (default: the experiment's Prometheus URL + /api/v1/write). Prometheus needs --web.enable-remote-write-receiver and --enable-feature=native-histograms.",
        ),
        minLength: 1,
      }),
    ),
  },
  {
    additionalProperties: false,
    ...doc('driver: k6-operator only: how the TestRun runs the load from inside the mesh.'),
  },
)
export type K6Operator = Static<typeof K6Operator>

/** Through a forward proxy. */
export const ProxyEntry = Type.Object(
  {
    proxy: Type.String({
      ...doc(
        "An HTTP forward proxy every request of the load and of HTTP probes goes through (absolute-form requests), e.g. a meshed client's proxy; overrides HTTP_PROXY/NO_PROXY and the sandbox's proxy. --entry proxy=URL overrides it.",
      ),
      pattern: '^https?://',
      minLength: 8,
    }),
  },
  {additionalProperties: false, title: 'Proxy entry', ...doc('Through an HTTP forward proxy.')},
)

const GatewayHost = Type.String({
  ...doc(
    "The Host header the gateway routes (a host of its Gateway's servers and of the VirtualService bound to it), e.g. bookinfo.example.com; default: the host of spec.load.url.",
  ),
  minLength: 1,
  pattern: '^[A-Za-z0-9*]([-A-Za-z0-9.*]*)(:[0-9]+)?$',
})
const GatewayNames = Type.Array(
  Type.String({pattern: '^([a-z0-9]([-a-z0-9]*[a-z0-9])?/)?[a-z0-9]([-a-z0-9.]*[a-z0-9])?$'}),
  {
    minItems: 1,
    ...doc(
      'The Istio Gateways (namespace/name, or name in the target namespace) this gateway serves; a fault on a service their VirtualServices route directly is applied in the gateway. Default: every Gateway named by a VirtualService in the target namespace.',
    ),
  },
)

/** Through an ingress gateway found by its Service. */
export const GatewayServiceEntry = Type.Object(
  {
    gateway: Type.Object(
      {
        service: Type.String({
          ...doc("The gateway's Service, e.g. istio-ingressgateway."),
          pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$',
          maxLength: 63,
        }),
        namespace: Type.Optional(
          Type.String({
            ...doc('Its namespace (default istio-system).'),
            pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$',
            maxLength: 63,
          }),
        ),
        port: Type.Optional(Type.Integer({...doc('The Service port (default 80).'), minimum: 1, maximum: 65535})),
      },
      {
        additionalProperties: false,
        ...doc('The gateway Service whose load-balancer address the load and HTTP probes are sent to.'),
      },
    ),
    host: Type.Optional(GatewayHost),
    gateways: Type.Optional(GatewayNames),
  },
  {
    additionalProperties: false,
    title: 'Gateway entry',
    ...doc(
      "Through an ingress gateway: requests go to its Service's load-balancer address with the Host header its routes expect.",
    ),
  },
)

/** Through a gateway at a known address. */
export const GatewayUrlEntry = Type.Object(
  {
    url: Type.String({
      ...doc(
        "The gateway's address, e.g. http://203.0.113.10:80 (a load balancer, a NodePort, a port-forward to the gateway).",
      ),
      pattern: '^https?://',
      minLength: 8,
    }),
    host: Type.Optional(GatewayHost),
    gateways: Type.Optional(GatewayNames),
  },
  {
    additionalProperties: false,
    title: 'Gateway URL entry',
    ...doc('Through an ingress gateway at this address, with the Host header its routes expect.'),
  },
)

/** Through a port-forward to a Service's pods, kept by the runner itself. */
export const PortForwardEntry = Type.Object(
  {
    portForward: Type.Object(
      {
        service: Type.String({
          ...doc('The Service whose ready pods the load is forwarded to, e.g. productpage.'),
          pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$',
          maxLength: 63,
        }),
        namespace: Type.Optional(
          Type.String({
            ...doc("Its namespace (default: the run's target namespace)."),
            pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$',
            maxLength: 63,
          }),
        ),
        port: Type.Integer({
          ...doc(
            "The Service port, e.g. 9080; its targetPort (a number, or a container port's name) is what the pod is reached on.",
          ),
          minimum: 1,
          maximum: 65535,
        }),
      },
      {
        additionalProperties: false,
        ...doc(
          'The Service the load and HTTP probes are port-forwarded to through the API server (pods/portforward, as kubectl port-forward svc/… does).',
        ),
      },
    ),
  },
  {
    additionalProperties: false,
    title: 'Port-forward entry',
    ...doc(
      "Through a port-forward to a ready pod of a Service, for clusters whose gateways cannot be reached from where chaos runs. The forward reaches the pod's application port past its own sidecar: a fault on that Service cannot fire, faults on the services it calls do. A lost forward is retried on another ready pod; one that stays lost aborts the run (exit 3).",
    ),
  },
)

/** How the load and HTTP probes enter the mesh (README, "Running against a real cluster"). */
export const LoadEntry = Type.Union(
  [ProxyEntry, GatewayServiceEntry, GatewayUrlEntry, PortForwardEntry],
  doc(
    "The way into the mesh: {proxy}, {gateway, host}, {url, host} or {portForward}. Without it: the sandbox's proxy on the sandbox, else HTTP_PROXY/HTTPS_PROXY/NO_PROXY as curl reads them, else direct.",
  ),
)
export type LoadEntry = Static<typeof LoadEntry>

/** The load to drive across all phases. */
export const Load = Type.Object(
  {
    driver: Type.Optional(
      Type.Union(
        LOAD_DRIVERS.map(d => Type.Literal(d)),
        doc(
          'builtin (default), k6 (a local k6), or k6-operator (a TestRun of grafana/k6-operator: k6 runner pods inside the mesh).',
        ),
      ),
    ),
    k6Operator: Type.Optional(K6Operator),
    url: Type.String({
      ...doc("The URL every request goes to; ${namespace} is replaced by the run's target namespace."),
      minLength: 1,
    }),
    method: Type.Optional(Type.String({...doc('HTTP method, default GET.'), pattern: '^[A-Z]+$'})),
    body: Type.Optional(Type.String(doc('Request body.'))),
    traffic: Type.Array(TrafficClass, {...doc('Traffic classes, each with its own rate and headers.'), minItems: 1}),
    entry: Type.Optional(LoadEntry),
  },
  {additionalProperties: false, ...doc('The load driven through all three phases.')},
)
export type Load = Static<typeof Load>

/** Threshold expressions in k6 syntax per metric, e.g. http_req_duration: ["p(99)<500"]. */
export const Thresholds = Type.Record(
  Type.String(),
  Type.Array(Type.String(), {minItems: 1}),
  doc('Metric name → k6 threshold expressions (p(99)<500, rate<0.01, avg<, med<, max<, count>).'),
)

const probeCommon = {
  name: Type.String({...doc('What this probe checks, in words.'), minLength: 1}),
  phases: Type.Optional(PhaseList),
}

/** A threshold probe over the load's own samples. */
export const ThresholdProbe = Type.Object(
  {
    ...probeCommon,
    traffic: Type.Optional(Type.String(doc('The traffic class to evaluate; all classes when omitted.'))),
    thresholds: Thresholds,
  },
  {additionalProperties: false, title: 'Threshold probe', ...doc("k6-style thresholds over the load's own samples.")},
)

/** An instant PromQL query compared with an expectation. */
export const PrometheusProbe = Type.Object(
  {
    ...probeCommon,
    prometheus: Type.Object(
      {
        query: Type.String({
          ...doc(
            "An instant PromQL query that returns one number; ${namespace} is replaced by the run's target namespace.",
          ),
          minLength: 1,
        }),
        expect: Type.String(doc('Comparison for the query result, e.g. "< 0.01".')),
        url: Type.Optional(Type.String(doc("Prometheus base URL; defaults to --prometheus-url or the sandbox's."))),
      },
      {additionalProperties: false, ...doc('The query and what its value must be.')},
    ),
  },
  {
    additionalProperties: false,
    title: 'Prometheus probe',
    ...doc('An instant PromQL query compared with an expectation.'),
  },
)

/** An Envoy stat read from the sidecars of the selected pods. */
export const EnvoyProbe = Type.Object(
  {
    ...probeCommon,
    envoy: Type.Object(
      {
        pods: Type.Record(Type.String(), Type.String(), doc('Label selector for the pods whose sidecars are read.')),
        stat: Type.String({
          ...doc(
            "Stat name; * matches any run of characters; ${namespace} is replaced by the run's target namespace. Both the `;.` (Istio ≥1.23) and `.` forms of cluster and HTTP connection manager stats match.",
          ),
          minLength: 1,
        }),
        expect: Type.String(doc('increase == 0, increase > 0, value < 5 …: over the phase, summed over the pods.')),
      },
      {additionalProperties: false, ...doc('Which sidecars, which stat, and what it must do.')},
    ),
  },
  {
    additionalProperties: false,
    title: 'Envoy probe',
    ...doc('An Envoy stat read from the sidecars of the selected pods.'),
  },
)

/** An HTTP request whose status and body are checked. */
export const HttpProbe = Type.Object(
  {
    ...probeCommon,
    http: Type.Object(
      {
        url: Type.String({
          ...doc("The URL to request; ${namespace} is replaced by the run's target namespace."),
          minLength: 1,
        }),
        method: Type.Optional(Type.String({...doc('HTTP method, default GET.'), pattern: '^[A-Z]+$'})),
        headers: Type.Optional(Type.Record(Type.String(), Type.String(), doc('Request headers.'))),
        timeout: Type.Optional(Type.String({...Duration, ...doc('Give up after this long (a timeout is a miss).')})),
        expect: Type.Object(
          {
            status: Type.Optional(Type.Integer({...doc('The expected status code.'), minimum: 100, maximum: 599})),
            bodyContains: Type.Optional(Type.String(doc('Text the body must contain.'))),
          },
          {additionalProperties: false, ...doc('What the response must look like.')},
        ),
      },
      {additionalProperties: false, ...doc('The request and what its response must look like.')},
    ),
  },
  {additionalProperties: false, title: 'HTTP probe', ...doc('An HTTP request whose status and body are checked.')},
)

/** Any steady-state probe. */
export const Probe = Type.Union([ThresholdProbe, PrometheusProbe, EnvoyProbe, HttpProbe])
export type ThresholdProbe = Static<typeof ThresholdProbe>
export type PrometheusProbe = Static<typeof PrometheusProbe>
export type EnvoyProbe = Static<typeof EnvoyProbe>
export type HttpProbe = Static<typeof HttpProbe>
export type Probe = Static<typeof Probe>

const guardrailName = Type.Optional(
  Type.String(doc('What this condition means, in words (shown when it aborts the run).')),
)

/** A condition a guardrail evaluates; it has no phases (it runs every second during the fault phase). */
export const GuardrailProbe = Type.Union([
  Type.Object(
    {name: guardrailName, prometheus: PrometheusProbe.properties.prometheus},
    {additionalProperties: false, title: 'Prometheus abort condition'},
  ),
  Type.Object(
    {name: guardrailName, envoy: EnvoyProbe.properties.envoy},
    {additionalProperties: false, title: 'Envoy abort condition'},
  ),
  Type.Object(
    {
      name: guardrailName,
      traffic: Type.Optional(Type.String(doc('The traffic class to evaluate; all classes when omitted.'))),
      thresholds: Thresholds,
    },
    {additionalProperties: false, title: 'Threshold abort condition'},
  ),
])
export type GuardrailProbe = Static<typeof GuardrailProbe>

/** Conditions that stop the fault phase early and revert at once. */
export const Guardrails = Type.Object(
  {
    maxDuration: Type.Optional(
      Type.String({
        ...Duration,
        ...doc(
          'Upper bound on the whole run, all phases included: past it the run stops and reverts. At least the sum of the phases.',
        ),
      }),
    ),
    abortWhen: Type.Optional(
      Type.Array(
        GuardrailProbe,
        doc(
          'Abort conditions, evaluated every second during the fault phase: the run reverts at once when any of them holds (e.g. prometheus expect "> 0.2" aborts when the query exceeds 0.2).',
        ),
      ),
    ),
  },
  {additionalProperties: false, ...doc('Conditions that stop the run early and revert at once.')},
)

/** Limits on how much traffic a fault may touch. */
export const BlastRadius = Type.Object(
  {
    allowUntargeted: Type.Optional(
      Type.Boolean(doc('Allow faults without a header match (they hit all traffic to the service). Default false.')),
    ),
    maxPercentage: Type.Optional(
      Type.Number({...doc('Upper bound for any fault percentage.'), minimum: 0.0001, maximum: 100}),
    ),
  },
  {additionalProperties: false, ...doc('Limits on how much traffic the faults may touch.')},
)

/** What `spec.setup` may replace in an existing DestinationRule's trafficPolicy, each field whole. */
export const SETUP_TRAFFIC_POLICY_FIELDS = ['connectionPool', 'outlierDetection'] as const

/** One DestinationRule the run patches before the baseline and restores exactly at its end. */
export const SetupDestinationRule = Type.Object(
  {
    name: Type.String({
      ...doc(
        "The name of a DestinationRule that exists in the target namespace (e.g. bookinfo's reviews). It is patched, never created: a new DestinationRule without the existing one's subsets would break the routes that use them.",
      ),
      pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$',
      maxLength: 253,
    }),
    trafficPolicy: Type.Object(
      {
        connectionPool: Type.Optional(
          Type.Record(
            Type.String(),
            Type.Unknown(),
            doc(
              "Istio ConnectionPoolSettings, e.g. {tcp: {maxConnections: 5}, http: {http1MaxPendingRequests: 5}}: replaces the existing trafficPolicy.connectionPool whole. Checked against Istio's DestinationRule schema and webhook rules.",
            ),
          ),
        ),
        outlierDetection: Type.Optional(
          Type.Record(
            Type.String(),
            Type.Unknown(),
            doc(
              "Istio OutlierDetection, e.g. {consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 30s}: replaces the existing trafficPolicy.outlierDetection whole. Checked against Istio's DestinationRule schema and webhook rules.",
            ),
          ),
        ),
      },
      {
        additionalProperties: false,
        minProperties: 1,
        ...doc(
          'The trafficPolicy fields to set: each one given replaces that field of the existing trafficPolicy whole; the others (loadBalancer, tls, …) and the subsets are kept.',
        ),
      },
    ),
  },
  {
    additionalProperties: false,
    title: 'Setup DestinationRule',
    ...doc(
      'A DestinationRule patched for the whole run (baseline included) and restored exactly at its end, on every exit path.',
    ),
  },
)
export type SetupDestinationRule = Static<typeof SetupDestinationRule>

/** Changes that are part of the experiment: applied before the baseline, restored at the end. */
export const Setup = Type.Object(
  {
    destinationRules: Type.Array(SetupDestinationRule, {
      minItems: 1,
      ...doc(
        'Existing DestinationRules to patch for the run (e.g. connection-pool limits so a circuit breaker can trip).',
      ),
    }),
  },
  {
    additionalProperties: false,
    ...doc(
      'Changes that are part of the experiment: applied before the baseline (which is measured with them in place) and restored exactly at the end of the run, with the same ownership marks, expiry and revert as faults.',
    ),
  },
)
export type Setup = Static<typeof Setup>

const ObjectMeta = Type.Object(
  {
    name: Type.String({
      ...doc('DNS-1123 label: lowercase letters, digits and -.'),
      pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$',
      maxLength: 63,
    }),
    description: Type.Optional(Type.String(doc('What the experiment checks, in a sentence.'))),
    labels: Type.Optional(Type.Record(Type.String(), Type.String(), doc('Free-form labels, copied into reports.'))),
  },
  {additionalProperties: false, ...doc('Name and description.')},
)

/** `kind: Experiment`. */
export const Experiment = Type.Object(
  {
    apiVersion: Type.Literal(API_VERSION, doc(`Always ${API_VERSION}.`)),
    kind: Type.Literal('Experiment', doc('Experiment')),
    metadata: ObjectMeta,
    spec: Type.Object(
      {
        target: Type.Optional(
          Type.Object(
            {
              namespace: Type.Optional(
                Type.String({
                  ...doc('Namespace of the services under test (default: default; --namespace overrides).'),
                  pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$',
                }),
              ),
            },
            {additionalProperties: false, ...doc('Where the services under test run.')},
          ),
        ),
        faults: Type.Array(Fault, {minItems: 1, ...doc('The faults injected during the fault phase.')}),
        setup: Type.Optional(Setup),
        phases: Phases,
        load: Load,
        steadyState: Type.Array(Probe, {
          minItems: 1,
          ...doc('The steady-state hypothesis: probes that must hold in their phases.'),
        }),
        guardrails: Type.Optional(Guardrails),
        blastRadius: Type.Optional(BlastRadius),
        prometheus: Type.Optional(
          Type.Object(
            {url: Type.String(doc('Prometheus base URL, e.g. http://127.0.0.1:9090.'))},
            {
              additionalProperties: false,
              ...doc("Where Prometheus probes query (default: --prometheus-url or the sandbox's)."),
            },
          ),
        ),
      },
      {additionalProperties: false, ...doc('What to inject, under which load, and what must hold.')},
    ),
  },
  {
    additionalProperties: false,
    title: 'Experiment',
    ...doc('A chaos experiment: faults, three phases of load, and the steady-state hypothesis checked by probes.'),
  },
)
export type Experiment = Static<typeof Experiment>

/** One entry of a GameDay: a path or an inline experiment, with overrides. */
export const GameDayEntry = Type.Object(
  {
    path: Type.Optional(Type.String(doc('Experiment file, relative to the GameDay file.'))),
    experiment: Type.Optional(
      Type.Unsafe<Experiment>({$ref: '#/$defs/Experiment', description: 'An inline experiment (instead of path).'}),
    ),
    namespace: Type.Optional(Type.String(doc("Overrides the experiment's spec.target.namespace."))),
    phases: Type.Optional(Type.Partial(Phases, doc("Overrides some of the experiment's phase durations."))),
  },
  {additionalProperties: false, ...doc('An experiment file (path) or an inline experiment, with optional overrides.')},
)

/** `kind: GameDay`: experiments run in order with one report. */
export const GameDay = Type.Object(
  {
    apiVersion: Type.Literal(API_VERSION, doc(`Always ${API_VERSION}.`)),
    kind: Type.Literal('GameDay', doc('GameDay: experiments run in order.')),
    metadata: ObjectMeta,
    spec: Type.Object(
      {
        experiments: Type.Array(GameDayEntry, {
          minItems: 1,
          ...doc('The experiments, run one after another in this order.'),
        }),
        stopOnFirstFailure: Type.Optional(
          Type.Boolean(doc('Stop after the first experiment whose hypothesis deviates. Default false.')),
        ),
        cooldown: Type.Optional(
          Type.String({...Duration, ...doc('Pause between experiments so the system settles, e.g. 30s.')}),
        ),
        guardrails: Type.Optional(Guardrails),
      },
      {additionalProperties: false, ...doc('The experiments to run and how.')},
    ),
  },
  {additionalProperties: false, title: 'GameDay', ...doc('Experiments run in order, with one report.')},
)
export type GameDay = Static<typeof GameDay>

/** Every schema by name, for the generated JSON Schema's $defs. */
export const definitions: Record<string, TSchema> = {Experiment, GameDay}
