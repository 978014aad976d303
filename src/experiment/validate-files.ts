/** `chaos validate`: every file checked on its own, every problem of every file reported. */
import {type Diagnostic, FaultlineError, InvalidExperiment} from '@faultline/core/errors.js'
import {parseYaml} from './document.js'
import type {DestinationRule} from '@faultline/core/istio/types.js'
import {planSetupOffline} from '../faults/setup-files.js'
import {loadDocument, readExperimentText} from './load.js'

/** The verdict on one file. */
export interface FileValidation {
  file: string
  valid: boolean
  /** The file's kind when it could be read that far. */
  kind: 'Experiment' | 'GameDay' | null
  diagnostics: Diagnostic[]
}

/** The verdict on every file, in the order given. */
export interface ValidationReport {
  files: FileValidation[]
}

/** Facts about the cluster given offline: the DestinationRules of `--existing` manifests. */
export interface OfflineFacts {
  destinationRules: DestinationRule[]
}

/** Validates one file, turning any Faultline error into diagnostics; `facts` adds what the manifests show (spec.setup's DestinationRules). */
export async function validateFile(file: string, facts?: OfflineFacts): Promise<FileValidation> {
  try {
    const loaded = await loadDocument(file)
    if (facts !== undefined && loaded.kind === 'Experiment')
      await planSetupOffline(file, loaded.experiment, facts.destinationRules, {runId: 'validate', now: new Date()})
    return {file, valid: true, kind: loaded.kind, diagnostics: []}
  } catch (error) {
    if (error instanceof InvalidExperiment)
      return {file, valid: false, kind: await declaredKind(file), diagnostics: error.diagnostics}
    if (error instanceof FaultlineError) {
      const d: Diagnostic = {file, line: 0, col: 0, path: '', message: error.message}
      if (error.hint !== undefined) d.hint = error.hint
      return {file, valid: false, kind: null, diagnostics: [d]}
    }
    throw error
  }
}

/** The kind an invalid file declares, when it can be read that far (for the report only). */
async function declaredKind(file: string): Promise<FileValidation['kind']> {
  try {
    const outcome = parseYaml(await readExperimentText(file))
    const kind = outcome.ok ? (outcome.parsed.value as {kind?: unknown} | null)?.kind : undefined
    return kind === 'Experiment' || kind === 'GameDay' ? kind : null
  } catch {
    return null
  }
}

/** Validates each file (concurrently; results keep the given order). */
export async function validateFiles(files: readonly string[], facts?: OfflineFacts): Promise<ValidationReport> {
  return {files: await Promise.all(files.map(f => validateFile(f, facts)))}
}
