import assert from 'node:assert/strict'
import {createSecureContext} from 'node:tls'
import {X509Certificate} from 'node:crypto'

import {integer, selfSignedCertificate} from '../../src/apiserver/tls.js'

describe('sandbox API server certificate', () => {
  it('encodes integers minimally, as DER requires (a serial with leading zero bytes broke one start in ~500)', () => {
    assert.deepEqual(integer(Buffer.from([0x00, 0x1f, 0x02])), Buffer.from([0x02, 0x02, 0x1f, 0x02]))
    assert.deepEqual(integer(Buffer.from([0x00, 0x00, 0x9f])), Buffer.from([0x02, 0x02, 0x00, 0x9f]))
    assert.deepEqual(integer(Buffer.from([0x80])), Buffer.from([0x02, 0x02, 0x00, 0x80]))
    assert.deepEqual(integer(Buffer.from([0x00])), Buffer.from([0x02, 0x01, 0x00]))
    assert.deepEqual(integer(Buffer.from([0x02])), Buffer.from([0x02, 0x01, 0x02]))
  })

  it('makes certificates OpenSSL accepts, every time (1000 of them)', function () {
    this.timeout(60_000)
    for (let i = 0; i < 1000; i++) {
      const {cert, key} = selfSignedCertificate()
      createSecureContext({cert, key})
      if (i === 0) {
        const x509 = new X509Certificate(cert)
        assert.match(x509.subjectAltName ?? '', /IP Address:127\.0\.0\.1/)
        assert.equal(x509.ca, true)
      }
    }
  })
})
