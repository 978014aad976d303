/**
 * Why a report could not be written, in words that name where it was going. In a scheduled run the
 * report root is a volume (a PersistentVolumeClaim or an emptyDir) that `chaos schedule` describes
 * in `$FAULTLINE_REPORTS_VOLUME`, so a full disk names the claim to grow.
 */

/** Set by `chaos schedule`'s CronJob: which volume holds the report root (e.g. `PersistentVolumeClaim bookinfo/chaos-reports`). */
export const REPORTS_VOLUME_ENV = 'FAULTLINE_REPORTS_VOLUME'

const FULL = new Set(['ENOSPC', 'EDQUOT'])

/** The volume the report root `root` is on, as the environment names it, else the folder. */
export function reportVolume(root: string, env: NodeJS.ProcessEnv = process.env): string {
  const named = env[REPORTS_VOLUME_ENV]?.trim()
  return named === undefined || named === '' ? `the volume holding ${root}` : `${named} (mounted at ${root})`
}

/** Whether `err` says the disk (or a quota) is full. */
export function isVolumeFull(err: unknown): boolean {
  return FULL.has((err as NodeJS.ErrnoException | undefined)?.code ?? '')
}

/** What went wrong writing under `root`: a full volume is named as such; anything else is the error's message. */
export function reportWriteProblem(err: unknown, root: string, env: NodeJS.ProcessEnv = process.env): string {
  const message = (err as Error | undefined)?.message ?? String(err)
  if (isVolumeFull(err))
    return `${reportVolume(root, env)} is full (${(err as NodeJS.ErrnoException).code}): free space on it or give it more — ${message}`
  if ((err as NodeJS.ErrnoException | undefined)?.code === 'EROFS')
    return `${reportVolume(root, env)} is read-only — ${message}`
  return message
}
