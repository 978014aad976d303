/**
 * Renders the vendored CRD YAML as JSON (`schema/istio/*.json`): the API server and the compiler
 * load these in milliseconds instead of parsing 150–325 kB of YAML. Run through `npm run schema`.
 */
import {readFileSync, writeFileSync} from 'node:fs'
import {fileURLToPath, pathToFileURL} from 'node:url'

import {crdFiles, ISTIO_KINDS, parseCrdYaml} from './crd.js'

/** The JSON text for a kind's CRD, as `npm run schema` writes it. */
export function crdJsonText(kind: (typeof ISTIO_KINDS)[number]): string {
  return JSON.stringify(parseCrdYaml(readFileSync(crdFiles(kind).yaml, 'utf8'))) + '\n'
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href
if (invokedDirectly) {
  for (const kind of ISTIO_KINDS) {
    const file = fileURLToPath(crdFiles(kind).json)
    writeFileSync(file, crdJsonText(kind))
    process.stdout.write(`wrote ${file}\n`)
  }
}
