# Keeps, of each full Kubernetes OpenAPI v3 document in the folder given as argv[1], the paths of the
# resources the sandbox serves and every schema they reach, unchanged; writes them to the current folder.
# Usage (from schema/kubernetes-openapi/): python3 prune.py FOLDER_OF_FULL_DOCUMENTS
import json, re, sys
KEEP = {
 'api/v1': ['namespaces', 'configmaps', 'secrets', 'serviceaccounts', 'persistentvolumeclaims', 'services', 'pods'],
 'apis/batch/v1': ['cronjobs', 'jobs'],
 'apis/apps/v1': ['deployments'],
 'apis/rbac.authorization.k8s.io/v1': ['roles', 'rolebindings'],
}
for gv, plurals in KEEP.items():
    doc = json.load(open(sys.argv[1] + '/' + gv.replace('/', '__') + '_openapi.json'))
    prefix = '/' + gv + '/'
    pat = re.compile('^' + re.escape(prefix) + r'(namespaces/\{namespace\}/)?(' + '|'.join(plurals) + r')(/\{name\})?$')
    paths = {p: v for p, v in doc['paths'].items() if pat.match(p) and not (p.startswith('/api/v1/namespaces/{namespace}/namespaces'))}
    if gv == 'api/v1':
        paths = {p: v for p, v in paths.items() if not p.startswith('/api/v1/namespaces/{namespace}/namespaces')}
    schemas = doc['components']['schemas']
    keep, todo = set(), []
    def refs(o):
        if isinstance(o, dict):
            for k, v in o.items():
                if k == '$ref' and isinstance(v, str): yield v.split('/')[-1]
                else: yield from refs(v)
        elif isinstance(o, list):
            for v in o: yield from refs(v)
    todo = list(refs(paths))
    while todo:
        n = todo.pop()
        if n in keep: continue
        keep.add(n); todo.extend(refs(schemas[n]))
    out = {'openapi': doc['openapi'], 'info': doc['info'], 'paths': paths, 'components': {'schemas': {k: schemas[k] for k in sorted(keep)}}}
    name = gv.replace('/', '__') + '_openapi.json'
    json.dump(out, open(name, 'w'), separators=(',', ':'))
    print(name, len(paths), len(keep))
