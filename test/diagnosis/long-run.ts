/** A journal with the blast-radius map of a real sandbox run (reviews-circuit-breaker) attached, for the report's size and drawing bars. */
import {readFileSync} from 'node:fs'

import type {BlastRadius} from '../../src/diagnosis/model.js'
import type {JournalDocument} from '../../src/journal/journal.js'

/** The map and diagnosis recorded from `chaos run experiments/reviews-circuit-breaker.yaml` on the sandbox. */
export const BLAST_RADIUS_FIXTURE = new URL('../fixtures/blast-radius/reviews-circuit-breaker.json', import.meta.url)

/** `doc` with the fixture's map and diagnosis. */
export function withBlastRadius(doc: JournalDocument): JournalDocument {
  return {...doc, blastRadius: JSON.parse(readFileSync(BLAST_RADIUS_FIXTURE, 'utf8')) as BlastRadius}
}
