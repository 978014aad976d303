import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base.js'
import {type RerenderResult, rerender} from '../report/rerender.js'

/** `chaos report <journal|run folder|report root>`: re-render reports from journals. */
export default class Report extends BaseCommand {
  static override summary = "Re-render report.html, junit.xml and summary.md from a run's journal."
  static override description = `Reads a journal.json (or a run folder, or a whole report root) and writes every report file again with this version's renderers, so an old run gets today's report. A report root also gets its history page, index.html.

Header values named authorization, proxy-authorization, cookie and set-cookie, and any named with --redact-header, are masked in every file written.`
  static override examples = [
    '<%= config.bin %> report reports/ratings-delay/2026-11-26T101500Z/journal.json',
    '<%= config.bin %> report reports/ratings-delay/2026-11-26T101500Z -o /tmp/ratings-delay-report',
    '<%= config.bin %> report reports/',
  ]
  static override args = {
    path: Args.string({description: 'a journal.json, a run folder, or a report root', required: true}),
  }
  static override flags = {
    output: Flags.string({
      char: 'o',
      description:
        "write one run's files into this folder instead of beside its journal (a redacted journal.json is copied there too)",
    }),
    html: Flags.boolean({
      description: 'write report.html and index.html (--no-html: only junit.xml and summary.md)',
      default: true,
      allowNo: true,
    }),
    'redact-header': Flags.string({
      description: 'mask the values of this header in every output (repeatable)',
      multiple: true,
      default: [],
    }),
  }
  static override enableJsonFlag = true

  async run(): Promise<RerenderResult> {
    const {args, flags} = await this.parse(Report)
    const result = await rerender(args.path, {
      html: flags.html,
      redactHeaders: flags['redact-header'],
      ...(flags.output === undefined ? {} : {outDir: flags.output}),
    })
    for (const file of result.files) this.log(`wrote ${file}`)
    if (result.index !== undefined) this.log(`wrote ${result.index}`)
    for (const s of result.skipped) this.log(`skipped ${s.dir}: ${s.problem}`)
    return result
  }
}
