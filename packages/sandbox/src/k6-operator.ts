/**
 * The sandbox plays grafana/k6-operator (v1.6.0): its API server serves the TestRun CRD
 * (`k6.io/v1alpha1`, schema/k6-operator/k6.io_testruns.yaml) and ConfigMaps, and this controller
 * does what the operator's controller does with a TestRun, with local k6 processes for pods:
 *
 * - stages as internal/controller/testrun_controller.go moves them: "" → initialization (the
 *   operator runs an initializer pod with `k6 inspect`; here: the script's ConfigMap must exist and
 *   hold the file) → initialized → created (k6_create.go: one runner per index 1..parallelism) →
 *   started (k6_start.go: once every runner answers, the starter un-pauses them all) → finished
 *   (every runner exited), or error;
 * - each runner is `k6` (K6_BINARY, else PATH) with the command line of
 *   pkg/resources/jobs/runner.go (NewRunnerJob): `k6 run --quiet --execution-segment=…
 *   --execution-segment-sequence=… <arguments> <script> --address=… --paused --tag instance_id=N
 *   --tag testrun_name=NAME`, except that `--address` is a free loopback port (runners share one
 *   host here) and `scuttle` is not run (nothing to stop: the pod's proxy "exits" with k6);
 * - the starter (pkg/resources/jobs/starter.go, containers/curl_start.go) PATCHes every runner's
 *   `/v1/status` with `{"data":{"attributes":{"paused":false},"id":"default","type":"status"}}`
 *   back to back, so they start together;
 * - runners reach the mesh as from the `chaos-client` pod: HTTP_PROXY is the sandbox's forward
 *   proxy, so their requests leave through that pod's sidecar, where the faults are;
 * - runners are listed as pods with the operator's labels (`app: k6`, `k6_cr`, `runner: "true"`,
 *   `job-name`) plus spec.runner.metadata's labels and annotations, Running while k6 runs,
 *   Succeeded or Failed when it exits; deleting the TestRun deletes them (and kills k6), as the
 *   operator's owner references make Kubernetes do.
 */
import {type ChildProcess, spawn} from 'node:child_process'
import {accessSync, constants, readFileSync} from 'node:fs'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import type {IncomingMessage, ServerResponse} from 'node:http'
import {createServer, request} from 'node:http'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {delimiter, join} from 'node:path'

import {Ajv} from 'ajv'
import {parse as parseYaml} from 'yaml'

import {
  K6_GROUP,
  K6_VERSION,
  runnerCommand,
  runnerPodLabels,
  TESTRUN_CRD,
  TESTRUN_PLURAL,
} from '@faultline/core/k6-operator.js'
import {mediaType, parseJson, readBody, sendJson} from './apiserver/http.js'
import {mergePatch, type Json} from './apiserver/patch.js'
import {parseLabelSelector} from './apiserver/selectors.js'
import {alreadyExists, badRequest, conflict, invalid, methodNotAllowed, notFound, success} from './apiserver/status.js'

/** A stored object (ConfigMap, TestRun). */
interface Obj {
  apiVersion: string
  kind: string
  metadata: {
    name: string
    namespace: string
    labels?: Record<string, string>
    annotations?: Record<string, string>
    resourceVersion: string
    uid: string
    creationTimestamp: string
    generation?: number
  }
  [field: string]: unknown
}

/** A kind the API serves: its apiVersion and group/resource (for Status errors). */
interface Served {
  kind: string
  apiVersion: string
  gr: {group: string; resource: string}
}

interface TestRunSpec {
  parallelism?: number
  script?: {configMap?: {name?: string; file?: string}}
  arguments?: string
  args?: string[]
  quiet?: string
  paused?: string
  scuttle?: {enabled?: string}
  runner?: {
    env?: {name: string; value?: string}[]
    metadata?: {labels?: Record<string, string>; annotations?: Record<string, string>}
  }
}

/** One runner "pod": a k6 process. */
interface Runner {
  index: number
  name: string
  port: number
  child?: ChildProcess
  phase: 'Pending' | 'Running' | 'Succeeded' | 'Failed'
  exitCode?: number
  message?: string
  startedAt?: string
  finishedAt?: string
  stderr: string
}

/** A TestRun the controller works on. */
interface Run {
  key: string
  namespace: string
  name: string
  runners: Runner[]
  dir?: string
  deleted: boolean
}

const CRD_FILE = new URL('../schema/k6-operator/k6.io_testruns.yaml', import.meta.url)
const CONFIGMAP = {group: '', resource: 'configmaps'}
const TESTRUN = {group: K6_GROUP, resource: TESTRUN_PLURAL}
/** How long a runner may take to answer its REST API before its pod counts as failed. */
const RUNNER_READY_MS = 30_000
/** The controller's step between stages, like a reconcile loop's requeue. */
const STEP_MS = 100

let crd: {doc: Record<string, unknown>; validate: (spec: unknown) => string[]} | undefined

/** The CRD document and a validator of its openAPIV3Schema, loaded once. */
function testRunCrd(): NonNullable<typeof crd> {
  if (crd !== undefined) return crd
  const doc = parseYaml(readFileSync(CRD_FILE, 'utf8')) as {
    spec: {versions: {name: string; schema: {openAPIV3Schema: unknown}}[]}
  }
  const schema = doc.spec.versions.find(v => v.name === K6_VERSION)?.schema.openAPIV3Schema
  const ajv = new Ajv({strict: false, validateFormats: false, allErrors: true})
  const check = ajv.compile(stripExtensions(schema) as object)
  crd = {
    doc: doc as unknown as Record<string, unknown>,
    validate: obj =>
      check(obj)
        ? []
        : (check.errors ?? []).map(
            e => `${e.instancePath.replace(/^\//, '').replace(/\//g, '.') || '<root>'}: ${e.message ?? 'invalid'}`,
          ),
  }
  return crd
}

/** Kubernetes' x-kubernetes-* keywords mean nothing to ajv. */
function stripExtensions(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stripExtensions)
  if (v === null || typeof v !== 'object') return v
  return Object.fromEntries(
    Object.entries(v)
      .filter(([k]) => !k.startsWith('x-kubernetes-'))
      .map(([k, x]) => [k, stripExtensions(x)]),
  )
}

/** `/apis/k6.io`: the k6.io API group and its one version. */
function k6Group(): Record<string, unknown> {
  const gv = {groupVersion: `${K6_GROUP}/${K6_VERSION}`, version: K6_VERSION}
  return {kind: 'APIGroup', apiVersion: 'v1', name: K6_GROUP, versions: [gv], preferredVersion: gv}
}

/** `/apis/k6.io/v1alpha1`: TestRuns and their status subresource. */
function k6Resources(): Record<string, unknown> {
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: `${K6_GROUP}/${K6_VERSION}`,
    resources: [
      {
        name: TESTRUN_PLURAL,
        singularName: 'testrun',
        namespaced: true,
        kind: 'TestRun',
        verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update'],
      },
      {
        name: `${TESTRUN_PLURAL}/status`,
        singularName: '',
        namespaced: true,
        kind: 'TestRun',
        verbs: ['get', 'patch', 'update'],
      },
    ],
  }
}

/** `/apis/apiextensions.k8s.io/v1`: only CustomResourceDefinitions, where clients read the TestRun CRD. */
function apiextensionsResources(): Record<string, unknown> {
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: 'apiextensions.k8s.io/v1',
    resources: [
      {
        name: 'customresourcedefinitions',
        singularName: 'customresourcedefinition',
        namespaced: false,
        kind: 'CustomResourceDefinition',
        verbs: ['get'],
        shortNames: ['crd', 'crds'],
      },
    ],
  }
}

/** The discovery documents the operator adds, by path (a Map: a path is never looked up among an object's inherited keys). */
const DISCOVERY = new Map<string, () => Record<string, unknown>>([
  [`apis/${K6_GROUP}`, k6Group],
  [`apis/${K6_GROUP}/${K6_VERSION}`, k6Resources],
  ['apis/apiextensions.k8s.io/v1', apiextensionsResources],
])

/** Options of the sandbox's operator. */
export interface K6OperatorOptions {
  /** The environment k6 is found in (K6_BINARY, PATH) and runs with. */
  env?: NodeJS.ProcessEnv
  /** Told what the controller does (the sandbox's log). */
  log?: (line: string) => void
}

/** The sandbox's k6-operator: TestRuns, ConfigMaps, runner pods. */
export class K6OperatorSandbox {
  private readonly objects = new Map<string, Obj>()
  private readonly runs = new Map<string, Run>()
  private version = 1
  private proxy: string | undefined
  private closed = false

  constructor(private readonly opts: K6OperatorOptions = {}) {}

  /** Where runners send their requests: the sandbox's forward proxy (the chaos-client pod's sidecar). */
  setProxy(url: string): void {
    this.proxy = url
  }

  private get env(): NodeJS.ProcessEnv {
    return this.opts.env ?? process.env
  }

  /** The k6 the runners run, or why there is none. */
  k6Binary(): {path: string} | {problem: string} {
    const given = this.env.K6_BINARY
    if (given !== undefined && given !== '') return {path: given}
    for (const dir of (this.env.PATH ?? '').split(delimiter)) {
      if (dir === '') continue
      try {
        accessSync(join(dir, 'k6'), constants.X_OK)
        return {path: join(dir, 'k6')}
      } catch {
        // not here
      }
    }
    return {problem: "no k6 on PATH and K6_BINARY is not set in the sandbox's environment"}
  }

  // ---- the API ----

  /** `/apis` gains k6.io (and apiextensions.k8s.io for the CRD). */
  apiGroups(): unknown[] {
    const gv = (group: string, version: string) => ({groupVersion: `${group}/${version}`, version})
    return [
      {name: K6_GROUP, versions: [gv(K6_GROUP, K6_VERSION)], preferredVersion: gv(K6_GROUP, K6_VERSION)},
      {
        name: 'apiextensions.k8s.io',
        versions: [gv('apiextensions.k8s.io', 'v1')],
        preferredVersion: gv('apiextensions.k8s.io', 'v1'),
      },
    ]
  }

  /** Serves what belongs to the operator; false when the path is someone else's. */
  async route(req: IncomingMessage, res: ServerResponse, s: string[], q: URLSearchParams): Promise<boolean> {
    const method = req.method ?? 'GET'
    const path = s.join('/')
    const discovery = DISCOVERY.get(path)
    if (discovery !== undefined) {
      sendJson(res, 200, discovery())
      return true
    }
    if (path === `apis/apiextensions.k8s.io/v1/customresourcedefinitions/${TESTRUN_CRD}`) {
      if (method !== 'GET') throw methodNotAllowed(method)
      sendJson(res, 200, testRunCrd().doc)
      return true
    }
    const [a, b, c, d, e, f, g] = s
    if (a === 'api' && b === 'v1' && c === 'namespaces' && e === 'configmaps' && g === undefined) {
      await this.crud(req, res, q, {kind: 'ConfigMap', apiVersion: 'v1', gr: CONFIGMAP}, d ?? '', f)
      return true
    }
    if (a === 'apis' && b === K6_GROUP && c === K6_VERSION && d === 'namespaces' && f === TESTRUN_PLURAL) {
      const [name, sub, ...more] = s.slice(6)
      if (more.length > 0 || (sub !== undefined && sub !== 'status')) return false
      await this.crud(
        req,
        res,
        q,
        {kind: 'TestRun', apiVersion: `${K6_GROUP}/${K6_VERSION}`, gr: TESTRUN},
        e ?? '',
        name,
      )
      return true
    }
    return false
  }

  private async crud(
    req: IncomingMessage,
    res: ServerResponse,
    q: URLSearchParams,
    type: Served,
    namespace: string,
    name: string | undefined,
  ): Promise<void> {
    const method = req.method ?? 'GET'
    if (name === undefined) {
      if (method === 'GET') return this.list(res, q, type, namespace)
      if (method === 'POST') return this.create(req, res, q, type, namespace)
      throw methodNotAllowed(method)
    }
    const current = this.objects.get(`${type.kind}/${namespace}/${name}`)
    if (current === undefined) throw notFound(type.gr, name)
    if (method === 'GET') return sendJson(res, 200, current)
    if (method === 'DELETE') return this.remove(req, res, type, namespace, name, current)
    if (method === 'PUT' || method === 'PATCH') return this.update(req, res, type, namespace, name, current)
    throw methodNotAllowed(method)
  }

  /** GET on a collection: the namespace's objects of the kind that the labelSelector selects. */
  private list(res: ServerResponse, q: URLSearchParams, type: Served, namespace: string): void {
    const selects = parseLabelSelector(q.get('labelSelector'))
    const items = [...this.objects.values()].filter(
      o => o.kind === type.kind && o.metadata.namespace === namespace && selects(o.metadata.labels),
    )
    return sendJson(res, 200, {
      apiVersion: type.apiVersion,
      kind: `${type.kind}List`,
      metadata: {resourceVersion: String(this.version)},
      items,
    })
  }

  /** POST on a collection: stores the object (a TestRun validated against the CRD, then reconciled) unless dryRun=All. */
  private async create(
    req: IncomingMessage,
    res: ServerResponse,
    q: URLSearchParams,
    type: Served,
    namespace: string,
  ): Promise<void> {
    const body = parseJson(await readBody(req)) as Partial<Obj> | null
    if (
      body === null ||
      typeof body !== 'object' ||
      typeof body.metadata?.name !== 'string' ||
      body.metadata.name === ''
    )
      throw invalid({group: type.gr.group, kind: type.kind}, '', [
        {
          field: 'metadata.name',
          detail: 'Required value: name or generateName is required',
          reason: 'FieldValueRequired',
        },
      ])
    if (body.kind !== undefined && body.kind !== type.kind)
      throw badRequest(`the kind in the data (${String(body.kind)}) does not match the expected kind (${type.kind})`)
    const n = body.metadata.name
    const key = `${type.kind}/${namespace}/${n}`
    if (this.objects.has(key)) throw alreadyExists(type.gr, n)
    if (type.kind === 'TestRun') this.validate(body, n)
    const obj = this.stamp({
      ...body,
      apiVersion: type.apiVersion,
      kind: type.kind,
      metadata: {...body.metadata, namespace},
    } as Obj)
    if (q.getAll('dryRun').includes('All')) return sendJson(res, 201, obj)
    this.objects.set(key, obj)
    if (type.kind === 'TestRun') this.reconcile(obj)
    return sendJson(res, 201, obj)
  }

  /** DELETE: honours a resourceVersion precondition; deleting a TestRun deletes its runners. */
  private async remove(
    req: IncomingMessage,
    res: ServerResponse,
    type: Served,
    namespace: string,
    name: string,
    current: Obj,
  ): Promise<void> {
    const body = await readBody(req)
    const pre = (
      body.length === 0
        ? undefined
        : (parseJson(body) as {preconditions?: {resourceVersion?: string}} | null)?.preconditions
    )?.resourceVersion
    if (pre !== undefined && pre !== current.metadata.resourceVersion) throw conflict(type.gr, name)
    this.objects.delete(`${type.kind}/${namespace}/${name}`)
    if (type.kind === 'TestRun') await this.deleteRun(`${namespace}/${name}`)
    return sendJson(res, 200, success({name, group: type.gr.group, kind: type.gr.resource, uid: current.metadata.uid}))
  }

  /** PUT (optimistic on resourceVersion) or merge PATCH; name, namespace, uid and creation time stay. */
  private async update(
    req: IncomingMessage,
    res: ServerResponse,
    type: Served,
    namespace: string,
    name: string,
    current: Obj,
  ): Promise<void> {
    const method = req.method ?? 'GET'
    const raw = parseJson(await readBody(req)) as Json
    if (
      method === 'PATCH' &&
      !['application/merge-patch+json', 'application/strategic-merge-patch+json'].includes(
        mediaType(req.headers['content-type']),
      )
    )
      throw badRequest('the sandbox patches TestRuns and ConfigMaps with merge patches only')
    const next = (method === 'PUT' ? raw : mergePatch(current as unknown as Json, raw)) as unknown as Obj
    if (
      next.metadata.resourceVersion !== undefined &&
      next.metadata.resourceVersion !== current.metadata.resourceVersion &&
      method === 'PUT'
    )
      throw conflict(type.gr, name)
    if (type.kind === 'TestRun') this.validate(next, name)
    const obj = this.stamp({
      ...next,
      apiVersion: type.apiVersion,
      kind: type.kind,
      metadata: {
        ...next.metadata,
        name,
        namespace,
        uid: current.metadata.uid,
        creationTimestamp: current.metadata.creationTimestamp,
      },
    })
    this.objects.set(`${type.kind}/${namespace}/${name}`, obj)
    return sendJson(res, 200, obj)
  }

  private validate(obj: Partial<Obj>, name: string): void {
    const problems = testRunCrd().validate({...obj, apiVersion: `${K6_GROUP}/${K6_VERSION}`, kind: 'TestRun'})
    if (problems.length > 0)
      throw invalid(
        {group: K6_GROUP, kind: 'TestRun'},
        name,
        problems.map(p => ({field: p.split(':')[0] ?? '', detail: `Invalid value: ${p}`})),
      )
  }

  private stamp(obj: Obj): Obj {
    this.version++
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z')
    return {
      ...obj,
      metadata: {
        ...obj.metadata,
        resourceVersion: String(this.version),
        uid: obj.metadata.uid ?? `k6-${this.version}-${Math.random().toString(16).slice(2, 10)}`,
        creationTimestamp: obj.metadata.creationTimestamp ?? now,
      },
    }
  }

  private setStatus(namespace: string, name: string, stage: string, message?: string): void {
    const key = `TestRun/${namespace}/${name}`
    const current = this.objects.get(key)
    if (current === undefined) return
    const conditions =
      message === undefined
        ? {}
        : {
            conditions: [
              {
                type: 'TestRunRunning',
                status: stage === 'started' ? 'True' : 'False',
                reason: stage === 'error' ? 'Error' : 'Stage',
                message,
                lastTransitionTime: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
              },
            ],
          }
    this.objects.set(
      key,
      this.stamp({...current, status: {...(current['status'] as object | undefined), stage, ...conditions}}),
    )
    this.opts.log?.(
      `k6-operator: TestRun ${namespace}/${name} → ${stage}${message === undefined ? '' : `: ${message}`}`,
    )
  }

  // ---- the controller ----

  private reconcile(obj: Obj): void {
    const {namespace, name} = obj.metadata
    const run: Run = {key: `${namespace}/${name}`, namespace, name, runners: [], deleted: false}
    this.runs.set(run.key, run)
    void this.drive(run, obj.spec as TestRunSpec).catch(err =>
      this.setStatus(namespace, name, 'error', (err as Error).message),
    )
  }

  private async drive(run: Run, spec: TestRunSpec): Promise<void> {
    const alive = () => !run.deleted && !this.closed
    this.setStatus(run.namespace, run.name, 'initialization')
    await step()
    if (!alive()) return
    const script = this.initializer(run, spec)
    if (script === undefined) return
    this.setStatus(run.namespace, run.name, 'initialized')
    await step()
    if (!alive()) return
    await this.createRunners(run, spec, script)
    this.setStatus(run.namespace, run.name, 'created')
    if (!(await this.runnersReady(run, alive))) return
    // The starter (starter.go): every runner's /v1/status PATCHed back to back.
    await Promise.all(
      run.runners.map(r =>
        unpause(r.port).catch(err => {
          r.stderr += `starter: ${(err as Error).message}\n`
        }),
      ),
    )
    this.setStatus(run.namespace, run.name, 'started')
    while (alive() && run.runners.some(r => r.phase === 'Running' || r.phase === 'Pending')) await step()
    if (!alive()) return
    this.setStatus(run.namespace, run.name, 'finished')
  }

  /** The initializer: the script must be there (the operator's `k6 inspect` would fail otherwise); else stage error and undefined. */
  private initializer(run: Run, spec: TestRunSpec): {file: string; source: string} | undefined {
    const cmName = spec.script?.configMap?.name ?? ''
    const file = spec.script?.configMap?.file ?? 'test.js'
    const cm = this.objects.get(`ConfigMap/${run.namespace}/${cmName}`)
    const source = (cm?.['data'] as Record<string, string> | undefined)?.[file]
    if (source === undefined) {
      this.setStatus(
        run.namespace,
        run.name,
        'error',
        cm === undefined ? `ConfigMap ${cmName} not found` : `ConfigMap ${cmName} has no ${file}`,
      )
      return undefined
    }
    return {file, source}
  }

  /** k6_create.go: one runner per index 1..parallelism, started paused (Failed at once when there is no k6). */
  private async createRunners(run: Run, spec: TestRunSpec, script: {file: string; source: string}): Promise<void> {
    run.dir = await mkdtemp(join(tmpdir(), 'faultline-k6-operator-'))
    // The operator mounts the ConfigMap at /test/<file>.
    const scriptPath = join(run.dir, script.file)
    await writeFile(scriptPath, script.source)
    const parallelism = spec.parallelism ?? 1
    const k6 = this.k6Binary()
    const args = spec.args ?? (spec.arguments ?? '').split(/\s+/).filter(a => a !== '')
    for (let index = 1; index <= parallelism; index++) {
      const podName = `${run.name}-${index}-${Math.random().toString(36).slice(2, 7)}`
      const runner: Runner = {index, name: podName, port: await freePort(), phase: 'Pending', stderr: ''}
      run.runners.push(runner)
      if ('problem' in k6) {
        runner.phase = 'Failed'
        runner.message = k6.problem
        continue
      }
      const argv = runnerCommand({
        testRun: run.name,
        index,
        parallelism,
        arguments: args,
        script: scriptPath,
        scuttle: false,
        quiet: spec.quiet !== 'false',
        paused: spec.paused !== 'false',
      })
        .slice(1)
        .map(a => (a === '--address=0.0.0.0:6565' ? `--address=127.0.0.1:${runner.port}` : a))
      this.startRunner(run, runner, k6.path, argv, this.runnerEnv(spec))
    }
  }

  /** A runner's environment: spec.runner.env over the sandbox's, proxies replaced by the chaos-client pod's sidecar. */
  private runnerEnv(spec: TestRunSpec): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = {...this.env, K6_NO_USAGE_REPORT: 'true'}
    for (const v of spec.runner?.env ?? []) env[v.name] = v.value ?? ''
    for (const n of [
      'HTTP_PROXY',
      'http_proxy',
      'HTTPS_PROXY',
      'https_proxy',
      'NO_PROXY',
      'no_proxy',
      'ALL_PROXY',
      'all_proxy',
    ])
      delete env[n]
    if (this.proxy !== undefined)
      Object.assign(env, {
        HTTP_PROXY: this.proxy,
        http_proxy: this.proxy,
        HTTPS_PROXY: this.proxy,
        https_proxy: this.proxy,
        NO_PROXY: '127.0.0.1,localhost',
        no_proxy: '127.0.0.1,localhost',
      })
    return env
  }

  /** k6_start.go: waits until every runner pod is Running and its API answers; false when one failed (the stage stays, as with the operator), the deadline passed or the run is gone. */
  private async runnersReady(run: Run, alive: () => boolean): Promise<boolean> {
    const deadline = Date.now() + RUNNER_READY_MS
    for (;;) {
      if (!alive()) return false
      if (run.runners.some(r => r.phase === 'Failed')) return false
      const ready = await Promise.all(
        run.runners.map(r =>
          status(r.port).then(
            () => true,
            () => false,
          ),
        ),
      )
      if (ready.every(Boolean)) return true
      if (Date.now() > deadline) return false
      await step()
    }
  }

  private startRunner(run: Run, runner: Runner, binary: string, argv: string[], env: NodeJS.ProcessEnv): void {
    const child = spawn(binary, argv, {env, stdio: ['ignore', 'ignore', 'pipe'], detached: true})
    runner.child = child
    runner.phase = 'Running'
    runner.startedAt = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z')
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      runner.stderr = (runner.stderr + d).slice(-8192)
    })
    child.once('error', err => {
      runner.phase = 'Failed'
      runner.message = `could not start ${binary}: ${err.message}`
    })
    child.once('exit', (code, signal) => {
      runner.exitCode = code ?? 137
      runner.phase = code === 0 ? 'Succeeded' : 'Failed'
      runner.finishedAt = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z')
      if (code !== 0)
        runner.message = `k6 exited with ${signal ?? `code ${String(code)}`}: ${runner.stderr.trim().split('\n').slice(-3).join(' | ')}`
      this.opts.log?.(`k6-operator: runner ${runner.name} of ${run.key} exited ${signal ?? String(code)}`)
    })
  }

  private async deleteRun(key: string): Promise<void> {
    const run = this.runs.get(key)
    if (run === undefined) return
    run.deleted = true
    this.runs.delete(key)
    await Promise.all(run.runners.map(r => stopProcess(r.child)))
    if (run.dir !== undefined) await rm(run.dir, {recursive: true, force: true})
  }

  /** Runner pods (every namespace, or one), as the Pod objects `kubectl get pods` lists. */
  pods(namespace: string | undefined, labelSelector: string | null): Record<string, unknown>[] {
    const selects = parseLabelSelector(labelSelector)
    const out: Record<string, unknown>[] = []
    for (const run of this.runs.values()) {
      if (namespace !== undefined && run.namespace !== namespace) continue
      const tr = this.objects.get(`TestRun/${run.namespace}/${run.name}`)
      if (tr === undefined) continue
      const spec = tr['spec'] as TestRunSpec
      for (const r of run.runners) {
        const pod = runnerPod(run, r, spec)
        if (selects((pod['metadata'] as {labels: Record<string, string>}).labels)) out.push(pod)
      }
    }
    return out
  }

  /** One runner pod by name. */
  pod(namespace: string, name: string): Record<string, unknown> | undefined {
    return this.pods(namespace, null).find(p => (p['metadata'] as {name: string}).name === name)
  }

  /** Kills every runner (the sandbox stops). */
  async close(): Promise<void> {
    this.closed = true
    await Promise.all([...this.runs.keys()].map(k => this.deleteRun(k)))
  }
}

/** The istio-proxy container of a runner pod. */
const ISTIO_PROXY = {name: 'istio-proxy', image: 'docker.io/istio/proxyv2:1.30.3'}

function runnerPod(run: Run, r: Runner, spec: TestRunSpec): Record<string, unknown> {
  const jobName = `${run.name}-${r.index}`
  const labels = {
    ...spec.runner?.metadata?.labels,
    ...runnerPodLabels(run.name),
    'job-name': jobName,
    'batch.kubernetes.io/job-name': jobName,
  }
  const scuttle = spec.scuttle?.enabled === 'true'
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: r.name,
      namespace: run.namespace,
      labels,
      annotations: {
        ...spec.runner?.metadata?.annotations,
        'sidecar.istio.io/status': JSON.stringify(
          scuttle
            ? {containers: ['istio-proxy'], initContainers: ['istio-init']}
            : {containers: [], initContainers: ['istio-init', 'istio-proxy']},
        ),
      },
      creationTimestamp: r.startedAt,
      uid: `${run.name}-${r.index}`,
    },
    spec: {
      restartPolicy: 'Never',
      hostname: jobName,
      nodeName: 'sandbox',
      ...(scuttle ? {} : {initContainers: [{...ISTIO_PROXY, restartPolicy: 'Always'}]}),
      containers: [
        {name: 'k6', image: 'grafana/k6:latest', ports: [{containerPort: 6565}]},
        ...(scuttle ? [{...ISTIO_PROXY}] : []),
      ],
    },
    status: runnerPodStatus(r, scuttle),
  }
}

/** A runner pod's status: phase, and k6's and istio-proxy's container states. */
function runnerPodStatus(r: Runner, scuttle: boolean): Record<string, unknown> {
  const k6State = k6ContainerState(r)
  const proxyState = proxyContainerState(r)
  return {
    phase: r.phase,
    podIP: '127.0.0.1',
    hostIP: '127.0.0.1',
    ...(r.startedAt === undefined ? {} : {startTime: r.startedAt}),
    ...(r.message === undefined ? {} : {message: r.message}),
    containerStatuses: [
      {
        name: 'k6',
        ready: r.phase === 'Running',
        restartCount: 0,
        image: 'grafana/k6:latest',
        imageID: '',
        state: k6State,
      },
      ...(scuttle
        ? [
            {
              name: 'istio-proxy',
              ready: r.phase === 'Running',
              restartCount: 0,
              image: ISTIO_PROXY.image,
              imageID: '',
              state: proxyState,
            },
          ]
        : []),
    ],
    ...(scuttle
      ? {}
      : {
          initContainerStatuses: [
            {
              name: 'istio-proxy',
              ready: r.phase === 'Running',
              restartCount: 0,
              image: ISTIO_PROXY.image,
              imageID: '',
              started: r.phase === 'Running',
              state: proxyState,
            },
          ],
        }),
  }
}

/** The k6 container's state: creating while Pending, running, or terminated with k6's exit code. */
function k6ContainerState(r: Runner): Record<string, unknown> {
  return r.phase === 'Pending'
    ? {waiting: {reason: 'ContainerCreating'}}
    : r.phase === 'Running'
      ? {running: {startedAt: r.startedAt}}
      : {
          terminated: {
            exitCode: r.exitCode ?? 1,
            reason: r.phase === 'Succeeded' ? 'Completed' : 'Error',
            ...(r.message === undefined ? {} : {message: r.message}),
            startedAt: r.startedAt,
            finishedAt: r.finishedAt,
          },
        }
}

/** The istio-proxy container's state: running beside k6, completed once k6 is done. */
function proxyContainerState(r: Runner): Record<string, unknown> {
  // Native sidecar: the kubelet stops it once k6 is done; with scuttle, scuttle told it to quit.
  return r.phase === 'Running' || r.phase === 'Pending'
    ? {running: {startedAt: r.startedAt}}
    : {terminated: {exitCode: 0, reason: 'Completed'}}
}

/** The controller's wait between stages. */
function step(): Promise<unknown> {
  return new Promise(r => setTimeout(r, STEP_MS))
}

async function stopProcess(child: ChildProcess | undefined): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise(resolve => child.once('exit', resolve))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000)
  await exited
  clearTimeout(timer)
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const {port} = server.address() as AddressInfo
      server.close(() => resolve(port))
    })
  })
}

function call(port: number, method: string, body?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/v1/status',
        method,
        headers: body === undefined ? {} : {'Content-Type': 'application/json'},
        timeout: 2000,
      },
      res => {
        let text = ''
        res
          .setEncoding('utf8')
          .on('data', (d: string) => {
            text += d
          })
          .on('end', () =>
            (res.statusCode ?? 0) < 300 ? resolve(text) : reject(new Error(`HTTP ${String(res.statusCode)}: ${text}`)),
          )
      },
    )
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', reject)
    req.end(body)
  })
}

function status(port: number): Promise<string> {
  return call(port, 'GET')
}

/** The starter's request (pkg/resources/containers/curl_start.go, v1.6.0). */
function unpause(port: number): Promise<string> {
  return call(port, 'PATCH', JSON.stringify({data: {attributes: {paused: false}, id: 'default', type: 'status'}}))
}
