/**
 * What the CLI uses of the sandbox: start (in the foreground or detached), status and stop, the
 * state record, and the options `chaos sandbox up` takes. The API server, the mesh and bookinfo
 * load only when a sandbox starts (daemon.ts imports sandbox.ts on demand).
 */
export {
  type CliEntry,
  currentCli,
  type DownResult,
  runForeground,
  sandboxStatus,
  startDetached,
  type StatusResult,
  stopSandbox,
  type UpOptions,
  type UpResult,
} from './daemon.js'
export {readSandboxState, resolveStateDir, type SandboxState, switchApiFaults} from './state.js'
export {API_FAULTS_SYNTAX, formatApiFaults, parseApiFaults} from './apiserver/faults.js'
export {type Propagation, PROPAGATIONS} from './bookinfo/http.js'
export {ISTIO_VERSIONS, type IstioVersion} from './mesh/profile.js'
export type {RevertExpired, SweepReport} from './reaper.js'
