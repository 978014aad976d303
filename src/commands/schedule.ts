import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base.js'
import {buildSchedule, defaultImage, renderManifests} from '../schedule/schedule.js'

/** `chaos schedule <file> --cron …`: the Kubernetes objects that run an experiment or GameDay on a schedule. */
export default class Schedule extends BaseCommand {
  static override summary = 'Print the Kubernetes objects that run an experiment or GameDay on a schedule.'
  static override description = `Prints multi-document YAML for kubectl apply -f -: a ServiceAccount; a Role and RoleBinding granting exactly what the run's preflight checks (VirtualServices, DestinationRules, pods, services, pods/exec) in each target namespace; a ConfigMap with the experiment file(s) — a GameDay's referenced files included, its paths rewritten to the mounted volume; and a CronJob (concurrencyPolicy Forbid, backoffLimit 0, a deadline derived from the phases) running chaos run (or chaos gameday) as a non-root user with a read-only root filesystem.

The file is validated first: an invalid one is refused (exit 2) with file:line:col diagnostics, as chaos validate does. Every object is named --name (default: the file's metadata.name) and labelled app.kubernetes.io/name=faultline.

--reaper adds, in each target namespace, a CronJob running chaos revert --expired every minute with its own Role (get, list, update, delete VirtualServices), so faults of a run that was killed (SIGKILL, eviction, deadline) are reverted once they expire. To deploy only the reaper: ... --reaper | kubectl apply -f - -l app.kubernetes.io/component=reaper`
  static override examples = [
    {description: 'Every Monday at 10:00 (the controller\'s time zone, usually UTC), applied directly', command: '<%= config.bin %> schedule experiments/ratings-delay.yaml --cron "0 10 * * 1" --namespace bookinfo | kubectl apply -f -'},
    {description: 'A GameDay on weekdays at 09:30 Berlin time, with the reaper, from your registry', command: '<%= config.bin %> schedule experiments/weekly-gameday.yaml --cron "30 9 * * 1-5" --time-zone Europe/Berlin --image registry.example.com/chaos:0.1.0 --reaper > gameday.yaml'},
    {description: 'Review what would change in the cluster', command: '<%= config.bin %> schedule experiments/ratings-abort.yaml --cron @daily --name nightly-ratings | kubectl diff -f -'},
  ]
  static override args = {file: Args.string({description: 'experiment or GameDay file', required: true})}
  static override flags = {
    cron: Flags.string({description: 'when to run, in cron syntax (5 fields, e.g. "0 10 * * 1") or a descriptor (@daily)', required: true}),
    'time-zone': Flags.string({description: 'IANA time zone for --cron (spec.timeZone), e.g. Europe/Berlin; default: the controller\'s (usually UTC)'}),
    image: Flags.string({description: `runner image (default: ${defaultImage()})`}),
    namespace: Flags.string({char: 'n', description: 'namespace the run targets and the objects live in (default: the file\'s spec.target.namespace, else default)'}),
    name: Flags.string({description: 'name of every generated object (default: the file\'s metadata.name; at most 52 characters, 45 with --reaper)'}),
    'prometheus-url': Flags.string({description: 'Prometheus base URL as seen from inside the cluster, for PromQL probes'}),
    reaper: Flags.boolean({description: 'also print a CronJob that runs chaos revert --expired every minute, with its own minimal Role'}),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Schedule)
    const schedule = await buildSchedule({
      file: args.file, cron: flags.cron, reaper: flags.reaper,
      ...(flags.image === undefined ? {} : {image: flags.image}),
      ...(flags.namespace === undefined ? {} : {namespace: flags.namespace}),
      ...(flags.name === undefined ? {} : {name: flags.name}),
      ...(flags['time-zone'] === undefined ? {} : {timeZone: flags['time-zone']}),
      ...(flags['prometheus-url'] === undefined ? {} : {prometheusUrl: flags['prometheus-url']}),
    })
    for (const warning of schedule.warnings) this.logToStderr(`warning: ${warning}`)
    process.stdout.write(renderManifests(schedule.manifests))
  }
}
