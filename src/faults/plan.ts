/** The data the fault compiler produces: what to write, and how to undo it. */
import type {VirtualService, VirtualServiceSpec} from '@faultline/core/istio/types.js'

/** How to undo one write, decided when the plan is made (before anything is applied). */
export interface RevertPlan {
  namespace: string
  name: string
  /** We created the object: revert deletes it (unless others have since added to it). */
  created: boolean
  /** The spec before our change (updates only): a clean revert restores exactly this. */
  originalSpec?: VirtualServiceSpec
  /** resourceVersion of the object we read (updates only): the write must be conditional on it. */
  readResourceVersion?: string
  /** Names of the fault routes we inserted; a revert after foreign edits removes exactly these. */
  faultRouteNames: string[]
  /** Fingerprint of the spec we write. */
  fingerprint: string
  /** Fingerprint of the spec we write minus our fault routes. */
  baseFingerprint: string
  runId: string
}

/** One VirtualService the run writes. */
export interface PlannedVirtualService {
  action: 'create' | 'update'
  /** The object as read from the cluster (updates only). */
  existing?: VirtualService
  /** The object to write (for updates it carries the read resourceVersion). */
  desired: VirtualService
  revert: RevertPlan
  /** Indexes into the experiment's `spec.faults` of the faults this object carries. */
  faults: number[]
  /** FQDNs of the services those faults target. */
  services: string[]
  /** Things the operator should know (routes that cannot carry a fault, …). */
  notes: string[]
}

/** Everything one run writes, all-or-nothing. */
export interface FaultPlan {
  runId: string
  namespace: string
  /** RFC 3339. */
  expiresAt: string
  objects: PlannedVirtualService[]
}
