/**
 * A throwaway self-signed certificate for the sandbox API server. kubectl (client-go) sends bearer
 * tokens only over TLS — against an `http://` server it drops the credentials and every request is
 * 401 — so the sandbox serves HTTPS with a P-256 certificate for 127.0.0.1 made at start-up and puts
 * it in the kubeconfig as the cluster's CA. Node can sign but not build X.509, hence the small DER
 * encoder below.
 */
import {generateKeyPairSync, randomBytes, sign} from 'node:crypto'

/** A certificate and its key, PEM-encoded. */
export interface ServingCertificate {
  cert: string
  key: string
}

function length(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n])
  const bytes: number[] = []
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v % 256)
  return Buffer.from([0x80 | bytes.length, ...bytes])
}

function tlv(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content)
  return Buffer.concat([Buffer.from([tag]), length(body.length), body])
}

const seq = (...c: Buffer[]) => tlv(0x30, ...c)
const set = (...c: Buffer[]) => tlv(0x31, ...c)
const octets = (b: Buffer) => tlv(0x04, b)
const bool = (v: boolean) => tlv(0x01, Buffer.from([v ? 0xff : 0]))
const utf8 = (s: string) => tlv(0x0c, Buffer.from(s, 'utf8'))

function oid(dotted: string): Buffer {
  const [a = 0, b = 0, ...rest] = dotted.split('.').map(Number)
  const bytes = [a * 40 + b]
  for (const n of rest) {
    const chunk: number[] = []
    for (let v = n; ; v = Math.floor(v / 128)) {
      chunk.unshift((v % 128) | (chunk.length === 0 ? 0 : 0x80))
      if (v < 128) break
    }
    bytes.push(...chunk)
  }
  return tlv(0x06, Buffer.from(bytes))
}

/**
 * A non-negative DER INTEGER. DER demands the minimal encoding: leading zero bytes are dropped (a
 * random serial starting 0x00 0x1f… is otherwise "illegal padding" to OpenSSL — one start in ~500),
 * and one is added back only when the high bit would make the number negative.
 */
export function integer(b: Buffer): Buffer {
  let i = 0
  while (i < b.length - 1 && b[i] === 0) i++
  const digits = b.subarray(i)
  return tlv(0x02, (digits[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), digits]) : digits)
}

function time(d: Date): Buffer {
  // UTCTime (YYMMDDHHMMSSZ) covers 1950–2049, which is all a throwaway certificate needs.
  const iso = d.toISOString()
  return tlv(
    0x17,
    Buffer.from(
      `${iso.slice(2, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`,
    ),
  )
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return seq(oid(id), ...(critical ? [bool(true)] : []), octets(value))
}

function pem(label: string, der: Buffer): string {
  return `-----BEGIN ${label}-----\n${
    der
      .toString('base64')
      .match(/.{1,64}/g)
      ?.join('\n') ?? ''
  }\n-----END ${label}-----\n`
}

/** A self-signed serving certificate for 127.0.0.1 and localhost, valid from an hour ago for `days`. */
export function selfSignedCertificate(commonName = 'faultline-sandbox', days = 365): ServingCertificate {
  const {publicKey, privateKey} = generateKeyPairSync('ec', {namedCurve: 'P-256'})
  const ecdsaWithSha256 = seq(oid('1.2.840.10045.4.3.2'))
  const name = seq(set(seq(oid('2.5.4.3'), utf8(commonName))))
  const now = Date.now()
  const subjectAltName = seq(tlv(0x87, Buffer.from([127, 0, 0, 1])), tlv(0x82, Buffer.from('localhost')))
  const extensions = tlv(
    0xa3,
    seq(
      extension('2.5.29.17', false, subjectAltName),
      // CA:true lets the certificate be its own trust anchor in the kubeconfig.
      extension('2.5.29.19', true, seq(bool(true))),
      extension('2.5.29.15', true, tlv(0x03, Buffer.from([0x02, 0x84]))), // digitalSignature, keyCertSign
      extension('2.5.29.37', false, seq(oid('1.3.6.1.5.5.7.3.1'))), // serverAuth
    ),
  )
  const tbs = seq(
    tlv(0xa0, integer(Buffer.from([2]))),
    integer(randomBytes(16)),
    ecdsaWithSha256,
    name,
    seq(time(new Date(now - 3600_000)), time(new Date(now + days * 86400_000))),
    name,
    publicKey.export({type: 'spki', format: 'der'}),
    extensions,
  )
  const signature = sign('sha256', tbs, privateKey)
  const cert = seq(tbs, ecdsaWithSha256, tlv(0x03, Buffer.concat([Buffer.from([0]), signature])))
  return {cert: pem('CERTIFICATE', cert), key: privateKey.export({type: 'pkcs8', format: 'pem'}).toString()}
}
