/**
 * `chaos report serve`: the HTTP answers of the report server (in-process), and the real command
 * serving a report root to headless Chromium: the index and a run's report open without a console
 * error or a request the page should not make.
 */
import assert from 'node:assert/strict'
import {type ChildProcess, spawn} from 'node:child_process'
import {mkdir, mkdtemp, readFile, rm, symlink, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {request} from 'undici'

import type {JournalDocument} from '../../src/journal/journal.js'
import {type ReportServer, serveReports} from '../../src/report/serve.js'
import {writeIndex, writeRunReports} from '../../src/report/write.js'
import {ensureBuilt, REPO} from '../cli.js'
import {withBrowser} from './browser.js'

const RUN = 'ratings-abort/2026-11-26T031515Z'

/** A report root with two rendered runs and its index. */
async function reportRoot(root: string): Promise<void> {
  for (const [dir, fixture] of [
    [RUN, 'held.json'],
    ['ratings-delay/2026-11-26T041515Z', 'deviated.json'],
  ] as const) {
    const doc = JSON.parse(await readFile(join(REPO, 'test/fixtures/journals', fixture), 'utf8')) as JournalDocument
    await mkdir(join(root, dir), {recursive: true})
    await writeFile(join(root, dir, 'journal.json'), JSON.stringify(doc))
    await writeRunReports(doc, join(root, dir), {html: true, redactHeaders: []})
  }
  await writeIndex(root)
}

async function get(
  url: string,
  method: 'GET' | 'HEAD' | 'POST' | 'DELETE' = 'GET',
): Promise<{status: number; type: string; body: string; headers: Record<string, unknown>}> {
  const r = await request(url, {method})
  const body = await r.body.text()
  return {status: r.statusCode, type: String(r.headers['content-type'] ?? ''), body, headers: r.headers}
}

describe('chaos report serve', function () {
  this.timeout(60_000)
  let root: string
  let outside: string
  let server: ReportServer

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'faultline-serve-'))
    outside = await mkdtemp(join(tmpdir(), 'faultline-serve-outside-'))
    await reportRoot(root)
    await writeFile(join(outside, 'secret.txt'), 'not a report')
    await symlink(outside, join(root, 'escape'))
    server = await serveReports(root, {port: 0})
  })

  after(async () => {
    await server?.close()
    await rm(root, {recursive: true, force: true})
    await rm(outside, {recursive: true, force: true})
  })

  it('listens on loopback by default and serves the index at /', async () => {
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/$/)
    const index = await get(server.url)
    assert.equal(index.status, 200)
    assert.equal(index.type, 'text/html; charset=utf-8')
    assert.match(index.body, /ratings-abort/)
    assert.equal(index.headers['x-content-type-options'], 'nosniff')
    assert.equal(index.headers['cache-control'], 'no-cache')
  })

  it('serves every file of a run folder with its content type', async () => {
    const types: Record<string, RegExp> = {
      'report.html': /^text\/html/,
      'journal.json': /^application\/json/,
      'junit.xml': /^(application|text)\/xml/,
      'summary.md': /^text\/markdown/,
    }
    for (const [file, type] of Object.entries(types)) {
      const r = await get(`${server.url}${RUN}/${file}`)
      assert.equal(r.status, 200, file)
      assert.match(r.type, type, `${file}: ${r.type}`)
    }
    const head = await get(`${server.url}${RUN}/report.html`, 'HEAD')
    assert.equal(head.status, 200)
    assert.equal(head.body, '')
  })

  it('read-only and contained: no writes, no dotfiles, no escapes up the tree or through a symbolic link, no listings', async () => {
    for (const method of ['POST', 'DELETE'] as const) {
      const r = await get(server.url, method)
      assert.equal(r.status, 405)
      assert.equal(r.headers.allow, 'GET, HEAD')
    }
    assert.equal((await get(`${server.url}.index-cache.json`)).status, 404)
    for (const path of [
      '..%2f..%2fetc%2fpasswd',
      '%2e%2e/%2e%2e/etc/passwd',
      'ratings-abort/..%2f..%2f..%2fetc%2fpasswd',
      'escape/secret.txt',
    ]) {
      const r = await get(`${server.url}${path}`)
      assert.ok(r.status === 403 || r.status === 404, `${path}: ${r.status}`)
      assert.ok(!r.body.includes('root:') && !r.body.includes('not a report'), path)
    }
    const listing = await get(`${server.url}ratings-abort/`)
    assert.equal(listing.status, 404)
  })

  it('a root with no index yet says so instead of a bare 404', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'faultline-serve-empty-'))
    const s = await serveReports(empty, {port: 0})
    try {
      const r = await get(s.url)
      assert.equal(r.status, 200)
      assert.match(r.body, /No runs yet/)
    } finally {
      await s.close()
      await rm(empty, {recursive: true, force: true})
    }
  })

  describe('the real command, in headless Chromium', () => {
    const fixture = withBrowser('serve')
    let child: ChildProcess | undefined
    let url: string

    before(async function () {
      this.timeout(300_000)
      await ensureBuilt(['src/commands/report/serve.ts', 'src/report/serve.ts'])
      child = spawn(process.execPath, ['bin/chaos', 'report', 'serve', root, '--port', '0'], {
        cwd: REPO,
        env: {...process.env, NO_COLOR: '1'},
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      url = await new Promise<string>((resolve, reject) => {
        let out = ''
        child?.stdout?.on('data', (chunk: Buffer) => {
          out += chunk.toString()
          const m = /at (http:\/\/127\.0\.0\.1:\d+\/) \(read-only/.exec(out)
          if (m !== null) resolve(m[1] as string)
        })
        child?.once('exit', code => reject(new Error(`chaos report serve exited ${code}: ${out}`)))
      })
    })

    after(() => {
      child?.kill('SIGTERM')
    })

    it("the index and a run's report open with no console error and no other request", async () => {
      for (const [page, name] of [
        [url, 'serve-index'],
        [`${url}${RUN}/report.html`, 'serve-report'],
      ] as const) {
        const look = await fixture.browser.look(page, name, {inspect: p => p.evaluate('document.title')})
        assert.deepEqual(look.consoleErrors, [], page)
        assert.deepEqual(look.requests, [], page)
        assert.ok(String(look.inspected).length > 0, page)
      }
    })

    it('stops on SIGTERM', async () => {
      const exited = new Promise<number | null>(resolve => child?.once('exit', code => resolve(code)))
      child?.kill('SIGTERM')
      assert.equal(await exited, 0)
      child = undefined
    })
  })
})
