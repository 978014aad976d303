import assert from 'node:assert/strict'

import {ReportRootUnwritable} from '../../src/cli/outcome.js'
import {reportWriteProblem} from '../../src/report/volume.js'

const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), {code: 'ENOSPC'})

describe('a report volume that is full', () => {
  it('is named as chaos schedule describes it ($FAULTLINE_REPORTS_VOLUME), else as the folder', () => {
    assert.equal(
      reportWriteProblem(enospc, '/reports', {
        FAULTLINE_REPORTS_VOLUME: 'PersistentVolumeClaim bookinfo/chaos-reports',
      }),
      'PersistentVolumeClaim bookinfo/chaos-reports (mounted at /reports) is full (ENOSPC): free space on it or give it more — ENOSPC: no space left on device, write',
    )
    assert.match(reportWriteProblem(enospc, 'reports', {}), /^the volume holding reports is full \(ENOSPC\)/)
    assert.match(
      reportWriteProblem(Object.assign(new Error('EROFS: read-only file system'), {code: 'EROFS'}), '/reports', {}),
      /^the volume holding \/reports is read-only/,
    )
    assert.equal(reportWriteProblem(new Error('boom'), '/reports', {}), 'boom')
  })

  it('before anything was injected (the journal cannot be created), the run could not run: exit 4, the volume named', () => {
    const err = new ReportRootUnwritable('/reports', enospc)
    assert.equal(err.exitCode, 4)
    assert.match(
      err.message,
      /^the journal could not be written: the volume holding \/reports is full \(ENOSPC\).*; nothing was injected$/,
    )
    assert.match(err.hint ?? '', /--keep N/)
  })
})
