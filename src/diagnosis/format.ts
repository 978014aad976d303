/** Number formats of the diagnosis' sentences and the map's labels (pure). */

/** `24 ms`, `3.0 s`. */
export function ms(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return '–'
  if (v >= 1000) return `${(v / 1000).toFixed(1)} s`
  if (v >= 10) return `${Math.round(v)} ms`
  return `${Number(v.toFixed(1))} ms`
}

/** `12 %`, `0.4 %`. */
export function pct(ratio: number): string {
  const p = ratio * 100
  if (p === 0) return '0 %'
  if (p < 1) return `${p.toFixed(1)} %`
  return `${Math.round(p)} %`
}

/** `5.1 kB`, `830 B`. */
export function bytes(v: number | undefined): string {
  if (v === undefined) return '–'
  if (v >= 1_000_000) return `${(v / 1_000_000).toFixed(1)} MB`
  if (v >= 1000) return `${(v / 1000).toFixed(1)} kB`
  return `${Math.round(v)} B`
}

/** `4.9/s`. */
export function rate(v: number): string {
  return v >= 100 ? `${Math.round(v)}/s` : `${Number(v.toFixed(1))}/s`
}

/** `productpage-v1 → reviews` from an edge id. */
export function edgeName(id: string): string {
  return id.replace('→', ' → ')
}

/** A list in words: `a, b and c`. */
export function list(items: readonly string[]): string {
  if (items.length <= 1) return items[0] ?? ''
  return `${items.slice(0, -1).join(', ')} and ${items[items.length - 1] as string}`
}
