import assert from 'node:assert/strict'

import {request} from 'undici'

import {ratingsVs, startFixture, vsPath, type Answer, type Fixture} from './fakes.js'

describe('sandbox API server over HTTPS', function () {
  // The first request that validates an Istio object loads and compiles the CRD schemas (seconds on a busy machine).
  this.timeout(60_000)
  let f: Fixture
  beforeEach(async () => {
    f = await startFixture()
  })
  afterEach(async () => {
    await f.close()
  })

  describe('auth and errors', () => {
    it('answers health checks without a token', async () => {
      const r = await f.call('GET', '/readyz', {token: null})
      assert.equal(r.status, 200)
      assert.equal(r.body, 'ok')
    })

    it('refuses requests without the bearer token with a 401 Status', async () => {
      for (const token of [null, 'wrong']) {
        const r = await f.call('GET', '/api', {token})
        assert.equal(r.status, 401)
        assert.deepEqual(r.body, {
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Failure',
          message: 'Unauthorized',
          reason: 'Unauthorized',
          code: 401,
        })
      }
    })

    it('answers unknown paths with a 404 NotFound Status', async () => {
      for (const path of [
        '/nope',
        '/apis/networking.istio.io/v2',
        '/apis/networking.istio.io/v1/namespaces/default/serviceentries',
        '/openapi/v2',
      ]) {
        const r = await f.call('GET', path)
        assert.equal(r.status, 404, path)
        assert.equal(r.body.kind, 'Status')
        assert.equal(r.body.reason, 'NotFound')
      }
    })
  })

  describe('discovery', () => {
    it('serves /version, /api and /api/v1 with pods/exec, port-forward, proxies and the built-in kinds', async () => {
      assert.equal((await f.call('GET', '/version')).body.major, '1')
      assert.deepEqual((await f.call('GET', '/api')).body.versions, ['v1'])
      const core = (await f.call('GET', '/api/v1')).body
      const names = core.resources.map((r: Answer) => r.name)
      assert.deepEqual(names, [
        'namespaces',
        'pods',
        'pods/exec',
        'pods/portforward',
        'pods/proxy',
        'services/proxy',
        'configmaps',
        'secrets',
        'serviceaccounts',
        'persistentvolumeclaims',
        'services',
      ])
    })

    it('lists networking.istio.io with v1 preferred and three versions, also at /apis/', async () => {
      for (const path of ['/apis', '/apis/']) {
        const groups = (
          await f.call('GET', path, {
            headers: {accept: 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json'},
          })
        ).body
        assert.equal(groups.kind, 'APIGroupList')
        const istio = groups.groups.find((g: Answer) => g.name === 'networking.istio.io')
        assert.deepEqual(
          istio.versions.map((v: Answer) => v.version),
          ['v1', 'v1beta1', 'v1alpha3'],
        )
        assert.deepEqual(istio.preferredVersion, {groupVersion: 'networking.istio.io/v1', version: 'v1'})
        assert.ok(groups.groups.some((g: Answer) => g.name === 'authorization.k8s.io'))
      }
    })

    it('describes VirtualServices and DestinationRules in every version', async () => {
      for (const v of ['v1', 'v1beta1', 'v1alpha3']) {
        const list = (await f.call('GET', `/apis/networking.istio.io/${v}`)).body
        assert.equal(list.groupVersion, `networking.istio.io/${v}`)
        const vs = list.resources.find((r: Answer) => r.name === 'virtualservices')
        assert.deepEqual(
          [vs.kind, vs.singularName, vs.namespaced, vs.shortNames],
          ['VirtualService', 'virtualservice', true, ['vs']],
        )
        assert.ok(
          ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'].every(verb => vs.verbs.includes(verb)),
        )
        assert.deepEqual(list.resources.find((r: Answer) => r.name === 'destinationrules').shortNames, ['dr'])
      }
    })

    it('publishes OpenAPI v3 operations that make kubectl ask for server-side field validation', async () => {
      const index = (await f.call('GET', '/openapi/v3')).body
      const url = index.paths['apis/networking.istio.io/v1beta1'].serverRelativeURL
      assert.match(url, /^\/openapi\/v3\/apis\/networking.istio.io\/v1beta1\?hash=[0-9A-F]+$/)
      const doc = (await f.call('GET', url)).body
      const item = doc.paths['/apis/networking.istio.io/v1beta1/namespaces/{namespace}/virtualservices/{name}']
      for (const op of [
        item.put,
        item.patch,
        doc.paths['/apis/networking.istio.io/v1beta1/namespaces/{namespace}/virtualservices'].post,
      ]) {
        assert.deepEqual(op['x-kubernetes-group-version-kind'], {
          group: 'networking.istio.io',
          version: 'v1beta1',
          kind: 'VirtualService',
        })
        assert.ok(op.parameters.some((p: Answer) => p.name === 'fieldValidation'))
      }
      const schema = doc.components.schemas['io.istio.networking.v1beta1.VirtualService']
      assert.ok(schema.properties.spec.properties.http)
      assert.ok(doc.components.schemas[schema.properties.metadata.allOf[0].$ref.split('/').pop()])
    })
  })

  describe('VirtualServices', () => {
    it('creates (201), refuses a duplicate (409 AlreadyExists) and serves every version of one object', async () => {
      const created = await f.call('POST', vsPath('v1beta1'), {body: ratingsVs('v1beta1')})
      assert.equal(created.status, 201)
      assert.equal(created.body.apiVersion, 'networking.istio.io/v1beta1')
      assert.equal(created.body.metadata.namespace, 'default')
      const dup = await f.call('POST', vsPath('v1'), {body: ratingsVs('v1')})
      assert.equal(dup.status, 409)
      assert.equal(dup.body.reason, 'AlreadyExists')
      for (const v of ['v1', 'v1beta1', 'v1alpha3']) {
        const got = await f.call('GET', vsPath(v, 'default', 'ratings'))
        assert.equal(got.body.apiVersion, `networking.istio.io/${v}`)
        assert.equal(got.body.metadata.uid, created.body.metadata.uid)
      }
      const missing = await f.call('GET', vsPath('v1', 'default', 'nope'))
      assert.equal(missing.status, 404)
      assert.equal(missing.body.message, 'virtualservices.networking.istio.io "nope" not found')
    })

    it('lists with a resourceVersion, per namespace and across namespaces, filtered by labels and fields', async () => {
      await f.call('POST', '/api/v1/namespaces', {
        body: {apiVersion: 'v1', kind: 'Namespace', metadata: {name: 'staging'}},
      })
      await f.call('POST', vsPath(), {body: ratingsVs()})
      await f.call('POST', vsPath('v1', 'staging'), {
        body: {...ratingsVs(), metadata: {name: 'reviews', labels: {app: 'reviews'}}},
      })
      const list = (await f.call('GET', vsPath('v1alpha3'))).body
      assert.equal(list.kind, 'VirtualServiceList')
      assert.equal(list.apiVersion, 'networking.istio.io/v1alpha3')
      assert.equal(list.metadata.resourceVersion, f.store.resourceVersion())
      assert.deepEqual(
        list.items.map((i: Answer) => [i.metadata.name, i.apiVersion]),
        [['ratings', 'networking.istio.io/v1alpha3']],
      )
      const all = (await f.call('GET', '/apis/networking.istio.io/v1/virtualservices')).body
      assert.deepEqual(
        all.items.map((i: Answer) => `${i.metadata.namespace}/${i.metadata.name}`),
        ['default/ratings', 'staging/reviews'],
      )
      const names = async (q: string) =>
        (await f.call('GET', `/apis/networking.istio.io/v1/virtualservices?${q}`)).body.items.map(
          (i: Answer) => i.metadata.name,
        )
      assert.deepEqual(await names('labelSelector=app%3Dreviews'), ['reviews'])
      assert.deepEqual(await names('labelSelector=app%20in%20(ratings,reviews),team'), ['ratings'])
      assert.deepEqual(await names('labelSelector=!team'), ['reviews'])
      assert.deepEqual(await names('labelSelector=app!%3Dratings'), ['reviews'])
      assert.deepEqual(await names('fieldSelector=metadata.name%3Dratings'), ['ratings'])
      assert.equal(
        (await f.call('GET', '/apis/networking.istio.io/v1/virtualservices?labelSelector=a%3D%3D%3Db')).status,
        400,
      )
    })

    it('replaces with the current resourceVersion and answers a stale one with 409 Conflict', async () => {
      const created = (await f.call('POST', vsPath(), {body: ratingsVs()})).body
      const next = {
        ...created,
        spec: {...created.spec, http: [{route: [{destination: {host: 'ratings', subset: 'v2'}}]}]},
      }
      const updated = await f.call('PUT', vsPath('v1', 'default', 'ratings'), {body: next})
      assert.equal(updated.status, 200)
      assert.equal(updated.body.metadata.generation, 2)
      assert.ok(Number(updated.body.metadata.resourceVersion) > Number(created.metadata.resourceVersion))
      const stale = await f.call('PUT', vsPath('v1', 'default', 'ratings'), {
        body: {...created, spec: {hosts: ['ratings']}},
      })
      assert.equal(stale.status, 409)
      assert.deepEqual(stale.body, {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        reason: 'Conflict',
        code: 409,
        message:
          'Operation cannot be fulfilled on virtualservices.networking.istio.io "ratings": the object has been modified; please apply your changes to the latest version and try again',
        details: {name: 'ratings', group: 'networking.istio.io', kind: 'virtualservices'},
      })
      const renamed = await f.call('PUT', vsPath('v1', 'default', 'ratings'), {
        body: {...updated.body, metadata: {...updated.body.metadata, name: 'other'}},
      })
      assert.equal(renamed.status, 400)
      assert.equal(renamed.body.message, 'the name of the object (other) does not match the name on the URL (ratings)')
    })

    it('applies JSON merge patches and JSON patches, and refuses strategic merge with 415', async () => {
      await f.call('POST', vsPath(), {body: ratingsVs()})
      const path = vsPath('v1beta1', 'default', 'ratings')
      const merged = await f.call('PATCH', path, {
        contentType: 'application/merge-patch+json',
        body: {
          metadata: {labels: {team: null, run: 'r1'}},
          spec: {
            http: [
              {fault: {abort: {httpStatus: 503, percentage: {value: 100}}}, route: [{destination: {host: 'ratings'}}]},
            ],
          },
        },
      })
      assert.equal(merged.status, 200)
      assert.equal(merged.body.apiVersion, 'networking.istio.io/v1beta1')
      assert.deepEqual(merged.body.metadata.labels, {app: 'ratings', run: 'r1'})
      assert.equal(merged.body.spec.http[0].fault.abort.httpStatus, 503)
      const patched = await f.call('PATCH', path, {
        contentType: 'application/json-patch+json',
        body: [
          {op: 'test', path: '/metadata/labels/run', value: 'r1'},
          {op: 'remove', path: '/spec/http/0/fault'},
        ],
      })
      assert.equal(patched.status, 200)
      assert.equal(patched.body.spec.http[0].fault, undefined)
      const failed = await f.call('PATCH', path, {
        contentType: 'application/json-patch+json',
        body: [{op: 'test', path: '/metadata/labels/run', value: 'r2'}],
      })
      assert.equal(failed.status, 422)
      const strategic = await f.call('PATCH', path, {
        contentType: 'application/strategic-merge-patch+json',
        body: {spec: {}},
      })
      assert.equal(strategic.status, 415)
      assert.equal(strategic.body.reason, 'UnsupportedMediaType')
      const stalePatch = await f.call('PATCH', path, {
        contentType: 'application/merge-patch+json',
        body: {metadata: {resourceVersion: '1'}, spec: {hosts: ['x']}},
      })
      assert.equal(stalePatch.status, 409)
      assert.equal(
        (
          await f.call('PATCH', vsPath('v1', 'default', 'nope'), {
            contentType: 'application/merge-patch+json',
            body: {},
          })
        ).status,
        404,
      )
    })

    it('rejects schema violations with 422 Invalid and field causes, as the CRD schema does', async () => {
      const body = ratingsVs('v1', {
        spec: {
          hosts: ['ratings'],
          http: [
            {
              fault: {delay: {fixedDelay: '0.5ms', percentage: {value: 100}}},
              route: [{destination: {host: 'ratings'}}],
            },
          ],
        },
      })
      const r = await f.call('POST', vsPath(), {body})
      assert.equal(r.status, 422)
      assert.equal(r.body.reason, 'Invalid')
      // A CEL rule's failure names the value's type, not the value, as a real kube-apiserver 1.32 answers.
      assert.equal(
        r.body.message,
        'VirtualService.networking.istio.io "ratings" is invalid: spec.http[0].fault.delay.fixedDelay: Invalid value: "string": must be a valid duration greater than 1ms',
      )
      assert.deepEqual(r.body.details.causes, [
        {
          reason: 'FieldValueInvalid',
          field: 'spec.http[0].fault.delay.fixedDelay',
          message: 'Invalid value: "string": must be a valid duration greater than 1ms',
        },
      ])
      const badName = await f.call('POST', vsPath(), {body: {...ratingsVs(), metadata: {name: 'Ratings_1'}}})
      assert.equal(badName.status, 422)
      assert.match(badName.body.message, /metadata.name: Invalid value: "Ratings_1": a lowercase RFC 1123 subdomain/)
      const wrongNs = await f.call('POST', vsPath(), {
        body: {...ratingsVs(), metadata: {name: 'ratings', namespace: 'staging'}},
      })
      assert.equal(wrongNs.status, 400)
      assert.equal(
        wrongNs.body.message,
        'the namespace of the provided object does not match the namespace sent on the request',
      )
      const twoErrors = await f.call('POST', vsPath(), {
        body: ratingsVs('v1', {spec: {hosts: 'ratings', http: [{timeout: '1us', route: []}]}}),
      })
      // A type error keeps the server from running the CEL rules (the timeout's), and it says so, as kube-apiserver 1.32 does.
      assert.match(
        twoErrors.body.message,
        /^VirtualService.networking.istio.io "ratings" is invalid: \[spec.hosts: .*, <nil>: Invalid value: "null": some validation rules were not checked because the object was invalid; correct the existing errors to complete validation\]$/,
      )
    })

    it("emulates istiod's validating webhook for what the schema admits", async () => {
      const noRoute = await f.call('POST', vsPath(), {
        body: ratingsVs('v1', {spec: {hosts: ['ratings'], http: [{match: [{uri: {prefix: '/'}}]}]}}),
      })
      assert.equal(noRoute.status, 400)
      assert.equal(noRoute.body.reason, undefined)
      assert.equal(
        noRoute.body.message,
        'admission webhook "validation.istio.io" denied the request: configuration is invalid: HTTP route, redirect or direct_response is required',
      )
      const two = await f.call('POST', vsPath(), {
        body: ratingsVs('v1', {
          spec: {
            hosts: ['ratings'],
            http: [
              {
                fault: {abort: {httpStatus: 700, percentage: {value: 100}}},
                route: [{destination: {host: 'ratings'}, weight: -1}],
              },
            ],
          },
        }),
      })
      assert.equal(two.status, 400)
      assert.match(
        two.body.message,
        /^admission webhook "validation.istio.io" denied the request: configuration is invalid: 2 errors occurred:\n\t\* .*\n\t\* .*\n\n$/,
      )
      assert.equal(f.store.get('VirtualService', 'default', 'ratings'), undefined)
      // A stale update is a Conflict before anything validates it.
      const created = (await f.call('POST', vsPath(), {body: ratingsVs()})).body
      await f.call('PATCH', vsPath('v1', 'default', 'ratings'), {
        contentType: 'application/merge-patch+json',
        body: {metadata: {labels: {x: 'y'}}},
      })
      assert.equal(
        (await f.call('PUT', vsPath('v1', 'default', 'ratings'), {body: {...created, spec: {hosts: ['ratings']}}}))
          .status,
        409,
      )
    })

    it('with fieldValidation=Strict refuses unknown fields (400 on create, 422 on patch); by default prunes them with a warning', async () => {
      const typo = ratingsVs('v1', {
        spec: {hosts: ['ratings'], http: [{route: [{destination: {host: 'ratings'}}]}], htttp: []},
      })
      const strict = await f.call('POST', `${vsPath()}?fieldValidation=Strict`, {body: typo})
      assert.equal(strict.status, 400)
      assert.equal(
        strict.body.message,
        'VirtualService in version "v1" cannot be handled as a VirtualService: strict decoding error: unknown field "spec.htttp"',
      )
      const warned = await f.call('POST', vsPath(), {body: typo})
      assert.equal(warned.status, 201)
      assert.deepEqual(warned.body.spec, {hosts: ['ratings'], http: [{route: [{destination: {host: 'ratings'}}]}]})
      assert.equal(warned.headers['warning'], '299 - "unknown field \\"spec.htttp\\""')
      const patch = await f.call('PATCH', `${vsPath('v1', 'default', 'ratings')}?fieldValidation=Strict`, {
        contentType: 'application/merge-patch+json',
        body: {spec: {htttp: []}},
      })
      assert.equal(patch.status, 422)
      assert.match(patch.body.message, /strict decoding error: unknown field "spec.htttp"$/)
    })

    it('honours dryRun=All on create, update, patch and delete', async () => {
      const dry = await f.call('POST', `${vsPath()}?dryRun=All`, {body: ratingsVs()})
      assert.equal(dry.status, 201)
      assert.equal(f.store.get('VirtualService', 'default', 'ratings'), undefined)
      const created = (await f.call('POST', vsPath(), {body: ratingsVs()})).body
      const rv = f.store.resourceVersion()
      await f.call('PUT', `${vsPath('v1', 'default', 'ratings')}?dryRun=All`, {
        body: {...created, spec: {hosts: ['x']}},
      })
      await f.call('PATCH', `${vsPath('v1', 'default', 'ratings')}?dryRun=All`, {
        contentType: 'application/merge-patch+json',
        body: {spec: {hosts: ['y']}},
      })
      await f.call('DELETE', `${vsPath('v1', 'default', 'ratings')}?dryRun=All`)
      assert.equal(f.store.resourceVersion(), rv)
      assert.deepEqual(f.store.get('VirtualService', 'default', 'ratings')?.['spec'], created.spec)
    })

    it('deletes (200 Success Status), honours preconditions and answers 404 afterwards', async () => {
      const created = (await f.call('POST', vsPath(), {body: ratingsVs()})).body
      const pre = await f.call('DELETE', vsPath('v1', 'default', 'ratings'), {
        body: {kind: 'DeleteOptions', apiVersion: 'v1', preconditions: {resourceVersion: '1'}},
      })
      assert.equal(pre.status, 409)
      const del = await f.call('DELETE', vsPath('v1alpha3', 'default', 'ratings'))
      assert.equal(del.status, 200)
      assert.deepEqual(del.body, {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Success',
        code: 200,
        details: {name: 'ratings', group: 'networking.istio.io', kind: 'virtualservices', uid: created.metadata.uid},
      })
      assert.equal((await f.call('DELETE', vsPath('v1', 'default', 'ratings'))).status, 404)
    })

    it('keeps DestinationRules apart from VirtualServices', async () => {
      const dr = {
        apiVersion: 'networking.istio.io/v1',
        kind: 'DestinationRule',
        metadata: {name: 'ratings'},
        spec: {host: 'ratings', subsets: [{name: 'v1', labels: {version: 'v1'}}]},
      }
      assert.equal(
        (await f.call('POST', '/apis/networking.istio.io/v1/namespaces/default/destinationrules', {body: dr})).status,
        201,
      )
      assert.equal((await f.call('POST', vsPath(), {body: ratingsVs()})).status, 201)
      assert.equal(f.store.destinationRules().length, 1)
      const wrongKind = await f.call('POST', '/apis/networking.istio.io/v1/namespaces/default/destinationrules', {
        body: {...dr, kind: 'VirtualService'},
      })
      assert.equal(wrongKind.status, 400)
    })
  })

  describe('server-side printing', () => {
    const TABLE =
      'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json'

    it("answers kubectl's Table Accept header with the CRD's printer columns", async () => {
      await f.call('POST', vsPath(), {body: ratingsVs()})
      const t = (await f.call('GET', vsPath('v1alpha3'), {headers: {accept: TABLE}})).body
      assert.equal(t.kind, 'Table')
      assert.equal(t.apiVersion, 'meta.k8s.io/v1')
      assert.deepEqual(
        t.columnDefinitions.map((c: Answer) => c.name),
        ['Name', 'Gateways', 'Hosts', 'Age'],
      )
      assert.deepEqual(t.rows[0].cells.slice(0, 3), ['ratings', null, '["ratings"]'])
      assert.match(t.rows[0].cells[3], /^\d+s$/)
      assert.equal(t.rows[0].object.kind, 'PartialObjectMetadata')
      assert.equal(t.rows[0].object.metadata.name, 'ratings')
      const pods = (await f.call('GET', '/api/v1/namespaces/default/pods', {headers: {accept: TABLE}})).body
      assert.deepEqual(
        pods.rows.map((r: Answer) => r.cells.slice(0, 4)),
        [
          ['ratings-v1-7d9c', '2/2', 'Running', '0'],
          ['reviews-v2-5f4b', '2/2', 'Running', '0'],
        ],
      )
    })

    it('formats ages as kubectl does (apimachinery HumanDuration)', async () => {
      const {humanDuration} = await import('../../src/apiserver/table.js')
      const s = 1000
      const table: [number, string][] = [
        [-5 * s, '<invalid>'],
        [0, '0s'],
        [119 * s, '119s'],
        [120 * s, '2m'],
        [150 * s, '2m30s'],
        [600 * s, '10m'],
        [3 * 3600 * s, '3h'],
        [3 * 3600 * s + 60 * s, '3h1m'],
        [47 * 3600 * s, '47h'],
        [50 * 3600 * s, '2d2h'],
        [30 * 86400 * s, '30d'],
        [800 * 86400 * s, '2y70d'],
      ]
      for (const [ms, text] of table) assert.equal(humanDuration(ms), text, String(ms))
    })
  })

  describe('watch', () => {
    async function openWatch(query: string): Promise<{next(): Promise<Answer>; ended: Promise<void>; close(): void}> {
      const res = await request(`${f.server.url}${vsPath('v1beta1')}?${query}`, {
        headers: {authorization: `Bearer ${f.token}`},
        dispatcher: f.dispatcher,
      })
      assert.equal(res.statusCode, 200)
      const lines: Answer[] = []
      const waiters: ((v: Answer) => void)[] = []
      let buffer = ''
      const ended = (async () => {
        for await (const chunk of res.body) {
          buffer += String(chunk)
          let nl
          while ((nl = buffer.indexOf('\n')) >= 0) {
            const event = JSON.parse(buffer.slice(0, nl)) as Answer
            buffer = buffer.slice(nl + 1)
            const w = waiters.shift()
            if (w === undefined) lines.push(event)
            else w(event)
          }
        }
      })().catch(() => undefined)
      return {
        next: () => (lines.length > 0 ? Promise.resolve(lines.shift()) : new Promise(resolve => waiters.push(resolve))),
        ended,
        close: () => res.body.destroy(),
      }
    }

    it('streams ADDED, MODIFIED and DELETED events in the requested version from a resourceVersion', async () => {
      const from = f.store.resourceVersion()
      const w = await openWatch(`watch=1&resourceVersion=${from}&allowWatchBookmarks=true`)
      const created = (await f.call('POST', vsPath(), {body: ratingsVs()})).body
      await f.call('PATCH', vsPath('v1', 'default', 'ratings'), {
        contentType: 'application/merge-patch+json',
        body: {spec: {hosts: ['ratings', 'ratings.default']}},
      })
      await f.call('DELETE', vsPath('v1', 'default', 'ratings'))
      const events = [await w.next(), await w.next(), await w.next()]
      assert.deepEqual(
        events.map(e => e.type),
        ['ADDED', 'MODIFIED', 'DELETED'],
      )
      assert.ok(events.every(e => e.object.apiVersion === 'networking.istio.io/v1beta1'))
      assert.equal(events[0].object.metadata.resourceVersion, created.metadata.resourceVersion)
      assert.deepEqual(events[1].object.spec.hosts, ['ratings', 'ratings.default'])
      w.close()
    })

    it('lists existing objects first when no resourceVersion is given, filters by label, and ends at timeoutSeconds', async () => {
      await f.call('POST', vsPath(), {body: ratingsVs()})
      const w = await openWatch('watch=true&labelSelector=team%3Dreviews&timeoutSeconds=1')
      assert.equal((await w.next()).type, 'ADDED')
      // Relabelling out of the selector is a DELETED for this watch, as the watch cache reports it.
      await f.call('PATCH', vsPath('v1', 'default', 'ratings'), {
        contentType: 'application/merge-patch+json',
        body: {metadata: {labels: {team: 'other'}}},
      })
      assert.equal((await w.next()).type, 'DELETED')
      await f.call('POST', vsPath(), {body: {...ratingsVs(), metadata: {name: 'elsewhere', labels: {team: 'other'}}}})
      await w.ended
    })

    it('reports a too-old resourceVersion as an ERROR event with 410 Expired', async () => {
      const first = (await f.call('POST', vsPath(), {body: ratingsVs()})).body
      for (let i = 0; i < 1001; i++)
        f.store.update({...f.store.get('VirtualService', 'default', 'ratings')!, spec: {hosts: [`h${i}`]}})
      const w = await openWatch(`watch=1&resourceVersion=${first.metadata.resourceVersion}`)
      const e = await w.next()
      assert.equal(e.type, 'ERROR')
      assert.equal(e.object.code, 410)
      assert.equal(e.object.reason, 'Expired')
    })
  })

  describe('namespaces, pods and access reviews', () => {
    it('lists, gets and creates namespaces', async () => {
      const created = await f.call('POST', '/api/v1/namespaces', {
        body: {apiVersion: 'v1', kind: 'Namespace', metadata: {name: 'team-a'}},
      })
      assert.equal(created.status, 201)
      assert.equal(created.body.status.phase, 'Active')
      assert.equal(
        (await f.call('GET', '/api/v1/namespaces/team-a')).body.metadata.labels['kubernetes.io/metadata.name'],
        'team-a',
      )
      assert.ok(
        (await f.call('GET', '/api/v1/namespaces')).body.items.some((n: Answer) => n.metadata.name === 'team-a'),
      )
      assert.equal((await f.call('POST', '/api/v1/namespaces', {body: {metadata: {name: 'team-a'}}})).status, 409)
      assert.equal((await f.call('POST', '/api/v1/namespaces', {body: {metadata: {name: 'Team.A'}}})).status, 422)
      assert.equal((await f.call('GET', '/api/v1/namespaces/none')).status, 404)
    })

    it('serves the topology as Running, Ready meshed pods, filtered by labels', async () => {
      const list = (await f.call('GET', '/api/v1/namespaces/default/pods?labelSelector=app%3Dratings')).body
      assert.equal(list.kind, 'PodList')
      assert.deepEqual(
        list.items.map((p: Answer) => p.metadata.name),
        ['ratings-v1-7d9c'],
      )
      const pod = (await f.call('GET', '/api/v1/namespaces/default/pods/reviews-v2-5f4b')).body
      assert.equal(pod.metadata.labels['security.istio.io/tlsMode'], 'istio')
      assert.equal(pod.metadata.labels['service.istio.io/canonical-name'], 'reviews')
      assert.equal(pod.metadata.labels.version, 'v2')
      assert.deepEqual(
        pod.spec.containers.map((c: Answer) => c.name),
        ['reviews', 'istio-proxy'],
      )
      assert.equal(pod.status.phase, 'Running')
      assert.equal(pod.status.podIP, '127.0.0.1')
      assert.ok(pod.status.conditions.some((c: Answer) => c.type === 'Ready' && c.status === 'True'))
      assert.equal((await f.call('GET', '/api/v1/pods?labelSelector=app%3Dratings')).body.items.length, 2)
      assert.equal((await f.call('GET', '/api/v1/namespaces/default/pods/nope')).status, 404)
    })

    it('allows every SelfSubjectAccessReview', async () => {
      const r = await f.call('POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SelfSubjectAccessReview',
          spec: {
            resourceAttributes: {
              verb: 'patch',
              group: 'networking.istio.io',
              resource: 'virtualservices',
              namespace: 'default',
            },
          },
        },
      })
      assert.equal(r.status, 201)
      assert.equal(r.body.status.allowed, true)
      assert.equal(r.body.spec.resourceAttributes.verb, 'patch')
    })
  })
})
