/**
 * oclif.manifest.json, written by `npm run build` after tsc: every command's id, flags and help,
 * so that oclif imports only the command being run. Without it oclif imports every module under
 * dist/commands before doing anything — the sandbox, the Kubernetes client, the report renderer —
 * and `chaos --version` took ~2 s where `node -e 0` takes 0.1 s (bench/cli.ts measures both).
 *
 * The manifest points at dist/: bin/dev.js (running src/ through tsx) ignores it.
 */
import {writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'

import {Plugin} from '@oclif/core'

/** The file oclif reads from the package root. */
export const MANIFEST = 'oclif.manifest.json'

/** The manifest of the commands compiled under `root`/dist/commands (import errors fail it). */
export async function commandManifest(root: string): Promise<Plugin['manifest']> {
  const plugin = new Plugin({
    root,
    type: 'core',
    isRoot: true,
    ignoreManifest: true,
    errorOnManifestCreate: true,
    respectNoCacheDefault: true,
  })
  await plugin.load()
  return plugin.manifest
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href
if (invokedDirectly) {
  const root = fileURLToPath(new URL('../../', import.meta.url))
  const manifest = await commandManifest(root)
  writeFileSync(join(root, MANIFEST), JSON.stringify(manifest, null, 2) + '\n')
  process.stdout.write(`wrote ${MANIFEST}: ${Object.keys(manifest.commands).length} commands\n`)
}
