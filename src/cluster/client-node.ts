/**
 * The parts of @kubernetes/client-node that `src/cluster/` uses, re-exported from one module so the
 * build can replace it with a single minified bundle (`src/build/client-node-bundle.ts`). Imported as
 * ~2,600 separate ES modules, the library alone costs the runner ~75 MB of RSS; bundled, ~25 MB.
 */
export {
  ApiException,
  ApisApi,
  AuthorizationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  Exec,
  KubeConfig,
  PortForward,
} from '@kubernetes/client-node'
export type {V1Status} from '@kubernetes/client-node'
