/**
 * Ctrl-C and SIGTERM during a run: the first one stops the run and starts the revert; later ones
 * only say that the revert is still running — nothing skips it.
 */

/** A signal trap for the duration of a run. */
export interface SignalTrap {
  /** Aborted on the first SIGINT/SIGTERM. */
  signal: AbortSignal
  /** Restores the default handlers. */
  dispose(): void
}

/** Installs the trap; `say` prints a line for the person at the terminal. */
export function trapSignals(say: (message: string) => void): SignalTrap {
  const ac = new AbortController()
  let count = 0
  const handler = (name: NodeJS.Signals) => {
    count++
    if (count === 1) {
      say(`${name}: stopping the run and reverting every fault (another Ctrl-C will not skip the revert)…`)
      ac.abort()
    } else {
      say(
        `${name}: still reverting — please wait; the revert has its own deadline and will finish or report what is left.`,
      )
    }
  }
  process.on('SIGINT', handler)
  process.on('SIGTERM', handler)
  return {
    signal: ac.signal,
    dispose() {
      process.off('SIGINT', handler)
      process.off('SIGTERM', handler)
    },
  }
}
