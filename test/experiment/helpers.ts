/** Shared by the experiment tests: fixture paths and running the loader to its diagnostics. */
import {fileURLToPath} from 'node:url'

import {type Diagnostic, InvalidExperiment} from '@faultline/core/errors.js'
import {loadDocument} from '../../src/experiment/load.js'

/** The fixture directory of experiment files, named after the defect each carries. */
export const FIXTURES = fileURLToPath(new URL('../fixtures/experiments/', import.meta.url))

/** The repository's example experiments. */
export const EXAMPLES = fileURLToPath(new URL('../../experiments/', import.meta.url))

/** Loads a file and returns its diagnostics; fails the test if it loads or throws anything else. */
export async function diagnosticsOf(file: string): Promise<Diagnostic[]> {
  try {
    await loadDocument(file)
  } catch (error) {
    if (error instanceof InvalidExperiment) return error.diagnostics
    throw error
  }
  throw new Error(`${file} was expected to be invalid but loaded`)
}
