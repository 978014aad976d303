/** productpage's HTML: the book, its details and its reviews, or the apology for what is missing. */

/** The product catalogue (bookinfo has one book). */
export const PRODUCTS = [
  {
    id: 0,
    title: 'The Comedy of Errors',
    descriptionHtml:
      '<a href="https://en.wikipedia.org/wiki/The_Comedy_of_Errors">Wikipedia Summary</a>: The Comedy of Errors is one of ' +
      "<b>William Shakespeare's</b> early plays. It is his shortest and one of his most farcical comedies, with a major " +
      'part of the humour coming from slapstick and mistaken identity, in addition to puns and word play.',
  },
] as const

/** What productpage learned from its upstreams for one page. */
export interface PageModel {
  user: string
  details: {status: number; body: Record<string, unknown>}
  reviews: {status: number; body: Record<string, unknown>}
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, c => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'})[c] ?? c)
}

function detailsSection(details: PageModel['details']): string {
  if (details.status !== 200)
    return `<h4 class="error">${escapeHtml(String(details.body.error ?? 'Error fetching product details!'))}</h4>`
  const rows = Object.entries(details.body)
    .filter(([k]) => k !== 'id')
    .map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(String(v))}</dd>`)
  return `<h4>Book Details</h4>\n<dl class="details">${rows.join('')}</dl>`
}

function stars(rating: unknown): string {
  const r = (rating ?? {}) as {stars?: unknown; color?: unknown; error?: unknown}
  if (typeof r.error === 'string') return `<p class="rating-error">${escapeHtml(r.error)}</p>`
  if (typeof r.stars !== 'number') return ''
  const color = typeof r.color === 'string' ? r.color : 'black'
  const full = Math.max(0, Math.min(5, Math.round(r.stars)))
  return `<p class="stars" style="color: ${escapeHtml(color)}" data-stars="${full}">${'★'.repeat(full)}${'☆'.repeat(5 - full)}</p>`
}

function reviewsSection(reviews: PageModel['reviews']): string {
  if (reviews.status !== 200)
    return `<h4 class="error">${escapeHtml(String(reviews.body.error ?? 'Error fetching product reviews!'))}</h4>`
  const list = Array.isArray(reviews.body.reviews) ? (reviews.body.reviews as Record<string, unknown>[]) : []
  const items = list.map(
    r =>
      `<blockquote><p>${escapeHtml(String(r.text ?? ''))}</p><small>${escapeHtml(String(r.reviewer ?? ''))}</small>${stars(r.rating)}</blockquote>`,
  )
  const served =
    typeof reviews.body.podname === 'string'
      ? `<p class="served-by">Reviews served by: ${escapeHtml(reviews.body.podname)}</p>`
      : ''
  return `<h4>Book Reviews</h4>\n${items.join('\n')}\n${served}`
}

/** Renders `/productpage`. */
export function renderProductPage(model: PageModel): string {
  const product = PRODUCTS[0]
  const user =
    model.user === ''
      ? '<a href="/login">Sign in</a>'
      : `signed in as <b>${escapeHtml(model.user)}</b> (<a href="/logout">sign out</a>)`
  return `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Simple Bookstore App</title></head>
<body>
<nav><b>BookInfo Sample</b> · ${user}</nav>
<h3>${escapeHtml(product.title)}</h3>
<p>Summary: ${product.descriptionHtml}</p>
<div class="row">
<section id="details">
${detailsSection(model.details)}
</section>
<section id="reviews">
${reviewsSection(model.reviews)}
</section>
</div>
</body>
</html>
`
}

/** Renders `/` (and `/index.html`): the services this page is made of. */
export function renderIndexPage(): string {
  return `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Simple Bookstore App</title></head>
<body>
<h3>Hello! This is a simple bookstore application consisting of three services as shown below</h3>
<ul>
<li>productpage → details (<code>http://details:9080/details</code>)</li>
<li>productpage → reviews (<code>http://reviews:9080/reviews</code>) → ratings (<code>http://ratings:9080/ratings</code>)</li>
</ul>
<p><a href="/productpage?u=normal">Normal user</a> · <a href="/productpage?u=test">Test user</a></p>
</body>
</html>
`
}
