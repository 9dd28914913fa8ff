package deploy

import (
	"flag"
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"os/exec"
	"reflect"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/prometheus/prometheus/promql/parser"
)

var update = flag.Bool("update", false, "rewrite the generated k8s/components/monitoring/prometheusrule.yaml from prometheus/alerts.yaml")

// serviceMonitor is the Prometheus operator's ServiceMonitor or PodMonitor
// (monitoring.coreos.com/v1) as far as chargeline uses them, with the CRDs' field names:
// decoding strictly catches a misspelt field.
type serviceMonitor struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	Spec       struct {
		Selector          metav1.LabelSelector `json:"selector"`
		NamespaceSelector *struct {
			Any        bool     `json:"any,omitempty"`
			MatchNames []string `json:"matchNames,omitempty"`
		} `json:"namespaceSelector,omitempty"`
		Endpoints           []monitorEndpoint `json:"endpoints,omitempty"`
		PodMetricsEndpoints []monitorEndpoint `json:"podMetricsEndpoints,omitempty"`
	} `json:"spec"`
}

type monitorEndpoint struct {
	Port        string `json:"port"`
	Path        string `json:"path,omitempty"`
	Interval    string `json:"interval,omitempty"`
	Relabelings []struct {
		SourceLabels []string `json:"sourceLabels,omitempty"`
		Separator    string   `json:"separator,omitempty"`
		TargetLabel  string   `json:"targetLabel,omitempty"`
		Regex        string   `json:"regex,omitempty"`
		Replacement  *string  `json:"replacement,omitempty"`
		Action       string   `json:"action,omitempty"`
	} `json:"relabelings,omitempty"`
}

// relabel applies an endpoint's relabelings (replace actions only, the ones used here) to a
// target's discovered labels and returns the result.
func (e monitorEndpoint) relabel(t *testing.T, target map[string]string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for k, v := range target {
		out[k] = v
	}
	for _, r := range e.Relabelings {
		if r.Action != "" && r.Action != "replace" {
			t.Errorf("relabeling action %q: this test only evaluates replace", r.Action)
			continue
		}
		sep, re, repl := r.Separator, r.Regex, "$1"
		if sep == "" {
			sep = ";"
		}
		if re == "" {
			re = "(.*)"
		}
		if r.Replacement != nil {
			repl = *r.Replacement
		}
		var vals []string
		for _, l := range r.SourceLabels {
			vals = append(vals, out[l])
		}
		rx := regexp.MustCompile("^(?:" + re + ")$")
		v := strings.Join(vals, sep)
		if m := rx.FindStringSubmatchIndex(v); m != nil {
			out[r.TargetLabel] = string(rx.ExpandString(nil, repl, v, m))
		}
	}
	return out
}

// prometheusRule is the operator's PrometheusRule; its spec is a rule file's content.
type prometheusRule struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	Spec       struct {
		Groups []any `json:"groups"`
	} `json:"spec"`
}

const prometheusRuleFile = "k8s/components/monitoring/prometheusrule.yaml"

// checkMonitoring checks the monitoring component in an overlay's output: the PrometheusRule
// holds exactly prometheus/alerts.yaml, the ServiceMonitor finds every Deployment's pods
// through the headless Service and labels them with the job the alerts expect, and the
// PodMonitor scrapes the NATS exporter as job nats.
func checkMonitoring(t *testing.T, m *manifests) {
	b, err := os.ReadFile("prometheus/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var alerts struct {
		Groups []any `json:"groups"`
	}
	if err := yaml.UnmarshalStrict(b, &alerts); err != nil {
		t.Fatalf("prometheus/alerts.yaml: %v", err)
	}
	if *update {
		writePrometheusRule(t, alerts.Groups)
		return
	}
	pr := m.rules["chargeline"]
	switch {
	case pr == nil:
		t.Errorf("%s: no PrometheusRule chargeline", m.dir)
	case !reflect.DeepEqual(pr.Spec.Groups, alerts.Groups):
		t.Errorf("%s differs from prometheus/alerts.yaml: go test ./deploy -run TestKubernetesManifests -update rewrites it", prometheusRuleFile)
	}

	jobs := alertJobs(t)
	svc := m.services["chargeline-metrics"]
	sm := m.monitors["ServiceMonitor/chargeline"]
	if svc == nil || sm == nil {
		t.Fatalf("%s: want Service chargeline-metrics and ServiceMonitor chargeline", m.dir)
	}
	if svc.Spec.ClusterIP != corev1.ClusterIPNone || len(svc.Spec.Ports) != 1 {
		t.Errorf("Service chargeline-metrics: want a headless Service with one port, got %+v", svc.Spec)
	}
	sel, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
	if err != nil || !sel.Matches(labels.Set(svc.Labels)) {
		t.Errorf("ServiceMonitor chargeline selects %v, not the Service's labels %v", sm.Spec.Selector, svc.Labels)
	}
	if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != svc.Spec.Ports[0].Name || sm.Spec.Endpoints[0].Path != "/metrics" {
		t.Fatalf("ServiceMonitor chargeline: endpoints %+v, want /metrics on the Service's port %q", sm.Spec.Endpoints, svc.Spec.Ports[0].Name)
	}
	for name, d := range m.deployments {
		pod := d.Spec.Template
		if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(pod.Labels)) {
			t.Errorf("Service chargeline-metrics does not select the pods of %s (%v)", name, pod.Labels)
		}
		if tp := svc.Spec.Ports[0].TargetPort; tp.String() != pod.Spec.Containers[0].Ports[0].Name {
			t.Errorf("Service chargeline-metrics targets port %s, %s's container port is %q", tp.String(), name, pod.Spec.Containers[0].Ports[0].Name)
		}
		// The labels Prometheus discovers for the pod's endpoint.
		target := map[string]string{"job": svc.Namespace + "/" + svc.Name, "__meta_kubernetes_pod_name": name + "-abc12"}
		for k, v := range pod.Labels {
			target["__meta_kubernetes_pod_label_"+promLabelName(k)] = v
		}
		job := sm.Spec.Endpoints[0].relabel(t, target)["job"]
		if job != name {
			t.Errorf("Deployment %s is scraped as job %q, want %q", name, job, name)
		}
		if !jobs.absent[job] || !jobs.down.Matches(job) {
			t.Errorf("job %s: alerts.yaml's ChargelineTargetMissing (absent(up{job=%q})) or ChargelineTargetDown does not cover it", job, job)
		}
	}

	pm := m.monitors["PodMonitor/nats"]
	if pm == nil || pm.Spec.NamespaceSelector == nil || len(pm.Spec.PodMetricsEndpoints) != 1 {
		t.Fatalf("%s: want a PodMonitor nats with one endpoint in a named namespace", m.dir)
	}
	if len(pm.Spec.NamespaceSelector.MatchNames) != 1 || pm.Spec.NamespaceSelector.MatchNames[0] != natsNamespace {
		t.Errorf("PodMonitor nats looks in %v, want [%s] (deploy/nats/values.yaml)", pm.Spec.NamespaceSelector.MatchNames, natsNamespace)
	}
	if pm.Spec.PodMetricsEndpoints[0].Port != "prom-metrics" {
		t.Errorf("PodMonitor nats scrapes port %q, want prom-metrics (the NATS chart's promExporter port)", pm.Spec.PodMetricsEndpoints[0].Port)
	}
	if job := pm.Spec.PodMetricsEndpoints[0].relabel(t, map[string]string{"job": "nats/nats"})["job"]; job != "nats" || !jobs.absent[job] {
		t.Errorf("PodMonitor nats scrapes as job %q, want nats (covered by ChargelineTargetMissing)", job)
	}
	var nv struct {
		PromExporter struct {
			Enabled bool `json:"enabled"`
			Port    int  `json:"port"`
		} `json:"promExporter"`
	}
	vb, err := os.ReadFile("nats/values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(vb, &nv); err != nil || !nv.PromExporter.Enabled {
		t.Errorf("nats/values.yaml: promExporter must be enabled for the NATS alerts (%v)", err)
	}
}

// writePrometheusRule writes the PrometheusRule of alerts.yaml's groups.
func writePrometheusRule(t *testing.T, groups []any) {
	pr := prometheusRule{APIVersion: "monitoring.coreos.com/v1", Kind: "PrometheusRule"}
	pr.Metadata.Name = "chargeline"
	pr.Metadata.Labels = map[string]string{"app.kubernetes.io/part-of": "chargeline"}
	pr.Spec.Groups = groups
	b, err := yaml.Marshal(pr)
	if err != nil {
		t.Fatal(err)
	}
	// ObjectMeta marshals a null creationTimestamp.
	text := strings.Replace(string(b), "  creationTimestamp: null\n", "", 1)
	header := "# Generated from deploy/prometheus/alerts.yaml: do not edit; after changing the alerts run\n" +
		"#   go test ./deploy -run TestKubernetesManifests -update\n"
	if err := os.WriteFile(prometheusRuleFile, []byte(header+text), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", prometheusRuleFile)
}

var promLabelChars = regexp.MustCompile(`[^a-zA-Z0-9_]`)

// promLabelName is how Prometheus's Kubernetes discovery spells a Kubernetes label in a meta label.
func promLabelName(k string) string { return promLabelChars.ReplaceAllString(k, "_") }

// alertJobs reads which jobs alerts.yaml's target alerts cover: the absent(up{job="…"})
// terms of ChargelineTargetMissing and the job matcher of ChargelineTargetDown.
func alertJobs(t *testing.T) (jobs struct {
	absent map[string]bool
	down   interface{ Matches(string) bool }
}) {
	t.Helper()
	rgs, errs := loadAlertRules()
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	jobs.absent = map[string]bool{}
	jobs.down = matchNone{}
	for _, g := range rgs.Groups {
		for _, r := range g.Rules {
			if r.Alert != "ChargelineTargetMissing" && r.Alert != "ChargelineTargetDown" {
				continue
			}
			e, err := promQL.ParseExpr(r.Expr)
			if err != nil {
				t.Fatal(err)
			}
			parser.Inspect(e, func(n parser.Node, path []parser.Node) error {
				v, ok := n.(*parser.VectorSelector)
				if !ok || v.Name != "up" {
					return nil
				}
				for _, lm := range v.LabelMatchers {
					if lm.Name != "job" {
						continue
					}
					if r.Alert == "ChargelineTargetDown" {
						jobs.down = lm
					} else if len(path) > 0 {
						if c, ok := path[len(path)-1].(*parser.Call); ok && c.Func.Name == "absent" {
							jobs.absent[lm.Value] = true
						}
					}
				}
				return nil
			})
		}
	}
	return jobs
}

type matchNone struct{}

func (matchNone) Matches(string) bool { return false }

// kubeletEnv returns a container's environment as the kubelet sets it: envFrom values, then
// env entries in order, literal values with $(VAR) references to earlier variables expanded,
// downward-API resource fields computed from the container's resources. Secrets are left out.
func kubeletEnv(c corev1.Container, base map[string]envValue) (map[string]string, error) {
	vals := map[string]string{}
	for k, v := range base {
		if v.secret == nil && v.resource == nil {
			vals[k] = v.value
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			vals[e.Name] = expandEnv(e.Value, vals)
		case e.ValueFrom.ResourceFieldRef != nil:
			v, err := resourceField(c, e.ValueFrom.ResourceFieldRef)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", e.Name, err)
			}
			vals[e.Name] = v
		}
	}
	return vals, nil
}

var envRef = regexp.MustCompile(`\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// expandEnv expands $(VAR) as Kubernetes does: defined variables are replaced, undefined
// references stay as written, $$ is a literal $.
func expandEnv(s string, vals map[string]string) string {
	return envRef.ReplaceAllStringFunc(s, func(m string) string {
		if m == "$$" {
			return "$"
		}
		if v, ok := vals[m[2:len(m)-1]]; ok {
			return v
		}
		return m
	})
}

// resourceField computes a downward-API resource field: the quantity divided by the divisor,
// rounded up (the kubelet's ExtractContainerResourceValue).
func resourceField(c corev1.Container, f *corev1.ResourceFieldSelector) (string, error) {
	if f.Resource != "limits.memory" {
		return "", fmt.Errorf("resource %s: this test only computes limits.memory", f.Resource)
	}
	q, ok := c.Resources.Limits[corev1.ResourceMemory]
	if !ok {
		return "", fmt.Errorf("no memory limit: the kubelet would give the node's allocatable memory")
	}
	div := f.Divisor.Value()
	if div == 0 {
		div = 1
	}
	return strconv.FormatInt(int64(math.Ceil(float64(q.Value())/float64(div))), 10), nil
}

// checkMemoryLimit checks that GOMEMLIMIT follows the container's memory limit: the value the
// kubelet would set is accepted by the Go runtime (a child process reports the limit it took)
// and lies between 90 % of the container limit and the limit itself.
func checkMemoryLimit(t *testing.T, owner string, c corev1.Container) {
	t.Helper()
	vals, err := kubeletEnv(c, nil)
	if err != nil {
		t.Errorf("%s: %v", owner, err)
		return
	}
	v, ok := vals["GOMEMLIMIT"]
	if !ok {
		t.Errorf("%s: no GOMEMLIMIT: the Go heap may grow past the memory limit before a GC", owner)
		return
	}
	limit := c.Resources.Limits[corev1.ResourceMemory]
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperMemoryLimit$")
	cmd.Env = append(os.Environ(), "GOMEMLIMIT="+v, "CHARGELINE_MEMORY_LIMIT_HELPER=1")
	out, err := cmd.Output()
	if err != nil {
		t.Errorf("%s: the Go runtime refuses GOMEMLIMIT=%s: %v", owner, v, err)
		return
	}
	got, err := strconv.ParseInt(strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0]), 10, 64)
	if err != nil {
		t.Errorf("%s: helper printed %q", owner, out)
		return
	}
	if lim := limit.Value(); got >= lim || got < lim*9/10 {
		t.Errorf("%s: GOMEMLIMIT=%s is %d bytes, want 90–100 %% of the memory limit %s (%d)", owner, v, got, limit.String(), lim)
	}
}

// TestHelperMemoryLimit is run by checkMemoryLimit as a child process: it prints the memory
// limit the Go runtime took from GOMEMLIMIT.
func TestHelperMemoryLimit(t *testing.T) {
	if os.Getenv("CHARGELINE_MEMORY_LIMIT_HELPER") != "1" {
		return // only meaningful as checkMemoryLimit's child
	}
	fmt.Println(debug.SetMemoryLimit(-1))
}

// peer is one end of a connection a network policy is asked about.
type peer struct {
	namespace string
	labels    map[string]string
	ip        string // set for addresses outside the cluster's pods
}

// policyAllows evaluates m's NetworkPolicies as Kubernetes does for a connection of a pod (in
// namespace ns, with labels pod) to (egress) or from (ingress) p on port/portName: isolated
// when a policy of that direction selects the pod, then allowed when any rule of those
// policies admits the peer and the port.
func policyAllows(t *testing.T, m *manifests, ns string, pod map[string]string, dir networkingv1.PolicyType, p peer, proto corev1.Protocol, port int32, portName string) (allowed, isolated bool) {
	t.Helper()
	for _, np := range m.policies {
		if np.Namespace != ns {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
		if err != nil {
			t.Fatalf("NetworkPolicy %s: %v", np.Name, err)
		}
		if !sel.Matches(labels.Set(pod)) || !hasPolicyType(np, dir) {
			continue
		}
		isolated = true
		var rules []struct {
			peers []networkingv1.NetworkPolicyPeer
			ports []networkingv1.NetworkPolicyPort
		}
		if dir == networkingv1.PolicyTypeEgress {
			for _, r := range np.Spec.Egress {
				rules = append(rules, struct {
					peers []networkingv1.NetworkPolicyPeer
					ports []networkingv1.NetworkPolicyPort
				}{r.To, r.Ports})
			}
		} else {
			for _, r := range np.Spec.Ingress {
				rules = append(rules, struct {
					peers []networkingv1.NetworkPolicyPeer
					ports []networkingv1.NetworkPolicyPort
				}{r.From, r.Ports})
			}
		}
		for _, r := range rules {
			if peersAdmit(t, r.peers, ns, p) && portsAdmit(r.ports, proto, port, portName) {
				allowed = true
			}
		}
	}
	return allowed || !isolated, isolated
}

func hasPolicyType(np *networkingv1.NetworkPolicy, dir networkingv1.PolicyType) bool {
	for _, pt := range np.Spec.PolicyTypes {
		if pt == dir {
			return true
		}
	}
	return false
}

func peersAdmit(t *testing.T, peers []networkingv1.NetworkPolicyPeer, ns string, p peer) bool {
	if len(peers) == 0 {
		return true
	}
	for _, pp := range peers {
		if pp.IPBlock != nil {
			if p.ip == "" {
				continue // pod IPs are matched by selectors here; the policies keep them out of ipBlocks
			}
			ip := net.ParseIP(p.ip)
			_, cidr, err := net.ParseCIDR(pp.IPBlock.CIDR)
			if err != nil {
				t.Fatalf("ipBlock %s: %v", pp.IPBlock.CIDR, err)
			}
			in := cidr.Contains(ip)
			for _, ex := range pp.IPBlock.Except {
				_, e, err := net.ParseCIDR(ex)
				if err != nil {
					t.Fatalf("ipBlock except %s: %v", ex, err)
				}
				in = in && !e.Contains(ip)
			}
			if in {
				return true
			}
			continue
		}
		if p.ip != "" {
			continue
		}
		if pp.NamespaceSelector != nil {
			s, err := metav1.LabelSelectorAsSelector(pp.NamespaceSelector)
			if err != nil {
				t.Fatal(err)
			}
			if !s.Matches(labels.Set{"kubernetes.io/metadata.name": p.namespace}) {
				continue
			}
		} else if p.namespace != ns {
			continue
		}
		if pp.PodSelector != nil {
			s, err := metav1.LabelSelectorAsSelector(pp.PodSelector)
			if err != nil {
				t.Fatal(err)
			}
			if !s.Matches(labels.Set(p.labels)) {
				continue
			}
		}
		return true
	}
	return false
}

func portsAdmit(ports []networkingv1.NetworkPolicyPort, proto corev1.Protocol, port int32, portName string) bool {
	if len(ports) == 0 {
		return true
	}
	for _, pp := range ports {
		pr := corev1.ProtocolTCP
		if pp.Protocol != nil {
			pr = *pp.Protocol
		}
		if pr != proto {
			continue
		}
		switch {
		case pp.Port == nil:
			return true
		case pp.Port.StrVal != "":
			if pp.Port.StrVal == portName {
				return true
			}
		case pp.EndPort != nil:
			if port >= pp.Port.IntVal && port <= *pp.EndPort {
				return true
			}
		case pp.Port.IntVal == port:
			return true
		}
	}
	return false
}

// serviceHost returns the namespace of a Kubernetes Service host name
// (<service>.<namespace>.svc…) and the URL's port, or def when it names none.
func serviceHost(t *testing.T, raw string, def int32) (namespace string, port int32) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("%q: %v", raw, err)
	}
	parts := strings.Split(u.Hostname(), ".")
	if len(parts) < 3 || parts[2] != "svc" {
		t.Fatalf("%q does not name a Kubernetes Service (<name>.<namespace>.svc…)", raw)
	}
	port = def
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil {
			t.Fatal(err)
		}
		port = int32(n)
	}
	return parts[1], port
}

// Pods of the services chargeline talks to, as their charts and operators label them.
var (
	natsPod       = map[string]string{"app.kubernetes.io/name": "nats", "app.kubernetes.io/instance": "nats"}
	clickHousePod = map[string]string{"clickhouse.altinity.com/chi": "chargeline", "clickhouse.altinity.com/app": "chop"}
	dnsPod        = map[string]string{"k8s-app": "kube-dns"}
	prometheusPod = map[string]string{"app.kubernetes.io/name": "prometheus"}
)

// publicIP stands for a provider's API (TEST-NET-3, never a cluster address).
const publicIP = "203.0.113.10"

// checkNetworkPolicies asks, for every Deployment, whether the connections it needs are
// allowed and a selection of those it does not need are refused.
func checkNetworkPolicies(t *testing.T, m *manifests) {
	for name, d := range m.deployments {
		pod := d.Spec.Template.Labels
		ns := d.Namespace
		env := m.containerEnv(t, name, d.Spec.Template.Spec.Containers[0], false)
		svc := serviceOf(d)
		natsNS, natsPort := serviceHost(t, strings.Split(env["NATS_URL"].value, ",")[0], 4222)
		chNS, chPort := serviceHost(t, "clickhouse://clickhouse.clickhouse.svc.cluster.local", 9000)
		if v := env["CLICKHOUSE_DSN"].value; v != "" {
			chNS, chPort = serviceHost(t, v, 9000)
		}
		type conn struct {
			what      string
			dir       networkingv1.PolicyType
			p         peer
			proto     corev1.Protocol
			port      int32
			portName  string
			wantAllow bool
		}
		egress, ingress := networkingv1.PolicyTypeEgress, networkingv1.PolicyTypeIngress
		conns := []conn{
			{"DNS", egress, peer{namespace: "kube-system", labels: dnsPod}, corev1.ProtocolUDP, 53, "", true},
			{"NATS (NATS_URL)", egress, peer{namespace: natsNS, labels: natsPod}, corev1.ProtocolTCP, natsPort, "", true},
			{"NATS's monitoring port", egress, peer{namespace: natsNS, labels: natsPod}, corev1.ProtocolTCP, 8222, "", false},
			{"ClickHouse (CLICKHOUSE_DSN)", egress, peer{namespace: chNS, labels: clickHousePod}, corev1.ProtocolTCP, chPort, "", svc == "sink"},
			{"a database elsewhere in the cluster", egress, peer{namespace: "default", labels: map[string]string{"app": "postgres"}}, corev1.ProtocolTCP, 5432, "", false},
			{"HTTPS to the internet", egress, peer{ip: publicIP}, corev1.ProtocolTCP, 443, "", svc == "poller"},
			{"HTTPS to a private address", egress, peer{ip: "10.20.30.40"}, corev1.ProtocolTCP, 443, "", false},
			{"the cloud metadata service", egress, peer{ip: "169.254.169.254"}, corev1.ProtocolTCP, 80, "", false},
			{"the scrape from Prometheus", ingress, peer{namespace: "monitoring", labels: prometheusPod}, corev1.ProtocolTCP, 8080, "http", true},
			{"a scrape from another namespace", ingress, peer{namespace: "default", labels: prometheusPod}, corev1.ProtocolTCP, 8080, "http", false},
			{"another port from Prometheus's namespace", ingress, peer{namespace: "monitoring", labels: prometheusPod}, corev1.ProtocolTCP, 9999, "", false},
		}
		// Every provider URL a poller is given must be reachable.
		for k, v := range env {
			provider := strings.ToUpper(env["POLLER_PROVIDER"].value) + "_"
			if svc != "poller" || !strings.HasPrefix(k, provider) || !strings.HasSuffix(k, "_URL") || v.value == "" {
				continue
			}
			u, err := url.Parse(v.value)
			if err != nil {
				t.Fatalf("%s %s: %v", name, k, err)
			}
			port := int32(443)
			if p := u.Port(); p != "" {
				n, _ := strconv.Atoi(p)
				port = int32(n)
			} else if u.Scheme == "http" {
				port = 80
			}
			conns = append(conns, conn{k + " " + v.value, egress, peer{ip: publicIP}, corev1.ProtocolTCP, port, "", true})
		}
		for _, c := range conns {
			allowed, isolated := policyAllows(t, m, ns, pod, c.dir, c.p, c.proto, c.port, c.portName)
			if !isolated {
				t.Errorf("%s: no NetworkPolicy isolates its %s", name, c.dir)
				break
			}
			if allowed != c.wantAllow {
				t.Errorf("%s: %s %s (port %d): allowed %v, want %v", name, c.dir, c.what, c.port, allowed, c.wantAllow)
			}
		}
	}
}
