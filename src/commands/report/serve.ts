import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../../cli/base.js'
import {UsageError} from '@faultline/core/errors.js'
import {isLoopback, serveReports} from '../../report/serve.js'

/** `chaos report serve [DIR]`: a report root over HTTP, read-only, until Ctrl-C. */
export default class ReportServe extends BaseCommand {
  static override summary = "Serve a report root (index.html, every run's report) over HTTP, read-only."
  static override description = `Serves DIR (default reports) on http://127.0.0.1:8080/ until Ctrl-C or SIGTERM: the history index at /, each run's report.html, junit.xml, summary.md and journal.json beside it. Only GET and HEAD; dotfiles, directory listings and symbolic links leading out of DIR are not served.

Loopback only unless --host says otherwise (chaos schedule --report-server runs it with --host 0.0.0.0 inside the cluster, reached with kubectl port-forward).`
  static override examples = ['<%= config.bin %> report serve', '<%= config.bin %> report serve reports --port 9000']
  static override args = {dir: Args.string({description: 'the report root', default: 'reports'})}
  static override flags = {
    port: Flags.integer({description: 'TCP port (0: any free port)', default: 8080, min: 0, max: 65_535}),
    host: Flags.string({description: 'address to listen on (0.0.0.0 or :: for every interface)', default: '127.0.0.1'}),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(ReportServe)
    const server = await serveReports(args.dir, {host: flags.host, port: flags.port}).catch(
      (err: NodeJS.ErrnoException) => {
        throw new UsageError(`cannot listen on ${flags.host}:${flags.port}: ${err.code ?? err.message}`, {
          hint:
            err.code === 'EADDRINUSE'
              ? 'Pick another --port (0: any free one).'
              : 'Pass an address of this machine with --host.',
        })
      },
    )
    if (!isLoopback(flags.host))
      this.logToStderr(`warning: listening on ${flags.host}: whoever reaches this address can read the reports`)
    this.log(`Serving ${args.dir} at ${server.url} (read-only; Ctrl-C to stop)`)
    await new Promise<void>(resolve => {
      const stop = () => {
        process.off('SIGINT', stop)
        process.off('SIGTERM', stop)
        resolve()
      }
      process.on('SIGINT', stop)
      process.on('SIGTERM', stop)
    })
    await server.close()
  }
}
