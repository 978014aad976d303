/** What a run needs: its own module, so the phases that take it do not import the runner that calls them. */
import type {Cluster} from '../cluster/cluster.js'
import type {Experiment} from '../experiment/model.js'
import type {LoadDriver} from '../load/driver.js'
import type {EventStream} from '../journal/events.js'

/** What a run needs. */
export interface RunInput {
  file: string
  experiment: Experiment
  cluster: Cluster
  namespace: string
  driver: LoadDriver
  /** Forward proxy through which load and HTTP probes enter the mesh (the sandbox's). */
  proxy?: string
  prometheusUrl?: string
  reportDir: string
  /** `--phases baseline=5s,…`. */
  phases?: string
  /** Ctrl-C / SIGTERM. */
  signal: AbortSignal
  events: EventStream
  owner?: string
  /** Header values to mask in the journal, on every write (the reports are rendered from it by the caller). */
  redactHeaders?: string[]
  /** The revert's own deadline (default 30s), independent of the run's. */
  revertTimeoutMs?: number
  /** The ignition check before the baseline (default on; `--no-ignition` turns it off). */
  ignition?: boolean
}
