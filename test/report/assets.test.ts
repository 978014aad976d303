import assert from 'node:assert/strict'
import {writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {escapeHtml, html, inlineScript, raw, scriptJson, uplotAssets} from '../../src/report/assets.js'
import {withBrowser} from './browser.js'

const HOSTILE = `</script><script>alert(1)</script><!-- "quoted" 'single' & \u2028`

describe('report assets', () => {
  it('escapes every interpolated string, joins arrays and drops null, undefined and false', () => {
    const out = html`<p title="${'"x'}">${HOSTILE}${[html`<b>${1}</b>`, 'a&b']}${null}${undefined}${false}</p>`.value
    assert.equal(out, `<p title="&quot;x">${escapeHtml(HOSTILE)}<b>1</b>a&amp;b</p>`)
    assert.doesNotMatch(out, /<script>/)
    assert.equal(html`${raw('<i>ours</i>')}`.value, '<i>ours</i>')
  })

  it('embeds JSON that cannot close its script element and parses back to the same value', () => {
    const value = {text: HOSTILE, nested: [HOSTILE]}
    const json = scriptJson(value).value
    assert.doesNotMatch(json, /[<>&\u2028\u2029]/)
    assert.deepEqual(JSON.parse(json), value)
    assert.equal(inlineScript('a = "</script>"').value, 'a = "<\\/script>"')
  })

  it('inlines uPlot from the installed package', () => {
    const {script, style} = uplotAssets()
    assert.match(script.value, /uPlot/)
    assert.doesNotMatch(script.value, /<\/script/i)
    assert.match(style.value, /\.uplot/)
  })

  describe('in headless Chromium', function () {
    this.timeout(60_000)
    const chromium = withBrowser('assets')

    it('shows hostile text as text, draws a uPlot chart offline and reports any request the page makes', async () => {
      const {script, style} = uplotAssets()
      const page = html`<!doctype html><html><head><meta charset="utf-8"><style>${style}</style></head><body>
<h1 id="t">${HOSTILE}</h1><div id="c"></div>
<script type="application/json" id="data">${scriptJson({xs: [1, 2, 3], ys: [3, 1, 2], text: HOSTILE})}</script>
<script>${script}</script>
<script>
const d = JSON.parse(document.getElementById('data').textContent);
window.sameText = d.text === document.getElementById('t').textContent;
new uPlot({width: 400, height: 200, series: [{}, {stroke: 'red'}]}, [d.xs, d.ys], document.getElementById('c'));
</script></body></html>`.value
      const file = join(chromium.dir, 'page.html')
      writeFileSync(file, page)
      const look = await chromium.browser.look(file, 'assets-smoke', {
        inspect: p =>
          p.evaluate(
            `({same: window.sameText, canvases: document.querySelectorAll('canvas').length, scripts: document.scripts.length})`,
          ) as Promise<{same: boolean; canvases: number; scripts: number}>,
      })
      assert.deepEqual(look.consoleErrors, [])
      assert.deepEqual(look.requests, [])
      assert.equal(look.inspected?.same, true)
      assert.equal(look.inspected?.canvases, 1)
      assert.equal(look.inspected?.scripts, 3)

      writeFileSync(file, '<!doctype html><img src="http://127.0.0.1:9/x.png">')
      const leaky = await chromium.browser.look(file, 'assets-leak')
      assert.deepEqual(leaky.requests, ['http://127.0.0.1:9/x.png'])
    })
  })
})
