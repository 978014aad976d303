/**
 * What `chaos run` and `chaos gameday` do once the outcome is known, beside the reports: `--keep N`
 * prunes the oldest run folders, `--notify` posts the outcome to chat or any webhook, `--summary`
 * ends the output with summary.md (what a scheduled Job's log shows). Every flag is checked before
 * anything runs (exit 2); afterwards nothing here changes the exit code: a failure is a warning.
 */
import {readFile} from 'node:fs/promises'
import {join} from 'node:path'

import {Flags} from '@oclif/core'

import {ExitCode, FaultlineError} from '@faultline/core/errors.js'
import {NOTIFY_FORMATS} from '../notify/formats.js'
import {gameDayNotification, reportLink, runNotification} from '../notify/message.js'
import {NOTIFY_ENV, notifyTargets, notifyUrls, type NotifyTarget, sendNotifications} from '../notify/send.js'
import {GAMEDAY_FILES, type GameDayReport} from '../report/gameday/report.js'
import {renderMarkdown} from '../report/run/markdown.js'
import {checkKeep, pruneRuns} from '../report/prune.js'
import {redactJournal} from '../journal/redact.js'
import {isVolumeFull, reportWriteProblem} from '../report/volume.js'
import {INDEX_FILE, readJournal, REPORT_FILES, writeIndex} from '../report/write.js'
import type {ReportedRun} from '../gameday/run.js'

/** The flags, shared by `run` and `gameday`. */
export const outcomeFlags = {
  keep: Flags.integer({
    description:
      'after the run, keep only the N newest run folders of this experiment (game day: of the game day and of each of its experiments) under --report-dir, and refresh the index; only folders holding a Faultline journal or gameday.json are removed',
  }),
  notify: Flags.string({
    description: `post the outcome (verdict, reason, link) to this webhook URL when the run ends (repeatable; default $${NOTIFY_ENV}); a failed or slow (10 s) notification only warns. The URL is a secret: it is never printed`,
    multiple: true,
  }),
  'notify-format': Flags.string({
    description:
      "payload of --notify: slack (incoming webhook: text and Block Kit blocks), teams (Adaptive Card), json; default from the URL's host (hooks.slack.com → slack, *.webhook.office.com and *.logic.azure.com → teams, else json)",
    options: [...NOTIFY_FORMATS],
  }),
  'report-url': Flags.string({
    description:
      'where --report-dir is served (e.g. by chaos report serve), so notifications link to the report: BASE/<experiment>/<timestamp>/report.html',
  }),
  summary: Flags.boolean({
    description:
      "end the output with summary.md (verdict, reason, figures, the probe × phase table), so a log alone tells what happened; chaos schedule's Jobs pass it",
  }),
}

/** The parsed flags (absent ones undefined). */
export interface OutcomeFlagValues {
  keep?: number | undefined
  notify?: string[] | undefined
  'notify-format'?: string | undefined
  'report-url'?: string | undefined
  summary?: boolean | undefined
  'report-dir': string
  html: boolean
}

/** A report root the run cannot write its journal in: nothing was injected (exit 4), and the volume is named. */
export class ReportRootUnwritable extends FaultlineError {
  constructor(root: string, err: unknown) {
    super(
      `the journal could not be written: ${reportWriteProblem(err, root)}; nothing was injected`,
      ExitCode.CouldNotRun,
      'REPORTS_UNWRITABLE',
      {
        hint: isVolumeFull(err)
          ? 'Free space on the report volume (or pass --keep N to prune old runs), then run again.'
          : 'Pass a --report-dir this user can write.',
      },
    )
  }
}

/** Checked before anything runs; then `runEnded` / `gameDayEnded` once the outcome is known. */
export class AfterOutcome {
  private constructor(
    private readonly flags: OutcomeFlagValues,
    private readonly targets: NotifyTarget[],
    private readonly keep: number | undefined,
    private readonly say: (line: string) => void,
  ) {}

  /** Validates every flag (a usage error, exit 2, before anything runs). */
  static from(
    flags: OutcomeFlagValues,
    say: (line: string) => void,
    env: NodeJS.ProcessEnv = process.env,
  ): AfterOutcome {
    const keep = checkKeep(flags.keep)
    const targets = notifyTargets(notifyUrls(flags.notify, env), flags['notify-format'])
    const base = flags['report-url']
    if (base !== undefined) {
      let url: URL | undefined
      try {
        url = new URL(base)
      } catch {
        url = undefined
      }
      if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
        throw new FaultlineError(`--report-url ${base}: not an http(s) URL`, ExitCode.Invalid, 'USAGE', {
          hint: 'Pass where the report root is served, e.g. --report-url http://localhost:8080 (kubectl port-forward svc/<name>-reports 8080).',
        })
      }
    }
    return new AfterOutcome(flags, targets, keep, say)
  }

  /**
   * The error to throw for one that escaped the run: a journal that cannot be created (a full or
   * read-only report volume — the only file the runner writes before it has caught everything)
   * becomes exit 4 naming the volume; anything else is returned as it was.
   */
  unwritableRoot(err: unknown): unknown {
    const code = (err as NodeJS.ErrnoException | undefined)?.code
    return code !== undefined &&
      !(err instanceof FaultlineError) &&
      ['ENOSPC', 'EDQUOT', 'EROFS', 'EACCES', 'EPERM'].includes(code)
      ? new ReportRootUnwritable(this.flags['report-dir'], err)
      : err
  }

  /** After `chaos run`: prune, notify, then print summary.md last. */
  async runEnded(name: string, result: ReportedRun, exitCode: number, startedAt: Date): Promise<void> {
    await this.prune([name])
    const html = result.reportFiles.find(f => f.endsWith(REPORT_FILES.html))
    const linked = html ?? join(result.runDir, REPORT_FILES.markdown)
    const reportUrl = reportLink(this.flags['report-url'], this.flags['report-dir'], linked)
    const notification = runNotification({
      name,
      outcome: result.outcome,
      exitCode,
      reason: result.reason,
      runId: result.runId,
      startedAt: startedAt.toISOString(),
      durationMs: Date.now() - startedAt.getTime(),
      ...(reportUrl === undefined ? {} : {reportUrl}),
    })
    await sendNotifications(this.targets, notification, {warn: message => this.say(`warning: ${message}`)})
    if (this.flags.summary === true) await this.printRunSummary(result)
  }

  /** After `chaos gameday`: prune the game day's and its experiments' folders, notify, print its summary.md last. */
  async gameDayEnded(report: GameDayReport, dir: string, files: readonly string[], markdown: string): Promise<void> {
    await this.prune([report.name, ...new Set(report.experiments.filter(e => e.status === 'ran').map(e => e.name))])
    const html = files.find(f => f.endsWith(GAMEDAY_FILES.html))
    const reportUrl = reportLink(
      this.flags['report-url'],
      this.flags['report-dir'],
      html ?? join(dir, GAMEDAY_FILES.markdown),
    )
    await sendNotifications(this.targets, gameDayNotification(report, reportUrl === undefined ? {} : {reportUrl}), {
      warn: message => this.say(`warning: ${message}`),
    })
    if (this.flags.summary === true) this.printSummary(markdown)
  }

  private async prune(names: string[]): Promise<void> {
    if (this.keep === undefined) return
    const root = this.flags['report-dir']
    try {
      const removed: string[] = []
      for (const name of names) removed.push(...(await pruneRuns(root, name, this.keep)).removed)
      if (removed.length > 0 && this.flags.html) await writeIndex(root)
      this.say(
        `--keep ${this.keep}: ${removed.length === 0 ? 'no older run folder to remove' : `removed ${removed.length} older run folder${removed.length === 1 ? '' : 's'} (${removed.join(', ')})${this.flags.html ? `; ${join(root, INDEX_FILE)} lists the rest` : ''}`}`,
      )
    } catch (err) {
      this.say(`warning: --keep ${this.keep}: old run folders could not be pruned (${reportWriteProblem(err, root)})`)
    }
  }

  /** summary.md as written; if it was not (a full volume), rendered again from the journal. */
  private async printRunSummary(result: ReportedRun): Promise<void> {
    const written = result.reportFiles.find(f => f.endsWith(REPORT_FILES.markdown))
    try {
      const text =
        written === undefined
          ? renderMarkdown(redactJournal(await readJournal(result.journalFile), []))
          : await readFile(written, 'utf8')
      this.printSummary(text)
    } catch (err) {
      this.say(`warning: the summary could not be printed (${(err as Error).message})`)
    }
  }

  private printSummary(markdown: string): void {
    this.say(`\n${markdown.trimEnd()}`)
  }
}
