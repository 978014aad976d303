import {BaseCommand} from '../cli/base.js'
import {schemaText} from '../experiment/schema.js'

/** `chaos schema`: prints the JSON Schema of experiment and GameDay files. */
export default class Schema extends BaseCommand {
  static override summary = 'Print the JSON Schema of experiment and GameDay files.'
  static override description =
    'The same schema as schema/experiment.schema.json, generated from the experiment model. Point your editor at it, e.g. with a first line "# yaml-language-server: $schema=<path>".'
  static override examples = ['<%= config.bin %> schema > experiment.schema.json']

  async run(): Promise<void> {
    process.stdout.write(schemaText())
  }
}
