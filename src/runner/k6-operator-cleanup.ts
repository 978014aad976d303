/**
 * `chaos revert` (and the sandbox's reaper, which calls the same function) for the k6-operator
 * driver: the TestRuns and ConfigMaps a run created carry our label and annotations (run id,
 * owner, expiry; src/load/k6-operator-plan.ts runMetadata), so a run killed before its own cleanup
 * leaves nothing a later revert cannot find. Deleting a TestRun deletes the Jobs and pods the
 * operator made for it (owner references). A cluster without the operator, or a Role that may not
 * list them, has none to show: that is never an error here.
 */
import type {Cluster} from '../cluster/cluster.js'
import {type K6OperatorApi, k6OperatorApi} from '../cluster/k6-operator.js'
import {ANNOTATION_EXPIRES_AT, ANNOTATION_OWNER, ANNOTATION_RUN_ID, LABEL_MANAGED} from '../faults/annotations.js'

/** What of `chaos revert`'s selection applies (leftovers.ts CleanupSelection; structural, so cleanup.ts can import this module). */
interface Selection {
  runId?: string
  all?: boolean
  dryRun?: boolean
}

/** The parts of leftovers.ts's CleanupReport this adds to. */
interface Report {
  found: {name: string; runId: string; expired: boolean; owner?: string; expiresAt?: string}[]
  reverted: {
    namespace: string
    name: string
    ok: boolean
    action: 'restored' | 'stripped' | 'deleted' | 'absent'
    message: string
  }[]
  skipped: {name: string; runId: string; reason: string}[]
}

/** A TestRun or ConfigMap a run marked as ours. */
interface Marked {
  kind: 'TestRun' | 'ConfigMap'
  name: string
  annotations: Record<string, string>
}

/** The namespace's TestRuns and k6 script ConfigMaps with our label; none when they cannot be listed. */
async function markedObjects(api: K6OperatorApi, namespace: string): Promise<Marked[]> {
  const selector = `${LABEL_MANAGED}=true`
  const [testRuns, configMaps] = await Promise.all([
    api.listTestRuns(namespace, selector).catch(() => []),
    api.listConfigMaps(namespace, selector).catch(() => []),
  ])
  return [
    ...testRuns.map(t => ({kind: 'TestRun' as const, name: t.name, annotations: t.annotations})),
    // Only the k6-operator driver's ConfigMaps (its TestRun's name): other ConfigMaps we may mark one day are not ours to delete here.
    ...configMaps
      .filter(c => c.name.startsWith('faultline-k6-'))
      .map(c => ({kind: 'ConfigMap' as const, name: c.name, annotations: c.annotations})),
  ]
}

/** Deletes one marked object and records how that went in the report. */
function deleteMarked(api: K6OperatorApi, namespace: string, o: Marked, runId: string, report: Report): Promise<void> {
  const name = `${o.kind}/${o.name}`
  const remove = o.kind === 'TestRun' ? api.deleteTestRun(namespace, o.name) : api.deleteConfigMap(namespace, o.name)
  return remove.then(
    () =>
      void report.reverted.push({
        namespace,
        name,
        ok: true,
        action: 'deleted',
        message: `the k6-operator load of run ${runId} (${o.kind === 'TestRun' ? 'its runner pods go with it' : 'its k6 script'})`,
      }),
    (err: Error) => void report.reverted.push({namespace, name, ok: false, action: 'deleted', message: err.message}),
  )
}

/** Finds, and unless it is a dry run deletes, the selected runs' TestRuns and ConfigMaps; adds them to the report as `TestRun/<name>`, `ConfigMap/<name>`. */
export async function k6OperatorLeftovers(
  cluster: Cluster,
  namespace: string,
  selection: Selection,
  now: Date,
  report: Report,
): Promise<void> {
  const api = k6OperatorApi(cluster)
  if (api === undefined) return
  const objects = await markedObjects(api, namespace)
  const deletions: Promise<void>[] = []
  for (const o of objects) {
    const runId = o.annotations[ANNOTATION_RUN_ID] ?? 'unknown'
    const expiresAt = o.annotations[ANNOTATION_EXPIRES_AT]
    const expired = expiresAt === undefined || Number.isNaN(Date.parse(expiresAt)) || new Date(expiresAt) < now
    const name = `${o.kind}/${o.name}`
    const owner = o.annotations[ANNOTATION_OWNER]
    report.found.push({
      name,
      runId,
      expired,
      ...(owner === undefined ? {} : {owner}),
      ...(expiresAt === undefined ? {} : {expiresAt}),
    })
    if (selection.runId !== undefined && runId !== selection.runId) continue
    if (selection.runId === undefined && selection.all !== true && !expired) {
      report.skipped.push({
        name,
        runId,
        reason: `run ${runId} may still be running (expires ${expiresAt ?? '?'}); pass --run ${runId} or --all to delete it now`,
      })
      continue
    }
    if (selection.dryRun === true) {
      report.skipped.push({name, runId, reason: 'dry run'})
      continue
    }
    deletions.push(deleteMarked(api, namespace, o, runId, report))
  }
  await Promise.all(deletions)
}
