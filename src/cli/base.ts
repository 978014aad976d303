import {Command} from '@oclif/core'

import {ExitCode, FaultlineError, InvalidExperiment} from '@faultline/core/errors.js'

/**
 * The one place errors are printed. Commands throw `FaultlineError`s; this turns them into
 * a message on stderr (or a JSON error with `--json`) and the documented exit code.
 */
export abstract class BaseCommand extends Command {
  protected override async catch(err: Error & {exitCode?: number; oclif?: {exit?: number}}): Promise<unknown> {
    if (!(err instanceof FaultlineError)) return super.catch(err)
    if (this.jsonEnabled()) {
      const diagnostics = err instanceof InvalidExperiment ? err.diagnostics : undefined
      this.logJson({error: {code: err.code, message: err.message, hint: err.hint, exitCode: err.exitCode, diagnostics}})
    } else {
      this.logToStderr(`Error: ${err.message}`)
      if (err.hint !== undefined) this.logToStderr(`Hint: ${err.hint}`)
    }
    process.exitCode = err.exitCode
    return undefined
  }
}

export {ExitCode}
