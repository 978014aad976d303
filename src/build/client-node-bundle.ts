/**
 * Build step (`npm run build`, after tsc): replaces dist/cluster/client-node.js, tsc's plain
 * re-export of @kubernetes/client-node, with one minified ES module bundling the library and its
 * dependencies (esbuild). Node loads the library's ~2,600 modules one by one otherwise, and each
 * costs memory for as long as the process lives: importing it took the runner from ~40 to ~115 MB
 * of RSS, bundled ~65 MB (`npm run bench -- --only memory`). Names are kept: client-node maps
 * API types to classes by name.
 */
import {rmSync} from 'node:fs'
import {join} from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'

import {build} from 'esbuild'

/** Bundles the re-exports of dist/cluster/client-node.js over it. */
export async function bundleClientNode(root: string): Promise<void> {
  const out = join(root, 'dist/cluster/client-node.js')
  await build({
    entryPoints: [out],
    outfile: out,
    allowOverwrite: true,
    bundle: true,
    minify: true,
    keepNames: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    legalComments: 'none',
    logLevel: 'warning',
    // Some of its dependencies are CommonJS and require Node's built-ins.
    banner: {
      js: "import {createRequire as __faultlineRequire} from 'node:module'; const require = __faultlineRequire(import.meta.url);",
    },
  })
  // tsc's source map describes the re-export, not the bundle.
  rmSync(`${out}.map`, {force: true})
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href
if (invokedDirectly) {
  await bundleClientNode(fileURLToPath(new URL('../../', import.meta.url)))
  process.stdout.write('bundled dist/cluster/client-node.js\n')
}
