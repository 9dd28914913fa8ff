package deploy

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/chargeline/chargeline/pkg/bus"
	"github.com/chargeline/chargeline/pkg/sink/clickhousetest"
)

var (
	metricLiteral = regexp.MustCompile(`"(chargeline_[a-z0-9_]+)"`)
	lagCollector  = regexp.MustCompile(`NewLagCollector\([^,()]+,\s*"([a-z]+)"`)
	descName      = regexp.MustCompile(`fqName: "([^"]+)"`)
)

// labelVocabulary is every label key chargeline's metrics use (STYLE.md §6), plus le.
var labelVocabulary = []string{"provider", "resource", "scope", "kind", "status", "code", "table", "stream", "consumer", "le"}

// knownMetrics returns the metric names the services export: every "chargeline_…" string
// literal in the non-test Go files of pkg/ and services/, plus the consumer families
// (chargeline_<service>_consumer_…) that bus.NewLagCollector describes for each service the
// code wires it for.
func knownMetrics(t *testing.T) map[string]bool {
	t.Helper()
	known := map[string]bool{}
	var lagServices []string
	for _, root := range []string{"../pkg", "../services"} {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range metricLiteral.FindAllStringSubmatch(string(b), -1) {
				known[m[1]] = true
			}
			for _, m := range lagCollector.FindAllStringSubmatch(string(b), -1) {
				lagServices = append(lagServices, m[1])
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(lagServices) == 0 {
		t.Error("no service wires bus.NewLagCollector: the consumer lag metrics do not exist")
	}
	for _, svc := range lagServices {
		ch := make(chan *prometheus.Desc, 16)
		bus.NewLagCollector(nil, svc).Describe(ch)
		close(ch)
		for d := range ch {
			m := descName.FindStringSubmatch(d.String())
			if m == nil {
				t.Fatalf("cannot read the name of %s", d)
			}
			known[m[1]] = true
		}
	}
	return known
}

// promQL parses an expression the way Prometheus does (no experimental features).
var promQL = parser.NewParser(parser.Options{})

// grafanaRanges are Grafana's range variables; they are replaced before parsing.
var grafanaRanges = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h")

// targetLabels are the labels Prometheus adds to every scraped series.
var targetLabels = []string{"job", "instance"}

// natsLabels are the labels prometheus-nats-exporter's -jsz collector puts on its series
// (collector/jsz.go: server, account, stream and consumer labels).
var natsLabels = []string{"server_id", "server_name", "cluster", "domain", "meta_leader", "is_meta_leader",
	"account", "account_name", "account_id", "stream_name", "stream_leader", "is_stream_leader", "stream_raft_group",
	"consumer_name", "consumer_leader", "is_consumer_leader", "consumer_desc"}

// natsMetrics are the metrics of prometheus-nats-exporter (the NATS Helm chart's promExporter
// sidecar, run with -jsz=all -prefix=nats, so its "jetstream_" system prefix reads "nats_")
// that the alerts use, as its collector/jsz.go names them. Not checked against a running
// exporter: it is not a dependency of this module.
var natsMetrics = []string{"nats_server_total_message_bytes", "nats_server_max_storage", "nats_stream_total_bytes",
	"nats_stream_limit_bytes", "nats_stream_total_messages", "nats_consumer_num_pending", "nats_consumer_num_ack_pending",
	"nats_consumer_ack_floor_stream_seq"}

// clickHousePrefixes map ClickHouse's Prometheus endpoint's metric prefixes to the system table
// each series comes from (ClickHouse names them <prefix><name of the row>).
var clickHousePrefixes = map[string]string{
	"ClickHouseMetrics_":       "system.metrics",
	"ClickHouseAsyncMetrics_":  "system.asynchronous_metrics",
	"ClickHouseProfileEvents_": "system.events",
}

// allowedLabels returns the label keys a metric's series carry, by where it comes from.
func allowedLabels(metric string) []string {
	switch {
	case strings.HasPrefix(metric, "chargeline_"):
		return append(slices.Clone(labelVocabulary), targetLabels...)
	case strings.HasPrefix(metric, "nats_"):
		return append(slices.Clone(natsLabels), targetLabels...)
	}
	return targetLabels // up, ClickHouse's own metrics
}

// metricsOf returns the metric names an expression selects, failing on a label key its
// metrics do not carry.
func metricsOf(t *testing.T, where, expr string) []string {
	t.Helper()
	e, err := promQL.ParseExpr(grafanaRanges.Replace(expr))
	if err != nil {
		t.Errorf("%s: %v\n%s", where, err, expr)
		return nil
	}
	var names []string
	var grouping []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		switch n := n.(type) {
		case *parser.VectorSelector:
			name := n.Name
			for _, m := range n.LabelMatchers {
				if m.Name == model.MetricNameLabel && m.Type == 0 { // labels.MatchEqual
					name = m.Value
				} else if m.Name == model.MetricNameLabel {
					t.Errorf("%s: select metrics by exact name, not %s", where, m)
				}
			}
			for _, m := range n.LabelMatchers {
				if m.Name != model.MetricNameLabel && !slices.Contains(allowedLabels(name), m.Name) {
					t.Errorf("%s: label %q is not one %s carries (%v)", where, m.Name, name, allowedLabels(name))
				}
			}
			names = append(names, name)
		case *parser.AggregateExpr:
			grouping = append(grouping, n.Grouping...)
		}
		return nil
	})
	for _, l := range grouping {
		var ok bool
		for _, n := range names {
			ok = ok || slices.Contains(allowedLabels(n), l)
		}
		if !ok {
			t.Errorf("%s: groups by %q, a label none of %v carries", where, l, names)
		}
	}
	return names
}

// checkKnown fails for a name not in known (histogram series map to their family).
func checkKnown(t *testing.T, known map[string]bool, where string, names []string) {
	t.Helper()
	for _, n := range names {
		base := n
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(n, suffix); ok && known[b] {
				base = b
			}
		}
		if !known[base] {
			t.Errorf("%s uses %s, which no service exports (grep pkg/ and services/ for it)", where, n)
		}
	}
}

// loadAlertRules loads prometheus/alerts.yaml with Prometheus's rule loader.
func loadAlertRules() (*rulefmt.RuleGroups, []error) {
	return rulefmt.ParseFile("prometheus/alerts.yaml", false, model.LegacyValidation, promQL, slog.New(slog.DiscardHandler))
}

// runbookBase is where the alerts' runbook_url point: this repository's deploy/runbooks.
const runbookBase = "https://github.com/chargeline/chargeline/blob/main/deploy/runbooks/"

func TestAlertRules(t *testing.T) {
	known := knownMetrics(t)
	known["up"] = true
	for _, n := range natsMetrics {
		known[n] = true
	}
	rgs, errs := loadAlertRules()
	for _, err := range errs {
		t.Errorf("rulefmt: %v", err)
	}
	if rgs == nil {
		t.FailNow()
	}
	used := map[string][]string{}             // alert → metrics
	clickHouse := alertClickHouseMetrics(rgs) // ClickHouse's own metrics the alerts use
	for _, g := range rgs.Groups {
		for _, r := range g.Rules {
			where := "alert " + r.Alert
			if r.Alert == "" {
				t.Errorf("group %s: rule %q is not an alert (recording rules belong elsewhere)", g.Name, r.Record)
				continue
			}
			if !slices.Contains([]string{"warning", "critical"}, r.Labels["severity"]) || r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("%s: needs severity warning|critical, a summary and a description", where)
			}
			checkRunbook(t, r.Alert, r.Annotations["runbook_url"])
			names := metricsOf(t, where, r.Expr)
			var ours []string
			for _, n := range names {
				if _, ok := clickHousePrefix(n); ok {
					continue
				}
				ours = append(ours, n)
			}
			checkKnown(t, known, where, ours)
			used[r.Alert] = names
			if strings.Contains(r.Expr, "_consumer_lag_messages") && !strings.Contains(r.Expr, "max by") {
				t.Errorf("%s: every replica reports the same consumer's lag: aggregate it with max, not sum", where)
			}
		}
	}
	// What the alerts must cover (issue 7: lag growing for 10 min, DLQ not empty, checkpoint
	// stale, insert errors, provider auth failures; issue 13: targets down or never scraped,
	// NATS JetStream and ClickHouse servers).
	for _, want := range []struct {
		what, metric, must string
		minFor             time.Duration
	}{
		{"normalizer lag growing for 10 minutes", "chargeline_normalizer_consumer_lag_messages", "deriv(", 10 * time.Minute},
		{"sink lag growing for 10 minutes", "chargeline_sink_consumer_lag_messages", "deriv(", 10 * time.Minute},
		{"normalizer dead letters", "chargeline_normalizer_dlq_total", "", 0},
		{"sink dead letters", "chargeline_sink_dlq_total", "", 0},
		{"stale checkpoints", "chargeline_poller_checkpoint_age_seconds", "", 0},
		{"insert errors", "chargeline_sink_insert_errors_total", "", 0},
		{"provider auth failures", "chargeline_poller_poll_errors_total", `kind="auth"`, 0},
		{"targets down", "up", "== 0", time.Minute},
		{"the sink never scraped", "up", `absent(up{job="sink"})`, time.Minute},
		{"the normalizer never scraped", "up", `absent(up{job="normalizer"})`, time.Minute},
		{"NATS never scraped", "up", `absent(up{job="nats"})`, time.Minute},
		{"ClickHouse never scraped", "up", `absent(up{job="clickhouse"})`, time.Minute},
		{"JetStream storage near its limit", "nats_server_max_storage", "", 0},
		{"a stream near its limit", "nats_stream_limit_bytes", "", 0},
		{"a stream without leader", "nats_stream_total_messages", `is_stream_leader="true"`, time.Minute},
		{"a consumer stuck", "nats_consumer_ack_floor_stream_seq", "", 10 * time.Minute},
		{"ClickHouse replication queue", "ClickHouseAsyncMetrics_ReplicasMaxQueueSize", "", 0},
		{"ClickHouse parts too many", "ClickHouseAsyncMetrics_MaxPartCountForPartition", "", 0},
		{"ClickHouse read-only replica", "ClickHouseMetrics_ReadonlyReplica", "", 0},
	} {
		var ok bool
		for _, g := range rgs.Groups {
			for _, r := range g.Rules {
				if slices.Contains(used[r.Alert], want.metric) && strings.Contains(r.Expr, want.must) && time.Duration(r.For) >= want.minFor {
					ok = true
				}
			}
		}
		if !ok {
			t.Errorf("no alert on %s (%s %s, for ≥ %s)", want.what, want.metric, want.must, want.minFor)
		}
	}
	// Every deployed chargeline workload is covered by the absent() alert.
	for _, p := range providerNames() {
		found := false
		for _, names := range rgs.Groups {
			for _, r := range names.Rules {
				found = found || strings.Contains(r.Expr, `absent(up{job="poller-`+p+`"})`)
			}
		}
		if !found {
			t.Errorf("no alert fires when poller-%s is never scraped (absent(up{job=\"poller-%s\"}))", p, p)
		}
	}
	if len(clickHouse) == 0 {
		t.Error("no alert uses ClickHouse's own metrics")
	}
}

// clickHousePrefix tells whether a metric is one of ClickHouse's own, and its prefix.
func clickHousePrefix(metric string) (string, bool) {
	for p := range clickHousePrefixes {
		if strings.HasPrefix(metric, p) {
			return p, true
		}
	}
	return "", false
}

// runbookSections are the headings every runbook has, in this order.
var runbookSections = []string{"## What it means", "## How to confirm", "## What to do"}

// checkRunbook checks an alert's runbook_url and the runbook it points to: the file exists, has
// the three sections, and confirms with at least one of chargectl, nats or clickhouse-client.
func checkRunbook(t *testing.T, alert, url string) {
	t.Helper()
	if url != runbookBase+alert+".md" {
		t.Errorf("alert %s: runbook_url %q, want %s%s.md", alert, url, runbookBase, alert)
		return
	}
	b, err := os.ReadFile(filepath.Join("runbooks", alert+".md"))
	if err != nil {
		t.Errorf("alert %s: no runbook: %v", alert, err)
		return
	}
	text := string(b)
	if !strings.HasPrefix(text, "# "+alert+"\n") {
		t.Errorf("runbooks/%s.md: the title must be the alert's name", alert)
	}
	at := 0
	for _, s := range runbookSections {
		i := strings.Index(text[at:], "\n"+s+"\n")
		if i < 0 {
			t.Errorf("runbooks/%s.md: no %q section after the previous one", alert, s)
			continue
		}
		at += i + len(s)
	}
	confirm := text
	if i := strings.Index(text, "## How to confirm"); i >= 0 {
		confirm = text[i:]
		if j := strings.Index(confirm, "## What to do"); j >= 0 {
			confirm = confirm[:j]
		}
	}
	if !regexp.MustCompile("(?m)^(\\$ )?(chargectl|nats|clickhouse-client|kubectl) ").MatchString(confirm) {
		t.Errorf("runbooks/%s.md: How to confirm shows no chargectl / nats / clickhouse-client / kubectl command line in a code block", alert)
	}
}

// TestRunbooksHaveAlerts fails for a runbook whose alert no longer exists.
func TestRunbooksHaveAlerts(t *testing.T) {
	rgs, errs := loadAlertRules()
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	alerts := map[string]bool{}
	for _, g := range rgs.Groups {
		for _, r := range g.Rules {
			alerts[r.Alert] = true
		}
	}
	files, err := filepath.Glob("runbooks/*.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".md")
		if name != "README" && !alerts[name] {
			t.Errorf("%s: no alert %s in prometheus/alerts.yaml", f, name)
		}
	}
}

// dashboard is the part of Grafana's dashboard JSON model this test reads.
type dashboard struct {
	UID           string `json:"uid"`
	Title         string `json:"title"`
	SchemaVersion int    `json:"schemaVersion"`
	Templating    struct {
		List []struct {
			Name  string          `json:"name"`
			Type  string          `json:"type"`
			Query json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	GridPos struct{ H, W, X, Y int } `json:"gridPos"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

var labelValues = regexp.MustCompile(`^label_values\((\w+),\s*(\w+)\)$`)

func TestGrafanaDashboard(t *testing.T) {
	known := knownMetrics(t)
	b, err := os.ReadFile("grafana/chargeline.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("grafana/chargeline.json: %v", err)
	}
	if d.UID == "" || d.Title == "" || d.SchemaVersion == 0 {
		t.Errorf("dashboard needs a uid, a title and a schemaVersion: %q %q %d", d.UID, d.Title, d.SchemaVersion)
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
		if v.Type != "query" {
			continue
		}
		var q struct{ Query string }
		if err := json.Unmarshal(v.Query, &q); err != nil {
			t.Errorf("variable %s: %v", v.Name, err)
		}
		m := labelValues.FindStringSubmatch(q.Query)
		if m == nil {
			t.Errorf("variable %s: query %q, want label_values(metric, label)", v.Name, q.Query)
			continue
		}
		checkKnown(t, known, "variable "+v.Name, []string{m[1]})
	}
	if vars["datasource"] != "datasource" {
		t.Error("the dashboard needs a datasource variable, so it imports into any Grafana")
	}

	var all []panel
	for _, p := range d.Panels {
		all = append(all, p)
		all = append(all, p.Panels...) // collapsed rows hold their panels
	}
	ids := map[int]bool{}
	used := map[string]bool{}
	for i, p := range all {
		where := fmt.Sprintf("panel %d %q", p.ID, p.Title)
		if ids[p.ID] {
			t.Errorf("%s: duplicate id", where)
		}
		ids[p.ID] = true
		if g := p.GridPos; g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("%s: gridPos %+v outside the 24 columns", where, g)
		}
		for _, q := range all[:i] {
			a, b := p.GridPos, q.GridPos
			if a.X < b.X+b.W && b.X < a.X+a.W && a.Y < b.Y+b.H && b.Y < a.Y+a.H {
				t.Errorf("%s overlaps panel %d %q", where, q.ID, q.Title)
			}
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" || len(p.Targets) == 0 {
			t.Errorf("%s: needs the ${datasource} datasource and at least one query", where)
		}
		for _, q := range p.Targets {
			names := metricsOf(t, where+" "+q.RefID, q.Expr)
			checkKnown(t, known, where, names)
			for _, n := range names {
				used[n] = true
			}
		}
	}
	// What the dashboard must show (issue 7: throughput per stage, lag, DLQ, insert latency,
	// provider errors, checkpoint age).
	for _, m := range []string{
		"chargeline_poller_records_published_total", "chargeline_normalizer_records_processed_total", "chargeline_sink_rows_inserted_total",
		"chargeline_normalizer_consumer_lag_messages", "chargeline_sink_consumer_lag_messages",
		"chargeline_normalizer_dlq_total", "chargeline_sink_dlq_total",
		"chargeline_sink_insert_duration_seconds_bucket", "chargeline_poller_provider_errors_total", "chargeline_poller_checkpoint_age_seconds",
	} {
		if !used[m] {
			t.Errorf("no panel shows %s", m)
		}
	}
}

// alertClickHouseMetrics returns the ClickHouse metrics (ClickHouseMetrics_… and the like)
// the alerts select.
func alertClickHouseMetrics(rgs *rulefmt.RuleGroups) []string {
	var names []string
	for _, g := range rgs.Groups {
		for _, r := range g.Rules {
			e, err := promQL.ParseExpr(r.Expr)
			if err != nil {
				continue // TestAlertRules reports it
			}
			parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
				if v, ok := n.(*parser.VectorSelector); ok {
					if _, ok := clickHousePrefix(v.Name); ok && !slices.Contains(names, v.Name) {
						names = append(names, v.Name)
					}
				}
				return nil
			})
		}
	}
	return names
}

// TestClickHouseAlertMetricsExist asks a real clickhouse-server whether each ClickHouse metric
// the alerts use exists: ClickHouse's Prometheus endpoint names a series after its row in
// system.metrics, system.asynchronous_metrics or system.events, so the row must be there.
// system.events lists only events that happened, so alerts use the other two, which list every
// metric; asynchronous metrics appear after their first update (up to a minute after start).
// The server here is 18.16; the names checked exist there and on current releases.
func TestClickHouseAlertMetricsExist(t *testing.T) {
	t.Parallel() // mostly waiting for the server's first asynchronous update
	rgs, errs := loadAlertRules()
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	names := alertClickHouseMetrics(rgs)
	ch := clickhousetest.Start(t)
	deadline := time.Now().Add(3 * time.Minute) // a guard, not a measurement
	for ch.QueryUint64(t, "SELECT count() FROM system.asynchronous_metrics") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("system.asynchronous_metrics stayed empty")
		}
		time.Sleep(time.Second)
	}
	for _, n := range names {
		p, _ := clickHousePrefix(n)
		table := clickHousePrefixes[p]
		if table == "system.events" {
			t.Errorf("%s: alert on system.metrics or system.asynchronous_metrics, whose rows always exist", n)
			continue
		}
		q := fmt.Sprintf("SELECT count() FROM %s WHERE metric = '%s'", table, strings.TrimPrefix(n, p))
		if ch.QueryUint64(t, q) != 1 {
			t.Errorf("%s: ClickHouse has no row %q in %s", n, strings.TrimPrefix(n, p), table)
		}
	}
}
