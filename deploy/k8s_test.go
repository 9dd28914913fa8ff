package deploy

import (
	"context"
	"errors"
	"maps"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/chargeline/chargeline/pkg/bus"
	"github.com/chargeline/chargeline/pkg/normalize"
	"github.com/chargeline/chargeline/pkg/providers"
	"github.com/chargeline/chargeline/pkg/service"
	"github.com/chargeline/chargeline/pkg/sink"
)

// scaledObject is KEDA's ScaledObject (keda.sh/v1alpha1) as far as chargeline uses it, with the
// field names of KEDA's CRD: decoding strictly into it catches a misspelt field, which
// Kubernetes would otherwise drop in silence.
type scaledObject struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	Spec       struct {
		ScaleTargetRef struct {
			APIVersion string `json:"apiVersion,omitempty"`
			Kind       string `json:"kind,omitempty"`
			Name       string `json:"name"`
		} `json:"scaleTargetRef"`
		PollingInterval *int32 `json:"pollingInterval,omitempty"`
		CooldownPeriod  *int32 `json:"cooldownPeriod,omitempty"`
		MinReplicaCount *int32 `json:"minReplicaCount,omitempty"`
		MaxReplicaCount *int32 `json:"maxReplicaCount,omitempty"`
		Fallback        *struct {
			FailureThreshold int32 `json:"failureThreshold"`
			Replicas         int32 `json:"replicas"`
		} `json:"fallback,omitempty"`
		Advanced *struct {
			HorizontalPodAutoscalerConfig *struct {
				Behavior *autoscalingv2.HorizontalPodAutoscalerBehavior `json:"behavior,omitempty"`
			} `json:"horizontalPodAutoscalerConfig,omitempty"`
		} `json:"advanced,omitempty"`
		Triggers []struct {
			Type     string            `json:"type"`
			Name     string            `json:"name,omitempty"`
			Metadata map[string]string `json:"metadata"`
		} `json:"triggers"`
	} `json:"spec"`
}

// natsJetStreamMetadata lists the nats-jetstream scaler's metadata keys (KEDA docs).
var natsJetStreamMetadata = []string{"natsServerMonitoringEndpoint", "account", "stream", "consumer", "lagThreshold", "activationLagThreshold", "useHttps"}

// manifests is the output of one kustomization, decoded.
type manifests struct {
	dir         string
	deployments map[string]*appsv1.Deployment
	configMaps  map[string]*corev1.ConfigMap
	secrets     map[string]*corev1.Secret
	scaled      map[string]*scaledObject
	pdbs        map[string]*policyv1.PodDisruptionBudget
	namespaces  []string
	services    map[string]*corev1.Service
	policies    map[string]*networkingv1.NetworkPolicy
	monitors    map[string]*serviceMonitor // ServiceMonitors and PodMonitors, by kind/name
	rules       map[string]*prometheusRule
}

// build runs kustomize (sigs.k8s.io/kustomize/api/krusty, the library behind kubectl -k) on
// dir and decodes every resource strictly into its Kubernetes API type; a kind this test does
// not know fails it.
func build(t *testing.T, dir string) *manifests {
	t.Helper()
	rm, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	m := &manifests{dir: dir, deployments: map[string]*appsv1.Deployment{}, configMaps: map[string]*corev1.ConfigMap{},
		secrets: map[string]*corev1.Secret{}, scaled: map[string]*scaledObject{}, pdbs: map[string]*policyv1.PodDisruptionBudget{},
		services: map[string]*corev1.Service{}, policies: map[string]*networkingv1.NetworkPolicy{}, monitors: map[string]*serviceMonitor{},
		rules: map[string]*prometheusRule{}}
	for _, r := range rm.Resources() {
		b, err := r.AsYAML()
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		name := r.GetKind() + "/" + r.GetName()
		decode := func(obj any, apiVersion string) {
			if r.GetApiVersion() != apiVersion {
				t.Errorf("%s: %s has apiVersion %s, want %s", dir, name, r.GetApiVersion(), apiVersion)
			}
			if err := yaml.UnmarshalStrict(b, obj); err != nil {
				t.Errorf("%s: %s does not decode as %s: %v", dir, name, apiVersion, err)
			}
		}
		switch r.GetKind() {
		case "Deployment":
			d := &appsv1.Deployment{}
			decode(d, "apps/v1")
			m.deployments[d.Name] = d
		case "ConfigMap":
			c := &corev1.ConfigMap{}
			decode(c, "v1")
			m.configMaps[c.Name] = c
		case "Secret":
			s := &corev1.Secret{}
			decode(s, "v1")
			m.secrets[s.Name] = s
		case "PodDisruptionBudget":
			p := &policyv1.PodDisruptionBudget{}
			decode(p, "policy/v1")
			m.pdbs[p.Name] = p
		case "ScaledObject":
			s := &scaledObject{}
			decode(s, "keda.sh/v1alpha1")
			m.scaled[s.Metadata.Name] = s
		case "Namespace":
			n := &corev1.Namespace{}
			decode(n, "v1")
			m.namespaces = append(m.namespaces, n.Name)
		case "Service":
			svc := &corev1.Service{}
			decode(svc, "v1")
			m.services[svc.Name] = svc
		case "NetworkPolicy":
			np := &networkingv1.NetworkPolicy{}
			decode(np, "networking.k8s.io/v1")
			m.policies[np.Name] = np
		case "ServiceMonitor", "PodMonitor":
			sm := &serviceMonitor{}
			decode(sm, "monitoring.coreos.com/v1")
			m.monitors[sm.Kind+"/"+sm.Metadata.Name] = sm
		case "PrometheusRule":
			pr := &prometheusRule{}
			decode(pr, "monitoring.coreos.com/v1")
			m.rules[pr.Metadata.Name] = pr
		default:
			t.Errorf("%s: %s: this test does not know the kind %s; teach it", dir, name, r.GetKind())
		}
	}
	return m
}

// envValue is where a container's environment variable comes from.
type envValue struct {
	value    string // literal or from a ConfigMap; $(VAR) references not expanded
	secret   *corev1.SecretKeySelector
	resource *corev1.ResourceFieldSelector // downward API
}

// runtimeEnv are the variables read by the Go runtime, not by the services' settings (so not
// in --help), with the downward-API variable GOMEMLIMIT is built from.
var runtimeEnv = []string{"GOMEMLIMIT", "MEMORY_LIMIT_MIB"}

// containerEnv resolves a container's environment: envFrom ConfigMaps (which must exist in
// the output), then env entries, later ones winning as in Kubernetes.
func (m *manifests) containerEnv(t *testing.T, owner string, c corev1.Container, strict bool) map[string]envValue {
	t.Helper()
	env := map[string]envValue{}
	for _, from := range c.EnvFrom {
		if from.ConfigMapRef == nil || from.Prefix != "" {
			t.Errorf("%s: envFrom %+v: only whole ConfigMaps are used", owner, from)
			continue
		}
		cm, ok := m.configMaps[from.ConfigMapRef.Name]
		if !ok {
			t.Errorf("%s: envFrom names ConfigMap %s, which the kustomization does not produce", owner, from.ConfigMapRef.Name)
			continue
		}
		for k, v := range cm.Data {
			env[k] = envValue{value: v}
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = envValue{value: e.Value}
		case e.ValueFrom.SecretKeyRef != nil:
			env[e.Name] = envValue{secret: e.ValueFrom.SecretKeyRef}
			if strict {
				t.Errorf("%s: %s comes from a Secret as an environment variable; mount it and use %s_FILE", owner, e.Name, e.Name)
			}
		case e.ValueFrom.ResourceFieldRef != nil:
			env[e.Name] = envValue{resource: e.ValueFrom.ResourceFieldRef}
		case e.ValueFrom.ConfigMapKeyRef != nil:
			cm, ok := m.configMaps[e.ValueFrom.ConfigMapKeyRef.Name]
			if !ok {
				t.Errorf("%s: %s names ConfigMap %s, which is not produced", owner, e.Name, e.ValueFrom.ConfigMapKeyRef.Name)
				continue
			}
			env[e.Name] = envValue{value: cm.Data[e.ValueFrom.ConfigMapKeyRef.Key]}
		default:
			t.Errorf("%s: %s: unsupported valueFrom %+v", owner, e.Name, e.ValueFrom)
		}
	}
	return env
}

// secretFile finds the Secret key a file path points to through the pod's volume mounts.
func (m *manifests) secretFile(pod corev1.PodSpec, c corev1.Container, file string) (secretName, key string, err error) {
	dir, key := path.Split(file)
	dir = strings.TrimSuffix(dir, "/")
	for _, vm := range c.VolumeMounts {
		if vm.MountPath != dir {
			continue
		}
		for _, v := range pod.Volumes {
			if v.Name != vm.Name {
				continue
			}
			if v.Secret == nil || len(v.Secret.Items) > 0 {
				return "", "", errors.New("volume " + v.Name + " is not a whole Secret")
			}
			return v.Secret.SecretName, key, nil
		}
		return "", "", errors.New("mount " + vm.Name + " has no volume")
	}
	return "", "", errors.New("no volume is mounted at " + dir)
}

// serviceOf tells which chargeline service a Deployment runs, from its image.
func serviceOf(d *appsv1.Deployment) string {
	img := d.Spec.Template.Spec.Containers[0].Image
	img = img[strings.LastIndex(img, "/")+1:]
	if i := strings.IndexAny(img, ":@"); i >= 0 {
		img = img[:i]
	}
	return img
}

// providerNames lists the registered providers (bemo, pip, …): each has a poller Deployment.
func providerNames() []string {
	var names []string
	for _, p := range providers.All() {
		names = append(names, p.Name())
	}
	return names
}

func TestKubernetesManifests(t *testing.T) {
	envs := map[string][]string{}
	bins := map[string]string{}
	for _, svc := range []string{"poller", "normalizer", "sink"} {
		bins[svc] = buildService(t, svc)
		envs[svc] = helpEnv(t, bins[svc], svc)
	}
	base := build(t, "k8s/base")
	example := build(t, "k8s/overlays/example")

	for _, m := range []*manifests{base, example} {
		t.Run(m.dir, func(t *testing.T) {
			// Secrets come from the overlay: the base only names them.
			checkManifests(t, m, envs, m == example)
		})
	}
	t.Run("k8s/overlays/example/namespace", func(t *testing.T) {
		if !slices.Contains(example.namespaces, "chargeline") {
			t.Errorf("the example overlay creates namespaces %v, want chargeline", example.namespaces)
		}
		for name, d := range example.deployments {
			if d.Namespace != "chargeline" {
				t.Errorf("Deployment %s in namespace %q", name, d.Namespace)
			}
		}
	})
	t.Run("clickhouse/chi.yaml", func(t *testing.T) {
		checkClickHouseExample(t, example)
	})
	for _, m := range []*manifests{base, example} {
		t.Run(m.dir+"/networkpolicy", func(t *testing.T) { checkNetworkPolicies(t, m) })
	}
	t.Run("k8s/components/monitoring", func(t *testing.T) { checkMonitoring(t, example) })
	t.Run("k8s/overlays/example/configuration-is-valid", func(t *testing.T) {
		checkServicesAcceptConfiguration(t, example, bins)
	})
}

func checkManifests(t *testing.T, m *manifests, envs map[string][]string, complete bool) {
	pollers := map[string]bool{}
	for name, d := range m.deployments {
		owner := "Deployment " + name
		spec := d.Spec.Template.Spec
		if d.Spec.Selector == nil || len(d.Spec.Selector.MatchLabels) == 0 {
			t.Errorf("%s has no selector", owner)
		}
		for k, v := range d.Spec.Selector.MatchLabels {
			if d.Spec.Template.Labels[k] != v {
				t.Errorf("%s: selector %s=%s does not match its pod labels %v", owner, k, v, d.Spec.Template.Labels)
			}
		}
		if d.Spec.Template.Labels["app.kubernetes.io/part-of"] != "chargeline" {
			t.Errorf("%s: pods lack the label app.kubernetes.io/part-of=chargeline (deploy/README.md selects them by it)", owner)
		}
		if len(spec.Containers) != 1 {
			t.Errorf("%s has %d containers, want 1", owner, len(spec.Containers))
			continue
		}
		c := spec.Containers[0]
		svc := serviceOf(d)
		known, ok := envs[svc]
		if !ok {
			t.Errorf("%s runs image %s, not a chargeline service this test knows", owner, c.Image)
			continue
		}
		if pdb, ok := m.pdbs[name]; !ok || !maps.Equal(pdb.Spec.Selector.MatchLabels, d.Spec.Selector.MatchLabels) {
			t.Errorf("%s has no PodDisruptionBudget with its selector", owner)
		}

		env := m.containerEnv(t, owner, c, true)
		checkMemoryLimit(t, owner, c)
		for k := range env {
			if !slices.Contains(known, k) && !slices.Contains(runtimeEnv, k) {
				t.Errorf("%s sets %s, which services/%s does not read (--help)", owner, k, svc)
			}
		}
		for k, v := range env {
			if !strings.HasSuffix(k, "_FILE") {
				continue
			}
			secret, key, err := m.secretFile(spec, c, v.value)
			if err != nil {
				t.Errorf("%s: %s=%s: %v", owner, k, v.value, err)
				continue
			}
			if !complete {
				continue
			}
			s, ok := m.secrets[secret]
			if !ok {
				t.Errorf("%s: %s=%s: Secret %s is not produced", owner, k, v.value, secret)
			} else if _, ok := s.Data[key]; !ok {
				t.Errorf("%s: %s=%s: Secret %s has no key %s", owner, k, v.value, secret, key)
			}
		}
		if complete {
			for _, v := range spec.Volumes {
				if v.Secret != nil && m.secrets[v.Secret.SecretName] == nil {
					t.Errorf("%s mounts Secret %s, which is not produced", owner, v.Secret.SecretName)
				}
			}
		}
		// Secrets are files, never plain environment values.
		for k := range env {
			if slices.Contains(known, k+"_FILE") && env[k].value != "" {
				t.Errorf("%s sets the secret %s as a value; use %s_FILE", owner, k, k)
			}
		}

		// HTTP_ADDR, the container port, the probes and the scrape annotations agree.
		addr := env["HTTP_ADDR"].value
		_, portText, err := net.SplitHostPort(addr)
		port, _ := strconv.Atoi(portText)
		if err != nil || port == 0 {
			t.Errorf("%s: HTTP_ADDR %q has no port (/metrics, /healthz and /readyz are off)", owner, addr)
			continue
		}
		if len(c.Ports) != 1 || c.Ports[0].Name != "http" || int(c.Ports[0].ContainerPort) != port {
			t.Errorf("%s: ports %+v, want one named http on %d (HTTP_ADDR)", owner, c.Ports, port)
		}
		for _, p := range []struct {
			kind  string
			probe *corev1.Probe
			path  string
		}{{"startupProbe", c.StartupProbe, "/healthz"}, {"livenessProbe", c.LivenessProbe, "/healthz"}, {"readinessProbe", c.ReadinessProbe, "/readyz"}} {
			if p.probe == nil || p.probe.HTTPGet == nil {
				t.Errorf("%s has no HTTP %s", owner, p.kind)
				continue
			}
			if g := p.probe.HTTPGet; g.Path != p.path || (g.Port.String() != "http" && g.Port.IntValue() != port) {
				t.Errorf("%s: %s GET %s on %s, want %s on http (%d)", owner, p.kind, g.Path, g.Port.String(), p.path, port)
			}
		}
		ann := d.Spec.Template.Annotations
		if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/port"] != strconv.Itoa(port) || ann["prometheus.io/path"] != "/metrics" {
			t.Errorf("%s: scrape annotations %v, want scrape true, port %d, path /metrics", owner, ann, port)
		}
		if sc := c.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("%s: container must run with a read-only root and no privilege escalation", owner)
		}
		if r, ok := c.Resources.Requests[corev1.ResourceMemory]; !ok || r.IsZero() {
			t.Errorf("%s requests no memory", owner)
		}

		switch svc {
		case "poller":
			provider := env["POLLER_PROVIDER"].value
			pollers[provider] = true
			if name != "poller-"+provider {
				t.Errorf("%s polls %q (POLLER_PROVIDER); name it poller-%s", owner, provider, provider)
			}
			if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
				t.Errorf("%s: replicas %v, want 2 (leases make a standby safe)", owner, d.Spec.Replicas)
			}
			for k := range env {
				for _, other := range providerNames() {
					if other != provider && strings.HasPrefix(k, strings.ToUpper(other)+"_") {
						t.Errorf("%s sets %s, a setting of %s", owner, k, other)
					}
				}
			}
			if _, ok := m.scaled[name]; ok {
				t.Errorf("%s is autoscaled: pollers scale by leases and partitions, not by lag", owner)
			}
		case "normalizer", "sink":
			if d.Spec.Replicas != nil {
				t.Errorf("%s sets replicas: its ScaledObject owns that", owner)
			}
			checkScaledObject(t, m, d, svc, env)
		}
		if env["STREAM_REPLICAS"].value != "3" {
			t.Errorf("%s: STREAM_REPLICAS %q, want 3 (deploy/nats/values.yaml runs 3 servers)", owner, env["STREAM_REPLICAS"].value)
		}
	}
	for _, p := range providerNames() {
		if !pollers[p] {
			t.Errorf("no poller Deployment for provider %s", p)
		}
	}
	for _, name := range []string{"normalizer", "sink"} {
		if m.deployments[name] == nil {
			t.Errorf("no %s Deployment", name)
		}
	}
	for name := range m.scaled {
		if m.deployments[name] == nil {
			t.Errorf("ScaledObject %s has no Deployment of that name", name)
		}
	}
}

// checkScaledObject checks a Deployment's ScaledObject: nats-jetstream triggers naming exactly
// the durable consumers the service uses (stream and consumer names from the code and the
// manifest's settings), on the NATS account and monitoring endpoint of deploy/nats/values.yaml.
func checkScaledObject(t *testing.T, m *manifests, d *appsv1.Deployment, svc string, env map[string]envValue) {
	t.Helper()
	so, ok := m.scaled[d.Name]
	if !ok {
		t.Errorf("Deployment %s has no ScaledObject", d.Name)
		return
	}
	owner := "ScaledObject " + d.Name
	if so.Spec.ScaleTargetRef.Name != d.Name || (so.Spec.ScaleTargetRef.Kind != "" && so.Spec.ScaleTargetRef.Kind != "Deployment") {
		t.Errorf("%s targets %+v", owner, so.Spec.ScaleTargetRef)
	}
	// A consumer that does not exist yet reads as the whole stream to the scaler; at least one
	// replica must run to create it (and to keep the lag metrics).
	if so.Spec.MinReplicaCount == nil || *so.Spec.MinReplicaCount < 1 || so.Spec.MaxReplicaCount == nil || *so.Spec.MaxReplicaCount < *so.Spec.MinReplicaCount {
		t.Errorf("%s: min %v max %v, want 1 ≤ min ≤ max", owner, so.Spec.MinReplicaCount, so.Spec.MaxReplicaCount)
	}

	// The consumers the service really uses.
	want := map[string]string{} // consumer → stream
	switch svc {
	case "normalizer":
		names := providerNames()
		if v, ok := env["NORMALIZER_PROVIDERS"]; ok && v.value != "" {
			names = strings.Split(v.value, ",")
		}
		for _, p := range names {
			want[normalize.ConsumerName(strings.TrimSpace(p))] = bus.StreamRaw
		}
	case "sink":
		for _, st := range sink.Settings() {
			switch st.Env {
			case "SINK_EVENTS_CONSUMER":
				want[cmp(env[st.Env].value, st.Default)] = bus.StreamEvents
			case "SINK_RAW_CONSUMER":
				want[cmp(env[st.Env].value, st.Default)] = bus.StreamRaw
			}
		}
	}
	if len(want) == 0 {
		t.Fatalf("%s: found no consumer names for %s", owner, svc)
	}
	nats := natsValues(t)
	got := map[string]string{}
	for i, tr := range so.Spec.Triggers {
		if tr.Type != "nats-jetstream" {
			t.Errorf("%s trigger %d: type %q, want nats-jetstream", owner, i, tr.Type)
			continue
		}
		for k := range tr.Metadata {
			if !slices.Contains(natsJetStreamMetadata, k) {
				t.Errorf("%s trigger %d: unknown nats-jetstream metadata %s", owner, i, k)
			}
		}
		md := tr.Metadata
		got[md["consumer"]] = md["stream"]
		if n, err := strconv.Atoi(md["lagThreshold"]); err != nil || n < 1 {
			t.Errorf("%s trigger %d: lagThreshold %q, want a positive integer", owner, i, md["lagThreshold"])
		}
		if md["natsServerMonitoringEndpoint"] != nats.monitoringEndpoint {
			t.Errorf("%s trigger %d: natsServerMonitoringEndpoint %q, want %q (the headless Service of deploy/nats/values.yaml, so the scaler reaches each server)", owner, i, md["natsServerMonitoringEndpoint"], nats.monitoringEndpoint)
		}
		if acc, ok := nats.userAccount[env["NATS_USER"].value]; !ok || md["account"] != acc {
			t.Errorf("%s trigger %d: account %q, want the account of NATS_USER %q in deploy/nats/values.yaml (%q)", owner, i, md["account"], env["NATS_USER"].value, acc)
		}
	}
	if !maps.Equal(got, want) {
		t.Errorf("%s triggers on consumers %v (consumer → stream), want %v", owner, got, want)
	}
	// NATS_URL names the chart's client Service.
	u, err := url.Parse(strings.Split(env["NATS_URL"].value, ",")[0])
	if err != nil || u.Hostname() != nats.clientHost {
		t.Errorf("Deployment %s: NATS_URL %q, want nats://%s:4222", d.Name, env["NATS_URL"].value, nats.clientHost)
	}
}

func cmp(v, def string) string {
	if v != "" {
		return v
	}
	return def
}

// natsDeployment is what the services need from deploy/nats/values.yaml.
type natsDeployment struct {
	replicas           int
	clientHost         string            // <fullname>.<namespace>.svc.cluster.local
	monitoringEndpoint string            // <fullname>-headless.<namespace>.svc.cluster.local:<port>
	userAccount        map[string]string // user → account with JetStream
}

// natsNamespace is where deploy/nats/values.yaml says to install the chart.
const natsNamespace = "nats"

var natsVar = regexp.MustCompile(`<< \$([A-Z0-9_]+) >>`)

// natsValues reads deploy/nats/values.yaml (values of the NATS Helm chart 1.x). Without the
// chart here, it checks the structure chargeline depends on, not the chart's whole schema.
func natsValues(t *testing.T) natsDeployment {
	t.Helper()
	b, err := os.ReadFile("nats/values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		FullnameOverride string `json:"fullnameOverride"`
		Config           struct {
			Cluster struct {
				Enabled  bool `json:"enabled"`
				Replicas int  `json:"replicas"`
			} `json:"cluster"`
			JetStream struct {
				Enabled   bool `json:"enabled"`
				FileStore struct {
					Enabled bool `json:"enabled"`
					PVC     struct {
						Enabled bool   `json:"enabled"`
						Size    string `json:"size"`
					} `json:"pvc"`
				} `json:"fileStore"`
			} `json:"jetstream"`
			Monitor struct {
				Enabled bool `json:"enabled"`
				Port    int  `json:"port"`
			} `json:"monitor"`
			Merge struct {
				Accounts map[string]struct {
					JetStream string `json:"jetstream"`
					Users     []struct {
						User     string `json:"user"`
						Password string `json:"password"`
					} `json:"users"`
				} `json:"accounts"`
			} `json:"merge"`
		} `json:"config"`
		Container struct {
			Env map[string]any `json:"env"`
		} `json:"container"`
	}
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatalf("nats/values.yaml: %v", err)
	}
	c := v.Config
	if !c.Cluster.Enabled || c.Cluster.Replicas != 3 {
		t.Errorf("nats/values.yaml: cluster enabled %v with %d replicas, want a 3-node cluster", c.Cluster.Enabled, c.Cluster.Replicas)
	}
	if !c.JetStream.Enabled || !c.JetStream.FileStore.Enabled || !c.JetStream.FileStore.PVC.Enabled || c.JetStream.FileStore.PVC.Size == "" {
		t.Errorf("nats/values.yaml: JetStream must be on, with file storage on a PVC: %+v", c.JetStream)
	}
	if !c.Monitor.Enabled || c.Monitor.Port == 0 {
		t.Errorf("nats/values.yaml: the monitoring port (KEDA reads /jsz) is off")
	}
	d := natsDeployment{
		replicas:           c.Cluster.Replicas,
		clientHost:         v.FullnameOverride + "." + natsNamespace + ".svc.cluster.local",
		monitoringEndpoint: v.FullnameOverride + "-headless." + natsNamespace + ".svc.cluster.local:" + strconv.Itoa(c.Monitor.Port),
		userAccount:        map[string]string{},
	}
	for name, acc := range c.Merge.Accounts {
		for _, u := range acc.Users {
			if acc.JetStream == "enabled" {
				d.userAccount[u.User] = name
			}
			for _, m := range natsVar.FindAllStringSubmatch(u.Password, -1) {
				if _, ok := v.Container.Env[m[1]]; !ok {
					t.Errorf("nats/values.yaml: user %s's password reads $%s, which container.env does not set", u.User, m[1])
				}
			}
		}
	}
	if v.FullnameOverride == "" {
		t.Error("nats/values.yaml: set fullnameOverride: the services and KEDA name its Services")
	}
	return d
}

// checkServicesAcceptConfiguration starts every Deployment's service with exactly the
// environment the manifests give it (Secrets written to files where the pod mounts them),
// NATS pointed at a closed port and the HTTP server on a free loopback port. A valid configuration gets past
// validation and fails connecting to NATS (exit 1); an invalid one exits 2 before that.
func checkServicesAcceptConfiguration(t *testing.T, m *manifests, bins map[string]string) {
	closed := closedPort(t)
	for name, d := range m.deployments {
		t.Run(name, func(t *testing.T) {
			spec := d.Spec.Template.Spec
			c := spec.Containers[0]
			env := m.containerEnv(t, name, c, false)
			dir := t.TempDir()
			resolved, err := kubeletEnv(c, env)
			if err != nil {
				t.Fatal(err)
			}
			var environ []string
			for k, v := range env {
				val := v.value
				if r, ok := resolved[k]; ok && !strings.HasSuffix(k, "_FILE") && v.secret == nil {
					val = r // downward API values and $(VAR) references, as the kubelet sets them
				}
				if strings.HasSuffix(k, "_FILE") {
					secret, key, err := m.secretFile(spec, c, val)
					if err != nil {
						t.Fatalf("%s: %v", k, err)
					}
					s := m.secrets[secret]
					if s == nil {
						t.Fatalf("%s: Secret %s is not produced", k, secret)
					}
					val = filepath.Join(dir, secret+"-"+key)
					if err := os.WriteFile(val, s.Data[key], 0o600); err != nil {
						t.Fatal(err)
					}
				}
				switch k {
				case "NATS_URL":
					val = "nats://" + closed
				case "HTTP_ADDR":
					val = "127.0.0.1:0" // an empty value means the default, :8080
				}
				environ = append(environ, k+"="+val)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute) // a guard, not a measurement
			defer cancel()
			cmd := exec.CommandContext(ctx, bins[serviceOf(d)])
			cmd.Env = environ
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != service.ExitFailure || strings.Contains(string(out), "invalid configuration") {
				t.Errorf("%s with the manifest's environment: %v (want exit %d: valid settings, NATS unreachable)\n%s", name, err, service.ExitFailure, out)
			}
			if !strings.Contains(strings.ToLower(string(out)), "nats") {
				t.Errorf("%s did not fail on NATS:\n%s", name, out)
			}
		})
	}
}

// closedPort returns a loopback address nothing listens on (one that was free a moment ago).
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// checkClickHouseExample checks deploy/clickhouse/chi.yaml (Altinity operator resources, read
// as plain YAML: the operator's Go types are not a dependency) against the example overlay's
// sink: the cluster CLICKHOUSE_CLUSTER names exists, the DSN reaches the operator's Service for
// the installation, the ClickHouse user has a password from a Secret, and the servers use the
// Keeper installation beside them.
func checkClickHouseExample(t *testing.T, example *manifests) {
	b, err := os.ReadFile("clickhouse/chi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	type named struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	}
	var chi, chk struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   named  `json:"metadata"`
		Spec       struct {
			Configuration struct {
				Zookeeper struct {
					Nodes []struct {
						Host string `json:"host"`
						Port int    `json:"port"`
					} `json:"nodes"`
				} `json:"zookeeper"`
				Users    map[string]any `json:"users"`
				Clusters []struct {
					Name   string `json:"name"`
					Layout struct {
						ShardsCount   int `json:"shardsCount"`
						ReplicasCount int `json:"replicasCount"`
					} `json:"layout"`
				} `json:"clusters"`
				Settings map[string]any `json:"settings"`
			} `json:"configuration"`
		} `json:"spec"`
	}
	for _, doc := range strings.Split(string(b), "\n---\n") {
		var head struct{ Kind string }
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			t.Fatalf("clickhouse/chi.yaml: %v", err)
		}
		switch head.Kind {
		case "ClickHouseInstallation":
			err = yaml.Unmarshal([]byte(doc), &chi)
		case "ClickHouseKeeperInstallation":
			err = yaml.Unmarshal([]byte(doc), &chk)
		default:
			t.Errorf("clickhouse/chi.yaml: unexpected kind %q", head.Kind)
		}
		if err != nil {
			t.Fatalf("clickhouse/chi.yaml %s: %v", head.Kind, err)
		}
	}
	if chi.APIVersion != "clickhouse.altinity.com/v1" || chk.APIVersion != "clickhouse-keeper.altinity.com/v1" {
		t.Errorf("clickhouse/chi.yaml: apiVersions %q and %q", chi.APIVersion, chk.APIVersion)
	}
	sinkEnv := example.containerEnv(t, "sink", example.deployments["sink"].Spec.Template.Spec.Containers[0], false)
	cluster := sinkEnv["CLICKHOUSE_CLUSTER"].value
	var found bool
	for _, c := range chi.Spec.Configuration.Clusters {
		if c.Name == cluster {
			found = true
			if c.Layout.ReplicasCount < 2 {
				t.Errorf("cluster %s has %d replicas per shard, want ≥ 2", c.Name, c.Layout.ReplicasCount)
			}
		}
	}
	if cluster == "" || !found {
		t.Errorf("the example sink's CLICKHOUSE_CLUSTER %q is not a cluster of clickhouse/chi.yaml", cluster)
	}
	u, err := url.Parse(sinkEnv["CLICKHOUSE_DSN"].value)
	if want := "clickhouse-" + chi.Metadata.Name + "." + chi.Metadata.Namespace + ".svc.cluster.local"; err != nil || u.Hostname() != want {
		t.Errorf("the example sink's CLICKHOUSE_DSN %q does not reach %s (the operator's Service)", sinkEnv["CLICKHOUSE_DSN"].value, want)
	}
	if user := sinkEnv["CLICKHOUSE_USER"].value; chi.Spec.Configuration.Users[user+"/k8s_secret_password"] == nil {
		t.Errorf("clickhouse/chi.yaml defines no password Secret for the sink's user %q", user)
	}
	zk := chi.Spec.Configuration.Zookeeper.Nodes
	if len(zk) == 0 || zk[0].Host != "keeper-"+chk.Metadata.Name || strconv.Itoa(zk[0].Port) != chk.Spec.Configuration.Settings["keeper_server/tcp_port"] {
		t.Errorf("clickhouse/chi.yaml: ClickHouse uses Keeper %+v, want keeper-%s on its tcp_port %v", zk, chk.Metadata.Name, chk.Spec.Configuration.Settings["keeper_server/tcp_port"])
	}
	if len(chk.Spec.Configuration.Clusters) != 1 || chk.Spec.Configuration.Clusters[0].Layout.ReplicasCount != 3 {
		t.Errorf("clickhouse/chi.yaml: Keeper needs 3 nodes for a quorum that survives one loss")
	}
}
