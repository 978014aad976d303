import {Flags} from '@oclif/core'

import {BaseCommand} from '../../cli/base.js'
import {parseDurationMs} from '@faultline/core/duration.js'
import {UsageError} from '@faultline/core/errors.js'
import {
  expiredReverter,
  type IstioVersion,
  loadSandbox,
  type Propagation,
  type SandboxPackage,
  sandboxIfInstalled,
  type UpResult,
} from '../../runner/sandbox.js'

// The flags' choices come from the sandbox package. Without it (the runtime image) there are none,
// and run() says that the sandbox is not part of this installation.
const sandbox = await sandboxIfInstalled()
const PROPAGATIONS: readonly Propagation[] = sandbox?.PROPAGATIONS ?? []

/** `chaos sandbox up`: starts the local Kubernetes + Istio stand-in with bookinfo. */
export default class SandboxUp extends BaseCommand {
  static override summary =
    'Start the sandbox: a local Kubernetes API, an Istio-like mesh and bookinfo, on 127.0.0.1 only.'
  static override description = [
    'Runs in the foreground until Ctrl-C (or SIGTERM), then stops everything. With --detach it starts in the background,',
    'waits until it is ready and returns; stop it with "chaos sandbox down". A second "up" on the same state directory',
    'reports the running sandbox instead of starting another. Prometheus is started when a prometheus binary is on PATH.',
    '',
    'With --api-faults the API server fails, conflicts and lags like a loaded control plane (429/500/503 refusals, 409',
    'conflicts, applied writes answered 504, latency), to test what edits the mesh against it. On a running sandbox,',
    '--api-faults switches its fault mode in place ("none" turns it off).',
    '',
    "The apps forward exactly the headers the real bookinfo apps forward (productpage.py getForwardHeaders, reviews'",
    'headers_to_propagate). --propagate baggage models OpenTelemetry-instrumented apps that also forward W3C baggage at',
    'every hop (also $CHAOS_SANDBOX_PROPAGATE, which an ephemeral sandbox of chaos run --sandbox inherits).',
    '',
    '--istio picks the Istio release the mesh behaves like (default 1.30): 1.22 has no ";" in stat names, retries 503 by',
    'default and injects istio-proxy into spec.containers; 1.30 injects it as a native sidecar (packages/sandbox/src/mesh/README.md).',
    '',
    'State directory: --state-dir, else $CHAOS_SANDBOX_DIR, else $XDG_STATE_HOME/faultline/sandbox (~/.local/state/faultline/sandbox).',
  ].join('\n')

  static override examples = [
    '<%= config.bin %> sandbox up',
    '<%= config.bin %> sandbox up --detach',
    '<%= config.bin %> sandbox up --detach --no-prometheus --state-dir /tmp/chaos-sandbox',
    '<%= config.bin %> sandbox up --detach --api-faults "write-error=20%,conflict=10%,lost-response=5%,latency=300ms±100ms"',
    '<%= config.bin %> sandbox up --api-faults none',
    '<%= config.bin %> sandbox up --detach --propagate baggage',
    '<%= config.bin %> sandbox up --detach --istio 1.22',
  ]

  static override flags = {
    'state-dir': Flags.string({
      description: 'where the sandbox records itself (kubeconfig, sandbox.json, logs)',
      env: 'CHAOS_SANDBOX_DIR',
    }),
    detach: Flags.boolean({char: 'd', description: 'start in the background and return once ready', default: false}),
    prometheus: Flags.boolean({
      description: 'start Prometheus if a prometheus binary is on PATH (--no-prometheus to skip)',
      default: true,
      allowNo: true,
    }),
    'api-faults': Flags.string({
      description: `make the API server misbehave: ${sandbox?.API_FAULTS_SYNTAX ?? 'see the sandbox package'}`,
      env: 'CHAOS_SANDBOX_API_FAULTS',
    }),
    istio: Flags.string({
      description: 'the Istio release the mesh behaves like',
      ...(sandbox === undefined ? {} : {options: [...sandbox.ISTIO_VERSIONS]}),
      env: 'CHAOS_SANDBOX_ISTIO',
    }),
    propagate: Flags.string({
      description: `headers the apps forward beyond real bookinfo's, comma-separated: ${PROPAGATIONS.join(', ')} (OpenTelemetry-instrumented apps)`,
      env: 'CHAOS_SANDBOX_PROPAGATE',
    }),
    'scrape-interval': Flags.string({
      description: "how often Prometheus scrapes the sidecars, whole seconds (default 5s; 15s is a real mesh's usual)",
      env: 'CHAOS_SANDBOX_SCRAPE_INTERVAL',
    }),
  }

  static override enableJsonFlag = true

  async run(): Promise<UpResult> {
    const {formatApiFaults, parseApiFaults, resolveStateDir, runForeground, startDetached} = await loadSandbox()
    const {flags} = await this.parse(SandboxUp)
    const apiFaults =
      flags['api-faults'] === undefined ? undefined : formatApiFaults(parseApiFaults(flags['api-faults']))
    const propagate = parsePropagate(flags.propagate)
    const scrapeIntervalS = parseScrapeInterval(flags['scrape-interval'])
    const opts = {
      ...(scrapeIntervalS === undefined ? {} : {scrapeIntervalS}),
      stateDir: resolveStateDir(flags['state-dir']),
      prometheus: flags.prometheus,
      ...(apiFaults === undefined ? {} : {apiFaults}),
      ...(propagate.length === 0 ? {} : {propagate}),
      ...(flags.istio === undefined ? {} : {istio: flags.istio as IstioVersion}),
    }
    if (flags.detach) {
      const result = await this.switchIfRunning(await startDetached(opts), apiFaults)
      this.report(result, true)
      return result
    }
    return runForeground({
      ...opts,
      // The reaper reverts expired faults with `chaos revert --expired`'s own code: the CLI's, handed over.
      revertExpired: expiredReverter,
      log: line => this.logToStderr(line),
      onReady: result => (this.jsonEnabled() ? this.logJson(result) : this.report(result, false)),
    }).then(async result => {
      if (result.outcome === 'already-running') this.report(await this.switchIfRunning(result, apiFaults), true)
      else if (!this.jsonEnabled()) this.log('Sandbox stopped.')
      return result
    })
  }

  /** `--api-faults` given to an already-running sandbox switches its fault mode in place. */
  private async switchIfRunning(result: UpResult, apiFaults: string | undefined): Promise<UpResult> {
    if (result.outcome !== 'already-running' || apiFaults === undefined) return result
    const {switchApiFaults} = await loadSandbox()
    return {...result, state: await switchApiFaults(result.stateDir, result.state, apiFaults)}
  }

  private report(result: UpResult, detached: boolean): void {
    if (this.jsonEnabled()) return
    const {resolveStateDir} = sandbox as SandboxPackage
    const {state, stateDir} = result
    const headline =
      result.outcome === 'already-running'
        ? `A sandbox is already running (pid ${state.pid}).`
        : `Sandbox running (pid ${state.pid}).`
    const prometheus =
      state.prometheus ?? `not running${result.prometheusSkipped === undefined ? '' : ` (${result.prometheusSkipped})`}`
    const kubectl = `kubectl --kubeconfig ${state.kubeconfig}`
    this.log(
      [
        headline,
        `  state dir   ${stateDir}`,
        `  API server  ${state.apiServer}`,
        `  kubeconfig  ${state.kubeconfig}`,
        `  proxy       ${state.proxy}`,
        ...(state.gateway === undefined
          ? []
          : [`  gateway     ${state.gateway} (istio-system/istio-ingressgateway, bookinfo-gateway.yaml)`]),
        `  Prometheus  ${prometheus}`,
        ...(state.apiFaults === undefined ? [] : [`  API faults  ${state.apiFaults}`]),
        `  Istio       ${state.istio ?? '1.30'} (behaviour profile)`,
        ...(state.propagate === undefined
          ? []
          : [`  propagate   ${state.propagate.join(', ')} (beyond real bookinfo's headers)`]),
        `  pods        ${state.pods.map(p => p.name).join(', ')}`,
        '',
        'Try:',
        `  export HTTP_PROXY=${state.proxy} http_proxy=${state.proxy} NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost`,
        '  curl http://productpage:9080/productpage',
        ...(state.gateway === undefined
          ? []
          : [`  curl ${state.gateway}/productpage   # through the ingress gateway; chaos run … --entry gateway`]),
        `  ${kubectl} get pods`,
        `  ${kubectl} apply -f virtual-service.yaml`,
        detached || result.outcome === 'already-running'
          ? `Stop it with: chaos sandbox down${stateDir === resolveStateDir(undefined) ? '' : ` --state-dir ${stateDir}`}`
          : 'Press Ctrl-C to stop.',
      ].join('\n'),
    )
  }
}

/** `--scrape-interval 15s`: a whole number of seconds ≥ 1, or a usage error. */
function parseScrapeInterval(text: string | undefined): number | undefined {
  if (text === undefined) return undefined
  const ms = parseDurationMs(text)
  if (ms === undefined || ms < 1000 || ms % 1000 !== 0)
    throw new UsageError(`--scrape-interval: "${text}" is not a whole number of seconds`, {
      hint: 'e.g. --scrape-interval 15s',
    })
  return ms / 1000
}

/** `--propagate baggage[,…]`: every value known, or a usage error naming the one that is not. */
export function parsePropagate(value: string | undefined): Propagation[] {
  const out: Propagation[] = []
  for (const token of (value ?? '')
    .split(',')
    .map(t => t.trim().toLowerCase())
    .filter(t => t !== '' && t !== 'none')) {
    const known = PROPAGATIONS.find(p => p === token)
    if (known === undefined)
      throw new UsageError(`--propagate: unknown value "${token}"`, {
        hint: `use one of: ${PROPAGATIONS.join(', ')} (or none)`,
      })
    if (!out.includes(known)) out.push(known)
  }
  return out
}
