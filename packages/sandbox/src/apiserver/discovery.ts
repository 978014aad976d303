/**
 * Discovery documents (`/api`, `/api/v1`, `/apis`, `/apis/<group>/<version>`) describing exactly
 * what the sandbox serves, so kubectl resolves `vs`, `dr`, `ns`, `po`, `svc` and `pods/exec` itself and
 * client-node's `ApisApi` finds networking.istio.io with its three versions and security.istio.io
 * (PeerAuthentication, `pa`) with its two.
 */
import {crdFor} from '@faultline/core/istio/crd.js'
import {SECURITY_GROUP, SECURITY_VERSIONS} from '@faultline/core/istio/peer-authentication.js'
import {ISTIO_GROUP, ISTIO_VERSIONS} from '@faultline/core/istio/types.js'
import {BUILTIN_RESOURCES, builtinDiscovery} from './builtin.js'

/** The authorization group the runner's preflight uses for SelfSubjectAccessReviews. */
export const AUTHORIZATION_GROUP = 'authorization.k8s.io'

/** The Kubernetes version the sandbox reports (`/version`). */
export const KUBERNETES_VERSION = {
  major: '1',
  minor: '32',
  gitVersion: 'v1.32.0-faultline-sandbox',
  gitCommit: '',
  gitTreeState: 'clean',
  buildDate: '2026-01-01T00:00:00Z',
  goVersion: 'go1.23.0',
  compiler: 'gc',
  platform: 'linux/amd64',
} as const

/** The named groups of the built-in kinds the sandbox stores (apps, batch, rbac.authorization.k8s.io). */
const BUILTIN_GROUPS: string[] = [...new Set(BUILTIN_RESOURCES.map(r => r.group).filter(g => g !== ''))]

const CUSTOM_RESOURCE_VERBS = ['delete', 'get', 'list', 'patch', 'create', 'update', 'watch']

/** `GET /api`. */
export function coreVersions(serverAddress: string): unknown {
  return {kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{clientCIDR: '0.0.0.0/0', serverAddress}]}
}

/** `GET /api/v1`. */
export function coreResources(): unknown {
  return {
    kind: 'APIResourceList',
    groupVersion: 'v1',
    resources: [
      {
        name: 'namespaces',
        singularName: 'namespace',
        namespaced: false,
        kind: 'Namespace',
        verbs: ['create', 'get', 'list', 'patch', 'watch'],
        shortNames: ['ns'],
      },
      {
        name: 'pods',
        singularName: 'pod',
        namespaced: true,
        kind: 'Pod',
        verbs: ['get', 'list'],
        shortNames: ['po'],
        categories: ['all'],
      },
      {name: 'pods/exec', singularName: '', namespaced: true, kind: 'PodExecOptions', verbs: ['create', 'get']},
      {
        name: 'pods/portforward',
        singularName: '',
        namespaced: true,
        kind: 'PodPortForwardOptions',
        verbs: ['create', 'get'],
      },
      {
        name: 'pods/proxy',
        singularName: '',
        namespaced: true,
        kind: 'PodProxyOptions',
        verbs: ['create', 'delete', 'get', 'patch', 'update'],
      },
      {
        name: 'services/proxy',
        singularName: '',
        namespaced: true,
        kind: 'ServiceProxyOptions',
        verbs: ['create', 'delete', 'get', 'patch', 'update'],
      },
      // Services: the topology's, read from it; others (chaos schedule's report server) stored (builtin.ts).
      ...builtinDiscovery('', 'v1').map(r => (r['kind'] === 'Service' ? {...r, categories: ['all']} : r)),
    ],
  }
}

function groupVersions(group: string, versions: readonly string[]): {groupVersion: string; version: string}[] {
  return versions.map(version => ({groupVersion: `${group}/${version}`, version}))
}

/** `GET /apis/<group>` for one group. */
export function apiGroup(group: string): unknown | undefined {
  const versions =
    group === ISTIO_GROUP
      ? ISTIO_VERSIONS
      : group === SECURITY_GROUP
        ? SECURITY_VERSIONS
        : group === AUTHORIZATION_GROUP || BUILTIN_GROUPS.includes(group)
          ? ['v1']
          : undefined
  if (versions === undefined) return undefined
  const gv = groupVersions(group, versions)
  return {kind: 'APIGroup', apiVersion: 'v1', name: group, versions: gv, preferredVersion: gv[0]}
}

/** `GET /apis`: the groups, preferred version first. */
export function apiGroups(): unknown {
  return {
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: [...BUILTIN_GROUPS, AUTHORIZATION_GROUP, ISTIO_GROUP, SECURITY_GROUP].map(apiGroup),
  }
}

/** `GET /apis/<group>/<version>`, or undefined when that group/version is not served. */
export function groupResources(group: string, version: string): unknown | undefined {
  if (group === AUTHORIZATION_GROUP && version === 'v1') {
    return {
      kind: 'APIResourceList',
      apiVersion: 'v1',
      groupVersion: `${group}/${version}`,
      resources: [
        {
          name: 'selfsubjectaccessreviews',
          singularName: 'selfsubjectaccessreview',
          namespaced: false,
          kind: 'SelfSubjectAccessReview',
          verbs: ['create'],
        },
      ],
    }
  }
  if (BUILTIN_GROUPS.includes(group) && version === 'v1')
    return {
      kind: 'APIResourceList',
      apiVersion: 'v1',
      groupVersion: `${group}/${version}`,
      resources: builtinDiscovery(group, version),
    }
  if (group === SECURITY_GROUP && (SECURITY_VERSIONS as readonly string[]).includes(version)) {
    const crd = crdFor('PeerAuthentication')
    const resources = [
      {
        name: crd.plural,
        singularName: crd.singular,
        namespaced: true,
        kind: crd.kind,
        verbs: CUSTOM_RESOURCE_VERBS,
        shortNames: crd.shortNames,
        categories: ['istio-io', 'security-istio-io'],
      },
    ]
    return {kind: 'APIResourceList', apiVersion: 'v1', groupVersion: `${group}/${version}`, resources}
  }
  if (group !== ISTIO_GROUP || !(ISTIO_VERSIONS as readonly string[]).includes(version)) return undefined
  const resources = (['VirtualService', 'DestinationRule', 'Gateway'] as const).map(kind => {
    const crd = crdFor(kind)
    return {
      name: crd.plural,
      singularName: crd.singular,
      namespaced: true,
      kind: crd.kind,
      verbs: CUSTOM_RESOURCE_VERBS,
      shortNames: crd.shortNames,
      categories: ['istio-io', 'networking-istio-io'],
    }
  })
  return {kind: 'APIResourceList', apiVersion: 'v1', groupVersion: `${group}/${version}`, resources}
}
