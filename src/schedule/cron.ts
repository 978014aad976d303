/**
 * The schedule of a CronJob, checked the way the CronJob controller reads it (robfig/cron's
 * standard parser: five fields or a descriptor), so a typo fails here and not in the controller's
 * events a week later.
 */
import {UsageError} from '@faultline/core/errors.js'

const DESCRIPTORS = ['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly']
const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC']
const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT']

interface Field {
  name: string
  min: number
  max: number
  names?: string[]
  /** The first name's number (1 for months, 0 for days). */
  namesFrom?: number
}

const FIELDS: Field[] = [
  {name: 'minute', min: 0, max: 59},
  {name: 'hour', min: 0, max: 23},
  {name: 'day of month', min: 1, max: 31},
  {name: 'month', min: 1, max: 12, names: MONTHS, namesFrom: 1},
  {name: 'day of week', min: 0, max: 6, names: DAYS, namesFrom: 0},
]

function value(text: string, field: Field): number | undefined {
  const named = field.names?.indexOf(text.toUpperCase()) ?? -1
  if (named >= 0) return named + (field.namesFrom ?? 0)
  if (!/^[0-9]+$/.test(text)) return undefined
  const n = Number(text)
  return n >= field.min && n <= field.max ? n : undefined
}

/** Why one comma-separated part of a field is not valid, or undefined. */
function partProblem(part: string, field: Field): string | undefined {
  const [range, step, extra] = part.split('/')
  if (extra !== undefined || range === undefined || range === '') return `"${part}" is not a value, range or step`
  if (step !== undefined && (!/^[0-9]+$/.test(step) || Number(step) === 0))
    return `step "/${step}" must be a positive number`
  if (range === '*' || range === '?') return undefined
  const [from, to, more] = range.split('-')
  if (more !== undefined || from === undefined) return `"${range}" is not a value or range`
  const low = value(from, field)
  const high = to === undefined ? low : value(to, field)
  const allowed = `${field.min}-${field.max}${field.names === undefined ? '' : ` or ${field.names[0]}-${field.names[field.names.length - 1]}`}`
  if (low === undefined) return `"${from}" is not a valid ${field.name} (${allowed})`
  if (high === undefined) return `"${to}" is not a valid ${field.name} (${allowed})`
  if (high < low) return `range "${range}" ends before it starts`
  return undefined
}

/** Why `schedule` is not a valid CronJob schedule, or undefined. */
export function cronProblem(schedule: string): string | undefined {
  const text = schedule.trim()
  if (/^(CRON_)?TZ=/.test(text))
    return 'a time zone in the schedule (TZ=…) is refused by batch/v1 CronJobs; pass --time-zone instead'
  if (text.startsWith('@'))
    return DESCRIPTORS.includes(text) ? undefined : `"${text}" is not one of ${DESCRIPTORS.join(', ')}`
  const fields = text.split(/\s+/)
  if (fields.length !== 5)
    return `a schedule has 5 fields (minute hour day-of-month month day-of-week), this one has ${fields.length}`
  for (const [i, field] of FIELDS.entries()) {
    for (const part of (fields[i] as string).split(',')) {
      const problem = partProblem(part, field)
      if (problem !== undefined) return `${field.name} field: ${problem}`
    }
  }
  return undefined
}

/** Returns the schedule, or refuses it saying which field is wrong. */
export function checkCron(schedule: string): string {
  const problem = cronProblem(schedule)
  if (problem === undefined) return schedule.trim()
  throw new UsageError(`--cron "${schedule}": ${problem}`, {
    hint: 'Write five fields, e.g. --cron "0 10 * * 1" (Mondays at 10:00), or a descriptor such as @daily.',
  })
}

/** Returns the IANA time zone, or refuses one the runtime (and so the controller's tz database) does not know. */
export function checkTimeZone(zone: string): string {
  try {
    new Intl.DateTimeFormat('en', {timeZone: zone})
    return zone
  } catch {
    throw new UsageError(`--time-zone "${zone}" is not an IANA time zone`, {
      hint: 'Use a name such as Europe/Berlin, America/New_York or Etc/UTC.',
    })
  }
}
