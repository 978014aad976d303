/**
 * Which Istio release the sandbox behaves like (`chaos sandbox up --istio 1.30|1.22`). Every field
 * is one version-dependent behaviour, with the istio/istio source that decides it; the table in
 * ./README.md lists them.
 */

/** The releases the sandbox can imitate. */
export type IstioVersion = '1.30' | '1.22'

/** Every `--istio` value, newest first (the first is the default). */
export const ISTIO_VERSIONS: readonly IstioVersion[] = ['1.30', '1.22']

/** The version-dependent behaviours of one release. */
export interface IstioProfile {
  readonly version: IstioVersion
  /** The `proxyv2` image tag pods show. */
  readonly proxyImageTag: string
  /**
   * The default retry policy also retries 503: `route/retry/retry.go` DefaultPolicy up to 1.23
   * (`RetriableStatusCodes: [503]`); from 1.24.0 EXCLUDE_UNSAFE_503_FROM_DEFAULT_RETRY (default true,
   * #52111) drops it, and 1.30.3's retry.go has no status codes at all.
   */
  readonly retry503ByDefault: boolean
  /**
   * `;` after every cluster's alt_stat_name and HTTP connection manager stat prefix
   * (`pilot/pkg/networking/util/util.go` DelimitedStatsPrefix, `constants.StatPrefixDelimiter`): from
   * 1.23.0 (ENABLE_DELIMITED_STATS_TAG_REGEX, default true; unconditional since 1.26.0); absent in 1.22.0.
   */
  readonly delimitedStatPrefixes: boolean
  /**
   * istio-proxy injected as a native sidecar (an init container with `restartPolicy: Always`):
   * ENABLE_NATIVE_SIDECARS defaults to `auto` since 1.27 (on when every node's kubelet is ≥ 1.33,
   * `pilot/pkg/features/pilot.go`); 1.22 injects it into `containers`.
   */
  readonly nativeSidecar: boolean
}

export const ISTIO_PROFILES: Readonly<Record<IstioVersion, IstioProfile>> = {
  '1.30': {
    version: '1.30',
    proxyImageTag: '1.30.3',
    retry503ByDefault: false,
    delimitedStatPrefixes: true,
    nativeSidecar: true,
  },
  '1.22': {
    version: '1.22',
    proxyImageTag: '1.22.8',
    retry503ByDefault: true,
    delimitedStatPrefixes: false,
    nativeSidecar: false,
  },
}

/** The default: the newest release. */
export const DEFAULT_PROFILE: IstioProfile = ISTIO_PROFILES['1.30']
