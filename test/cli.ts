/** The real CLI as a child process, for every test that drives it: `bin/chaos` over `dist/`. */
import {execFile} from 'node:child_process'
import {existsSync, statSync} from 'node:fs'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {promisify} from 'node:util'

const exec = promisify(execFile)

/** The repository root. */
export const REPO = fileURLToPath(new URL('../', import.meta.url))

/** The result of a child process, whatever its exit code. */
export interface Ran {
  code: number
  stdout: string
  stderr: string
}

/** Runs a program from the repository root, never throwing on a non-zero exit. */
export async function sh(file: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Ran> {
  try {
    const {stdout, stderr} = await exec(file, args, {cwd: REPO, env, maxBuffer: 16 << 20})
    return {code: 0, stdout, stderr}
  } catch (err) {
    const e = err as {code?: number | string; stdout?: string; stderr?: string}
    return {code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? String(err)}
  }
}

/** Runs the built CLI, `bin/chaos …`, as a user would (`npm test` builds first). */
export function chaos(args: string[]): Promise<Ran> {
  return sh(process.execPath, ['bin/chaos', ...args], {...process.env, NO_COLOR: '1'})
}

/** Why the built CLI cannot be used (absent, or older than the sources it is built from), or undefined. */
export function builtCliProblem(sources: string[]): string | undefined {
  const built = (src: string): string =>
    join(REPO, src.replace(/^(packages\/[^/]+\/)?src\//, '$1dist/').replace(/\.ts$/, '.js'))
  for (const src of sources) {
    const out = built(src)
    if (!existsSync(out)) return `${out} is missing: run npm run build first`
    if (statSync(out).mtimeMs < statSync(join(REPO, src)).mtimeMs)
      return `${out} is older than ${src}: run npm run build first`
  }
  return undefined
}

/**
 * Builds `dist/` when it is older than `sources` (a test run on its own, without `npm test`'s
 * build); tsc emits even when another part of the tree does not type-check. Throws if still stale.
 */
export async function ensureBuilt(sources: string[]): Promise<void> {
  if (builtCliProblem(sources) === undefined) return
  // As `npm run build` does: the packages first (the CLI compiles against their declarations).
  for (const project of ['packages/core', 'packages/sandbox', 'tsconfig.json'])
    await sh(process.execPath, [join(REPO, 'node_modules/typescript/bin/tsc'), '-p', project])
  // As `npm run build` does: client-node bundled, and the command manifest oclif reads (new flags and commands).
  await sh(process.execPath, [join(REPO, 'dist/build/client-node-bundle.js')])
  await sh(process.execPath, [join(REPO, 'dist/cli/manifest.js')])
  const problem = builtCliProblem(sources)
  if (problem !== undefined) throw new Error(`dist/ is stale and building did not refresh it: ${problem}`)
}
