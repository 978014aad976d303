import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base.js'
import {LOAD_DRIVERS} from '../experiment/model.js'
import {NOTIFY_FORMATS} from '../notify/formats.js'
import {ACCESS_MODES, DEFAULT_REPORTS_SIZE} from '../schedule/reports.js'
import {buildSchedule, defaultImage, renderManifests} from '../schedule/schedule.js'

/** `chaos schedule <file> --cron …`: the Kubernetes objects that run an experiment or GameDay on a schedule. */
export default class Schedule extends BaseCommand {
  static override summary = 'Print the Kubernetes objects that run an experiment or GameDay on a schedule.'
  static override description = `Prints multi-document YAML for kubectl apply -f -: a ServiceAccount; a Role and RoleBinding granting exactly what the run's preflight checks (VirtualServices, DestinationRules, pods, services, pods/proxy for sidecar stats and pods/exec as their fallback) in each target namespace; a ConfigMap with the experiment file(s) — a GameDay's referenced files included, its paths rewritten to the mounted volume; and a CronJob (concurrencyPolicy Forbid, backoffLimit 0, a deadline derived from the phases) running chaos run (or chaos gameday) as a non-root user with a read-only root filesystem.

The file is validated first: an invalid one is refused (exit 2) with file:line:col diagnostics, as chaos validate does. Every object is named --name (default: the file's metadata.name) and labelled app.kubernetes.io/name=faultline.

--reaper adds, in each target namespace, a CronJob running chaos revert --expired every minute with its own Role (get, list, update, delete VirtualServices), so faults of a run that was killed (SIGKILL, eviction, deadline) are reverted once they expire. To deploy only the reaper: ... --reaper | kubectl apply -f - -l app.kubernetes.io/component=reaper

Reports go to an emptyDir that dies with the Job's pod unless --reports-pvc NAME (a PersistentVolumeClaim this prints) or --reports-pvc-existing NAME keeps them; --keep N prunes each run's oldest folders; --report-server adds a Deployment and Service running chaos report serve on the claim, read-only (kubectl port-forward svc/<name>-reports 8080). --notify-secret NAME/KEY posts each outcome to the webhook URL stored in that Secret (never in the ConfigMap). The Job's log ends with summary.md (the run gets --summary).`
  static override examples = [
    {
      description: "Every Monday at 10:00 (the controller's time zone, usually UTC), applied directly",
      command:
        '<%= config.bin %> schedule experiments/ratings-delay.yaml --cron "0 10 * * 1" --namespace bookinfo | kubectl apply -f -',
    },
    {
      description: 'A GameDay on weekdays at 09:30 Berlin time, with the reaper, from your registry',
      command:
        '<%= config.bin %> schedule experiments/weekly-gameday.yaml --cron "30 9 * * 1-5" --time-zone Europe/Berlin --image registry.example.com/chaos:0.1.0 --reaper > gameday.yaml',
    },
    {
      description: 'Review what would change in the cluster',
      command:
        '<%= config.bin %> schedule experiments/ratings-abort.yaml --cron @daily --name nightly-ratings | kubectl diff -f -',
    },
    {
      description:
        'Reports kept on a claim (the last 20 runs), browsable through a report server, and a Slack message per run',
      command:
        '<%= config.bin %> schedule experiments/weekly-gameday.yaml --cron "0 10 * * 1" --reports-pvc chaos-reports --keep 20 --report-server --notify-secret chaos-webhook/url --report-url http://localhost:8080',
    },
  ]
  static override args = {file: Args.string({description: 'experiment or GameDay file', required: true})}
  static override flags = {
    cron: Flags.string({
      description: 'when to run, in cron syntax (5 fields, e.g. "0 10 * * 1") or a descriptor (@daily)',
      required: true,
    }),
    'time-zone': Flags.string({
      description:
        "IANA time zone for --cron (spec.timeZone), e.g. Europe/Berlin; default: the controller's (usually UTC)",
    }),
    image: Flags.string({description: `runner image (default: ${defaultImage()})`}),
    namespace: Flags.string({
      char: 'n',
      description:
        "namespace the run targets and the objects live in (default: the file's spec.target.namespace, else default)",
    }),
    name: Flags.string({
      description:
        "name of every generated object (default: the file's metadata.name; at most 52 characters, 45 with --reaper)",
    }),
    'prometheus-url': Flags.string({
      description: 'Prometheus base URL as seen from inside the cluster, for PromQL probes',
    }),
    driver: Flags.string({
      description:
        "the run's load driver (overrides spec.load.driver); k6-operator adds the Role rules its TestRun needs (testruns.k6.io, configmaps)",
      options: [...LOAD_DRIVERS],
    }),
    reaper: Flags.boolean({
      description: 'also print a CronJob that runs chaos revert --expired every minute, with its own minimal Role',
    }),
    'reports-pvc': Flags.string({
      description:
        "also print a PersistentVolumeClaim of this name and keep the reports on it (mounted at /reports) instead of the pod's emptyDir",
      exclusive: ['reports-pvc-existing'],
    }),
    'reports-pvc-existing': Flags.string({
      description: "keep the reports on this existing PersistentVolumeClaim (in the CronJob's namespace)",
      exclusive: ['reports-pvc'],
    }),
    'reports-size': Flags.string({
      description: `size of the claim --reports-pvc creates (default ${DEFAULT_REPORTS_SIZE})`,
    }),
    'storage-class': Flags.string({
      description: "StorageClass of the claim --reports-pvc creates (default: the cluster's default class)",
    }),
    'reports-access-mode': Flags.string({
      description:
        "access mode of the claim --reports-pvc creates (default ReadWriteOnce: with --report-server, the runs are scheduled on the server's node)",
      options: [...ACCESS_MODES],
    }),
    keep: Flags.integer({
      description:
        'keep only the N newest run folders of the experiment (game day: of it and each of its experiments) on the report volume; the run passes --keep N',
    }),
    'report-server': Flags.boolean({
      description:
        'also print a Deployment and Service <name>-reports running chaos report serve on the claim, read-only (needs --reports-pvc or --reports-pvc-existing)',
    }),
    'notify-secret': Flags.string({
      description:
        "NAME/KEY of a Secret (in the CronJob's namespace) whose key holds a --notify webhook URL; given to the run as $FAULTLINE_NOTIFY_URL, never written in the ConfigMap or the command",
    }),
    'notify-format': Flags.string({
      description: "the run's --notify-format (default: from the URL's host)",
      options: [...NOTIFY_FORMATS],
    }),
    'report-url': Flags.string({
      description:
        "the run's --report-url: where the report root is served, so notifications link to the report (e.g. http://localhost:8080 through kubectl port-forward, or your ingress)",
    }),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Schedule)
    const schedule = await buildSchedule({
      file: args.file,
      cron: flags.cron,
      reaper: flags.reaper,
      ...(flags.image === undefined ? {} : {image: flags.image}),
      ...(flags.namespace === undefined ? {} : {namespace: flags.namespace}),
      ...(flags.name === undefined ? {} : {name: flags.name}),
      ...(flags['time-zone'] === undefined ? {} : {timeZone: flags['time-zone']}),
      ...(flags['prometheus-url'] === undefined ? {} : {prometheusUrl: flags['prometheus-url']}),
      ...(flags.driver === undefined ? {} : {driver: flags.driver}),
      ...(flags['reports-pvc'] === undefined ? {} : {reportsPvc: flags['reports-pvc']}),
      ...(flags['reports-pvc-existing'] === undefined ? {} : {reportsPvcExisting: flags['reports-pvc-existing']}),
      ...(flags['reports-size'] === undefined ? {} : {reportsSize: flags['reports-size']}),
      ...(flags['storage-class'] === undefined ? {} : {storageClass: flags['storage-class']}),
      ...(flags['reports-access-mode'] === undefined ? {} : {reportsAccessMode: flags['reports-access-mode']}),
      ...(flags.keep === undefined ? {} : {keep: flags.keep}),
      ...(flags['report-server'] ? {reportServer: true} : {}),
      ...(flags['notify-secret'] === undefined ? {} : {notifySecret: flags['notify-secret']}),
      ...(flags['notify-format'] === undefined ? {} : {notifyFormat: flags['notify-format']}),
      ...(flags['report-url'] === undefined ? {} : {reportUrl: flags['report-url']}),
    })
    for (const warning of schedule.warnings) this.logToStderr(`warning: ${warning}`)
    process.stdout.write(renderManifests(schedule.manifests))
  }
}
