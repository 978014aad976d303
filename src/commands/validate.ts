import {Args, Flags} from '@oclif/core'

import {BaseCommand, ExitCode} from '../cli/base.js'
import {formatDiagnostic} from '@faultline/core/errors.js'
import {validateFiles, type ValidationReport} from '../experiment/validate-files.js'
import {readExistingObjects} from '../faults/existing.js'

/** `chaos validate <files…>`: checks experiment and GameDay files without touching a cluster. */
export default class Validate extends BaseCommand {
  static override summary = 'Check experiment and GameDay files without touching a cluster.'
  static override description =
    'Reports every problem in every file with file:line:col, the field and how to fix it. Exit code 0 when all files are valid, 2 otherwise.'
  static override examples = [
    '<%= config.bin %> validate experiments/ratings-delay.yaml',
    '<%= config.bin %> validate experiments/*.yaml --json',
    '<%= config.bin %> validate experiments/reviews-circuit-breaker.yaml --existing test/reference/istio-samples/bookinfo-networking/destination-rule-all.yaml',
  ]
  static override flags = {
    existing: Flags.string({
      description:
        'manifest file with the objects that exist now (repeatable): a spec.setup on a DestinationRule they do not hold is an error (only when they hold any DestinationRule)',
      multiple: true,
      default: [],
    }),
  }
  static override strict = false
  static override args = {
    files: Args.string({description: 'experiment or GameDay files', required: true}),
  }
  static override enableJsonFlag = true

  async run(): Promise<ValidationReport> {
    const {argv, flags} = await this.parse(Validate)
    const facts =
      flags.existing.length === 0
        ? undefined
        : {destinationRules: (await readExistingObjects(flags.existing)).destinationRules}
    const report = await validateFiles(argv as string[], facts)
    if (!this.jsonEnabled()) {
      for (const result of report.files) {
        if (result.valid) {
          this.log(`✓ ${result.file}`)
          continue
        }
        const n = result.diagnostics.length
        this.log(`✗ ${result.file}: ${n} problem${n === 1 ? '' : 's'}`)
        for (const d of result.diagnostics) this.log('  ' + formatDiagnostic(d).replaceAll('\n', '\n  '))
      }
    }
    process.exitCode = report.files.every(f => f.valid) ? ExitCode.Held : ExitCode.Invalid
    return report
  }
}
