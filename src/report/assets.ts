/**
 * What every HTML page we write is built from: an escaping template tag (so a string from an
 * experiment, a cluster or a target can only ever show as text), data embedded safely in a
 * `<script>` element, and the uPlot chart library inlined so the page opens offline.
 */
import {readFileSync} from 'node:fs'
import {createRequire} from 'node:module'

/** Markup that is already safe to insert; only `html` and `raw` make one. */
export class SafeHtml {
  constructor(readonly value: string) {}

  toString(): string {
    return this.value
  }
}

const ENTITIES: Record<string, string> = {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'}

/** Escapes text for an HTML element body or a quoted attribute value. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, c => ENTITIES[c] as string)
}

type Interpolation = SafeHtml | string | number | boolean | null | undefined | readonly Interpolation[]

function render(value: Interpolation): string {
  if (value === null || value === undefined || value === false) return ''
  if (value instanceof SafeHtml) return value.value
  if (Array.isArray(value)) return value.map(v => render(v as Interpolation)).join('')
  return escapeHtml(String(value))
}

/**
 * Template tag: every interpolated value is escaped unless it is `SafeHtml`; arrays are joined;
 * `null`, `undefined` and `false` render as nothing (for `cond && html\`…\``).
 */
export function html(strings: TemplateStringsArray, ...values: Interpolation[]): SafeHtml {
  let out = strings[0] as string
  for (let i = 0; i < values.length; i++) out += render(values[i] as Interpolation) + (strings[i + 1] as string)
  return new SafeHtml(out)
}

/** Trusted markup produced by our own code (never a string from outside). */
export function raw(markup: string): SafeHtml {
  return new SafeHtml(markup)
}

/**
 * JSON for a `<script type="application/json">` element: `<`, `>`, `&` and the JavaScript line
 * separators are escaped, so no value can close the element or start a comment.
 */
export function scriptJson(value: unknown): SafeHtml {
  const json = JSON.stringify(value).replace(
    /[<>&\u2028\u2029]/g,
    c => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  )
  return new SafeHtml(json)
}

/** Inline `<script>` body: a literal `</script` in our own code would end the element early. */
export function inlineScript(source: string): SafeHtml {
  return new SafeHtml(source.replace(/<\/(script)/gi, '<\\/$1'))
}

/** The chart library's code and stylesheet, read once from the installed package. */
export interface ChartAssets {
  script: SafeHtml
  style: SafeHtml
}

let chartAssets: ChartAssets | undefined

/** uPlot (minified IIFE defining `uPlot`) and its CSS, for inlining. */
export function uplotAssets(): ChartAssets {
  if (chartAssets === undefined) {
    const require = createRequire(import.meta.url)
    const dir = require.resolve('uplot').replace(/[\\/]dist[\\/][^\\/]+$/, '/dist')
    chartAssets = {
      script: inlineScript(readFileSync(`${dir}/uPlot.iife.min.js`, 'utf8')),
      style: raw(readFileSync(`${dir}/uPlot.min.css`, 'utf8').replace(/<\/(style)/gi, '<\\/$1')),
    }
  }
  return chartAssets
}
