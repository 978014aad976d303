/** The runner's own version, from package.json (recorded in journals and reports). */
import {readFileSync} from 'node:fs'

/** `faultline` package version. */
export const version: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {version: string}
).version
