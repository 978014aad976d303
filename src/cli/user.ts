/** Who runs the CLI, recorded as the owner of what a run writes. */
import {userInfo} from 'node:os'

/** The local user name; `userInfo()` throws for a UID with no passwd entry (common in containers). */
export function currentUser(): string {
  try {
    return userInfo().username
  } catch {
    return process.env['USER'] ?? 'unknown'
  }
}
