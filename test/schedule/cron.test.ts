import assert from 'node:assert/strict'

import {UsageError} from '@faultline/core/errors.js'
import {checkCron, checkTimeZone, cronProblem} from '../../src/schedule/cron.js'

describe('CronJob schedules', () => {
  it('accepts what the CronJob controller accepts', () => {
    for (const ok of [
      '0 10 * * 1',
      '*/15 * * * *',
      '30 9 * * 1-5',
      '0 0 1,15 * *',
      '0 6 * JAN-MAR MON',
      '0 0 * * SUN',
      '5-55/10 * ? * *',
      '@daily',
      '@hourly',
      '@weekly',
      ' 0 10 * * 1 ',
    ]) {
      assert.equal(cronProblem(ok), undefined, ok)
    }
  })

  it('refuses the rest, naming the field', () => {
    const cases: [string, RegExp][] = [
      ['0 10 * *', /5 fields.*has 4/],
      ['0 10 * * 1 2026', /has 6/],
      ['60 * * * *', /minute field: "60" is not a valid minute \(0-59\)/],
      ['0 24 * * *', /hour field/],
      ['0 0 0 * *', /day of month field: "0"/],
      ['0 0 * 13 *', /month field.*JAN-DEC/],
      ['0 0 * * 7', /day of week field: "7".*0-6 or SUN-SAT/],
      ['*/0 * * * *', /step "\/0"/],
      ['0 10-8 * * *', /ends before it starts/],
      ['TZ=UTC 0 10 * * *', /--time-zone/],
      ['@every 1h', /is not one of @yearly/],
      ['0 10 * * MONDAY', /day of week/],
    ]
    for (const [schedule, message] of cases) assert.match(cronProblem(schedule) ?? '', message, schedule)
    assert.throws(
      () => checkCron('0 10 * *'),
      (e: unknown) =>
        e instanceof UsageError &&
        e.exitCode === 2 &&
        /--cron "0 10 \* \*"/.test(e.message) &&
        /0 10 \* \* 1/.test(e.hint ?? ''),
    )
  })

  it('time zones are IANA names', () => {
    assert.equal(checkTimeZone('Europe/Berlin'), 'Europe/Berlin')
    assert.throws(() => checkTimeZone('Mars/Olympus'), /not an IANA time zone/)
  })
})
