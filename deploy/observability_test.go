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

// metricsOf returns the metric names an expression selects, failing on an unknown label key.
func metricsOf(t *testing.T, where, expr string) []string {
	t.Helper()
	e, err := promQL.ParseExpr(grafanaRanges.Replace(expr))
	if err != nil {
		t.Errorf("%s: %v\n%s", where, err, expr)
		return nil
	}
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		switch n := n.(type) {
		case *parser.VectorSelector:
			name := n.Name
			for _, m := range n.LabelMatchers {
				switch {
				case m.Name == model.MetricNameLabel && m.Type == 0: // labels.MatchEqual
					name = m.Value
				case m.Name == model.MetricNameLabel:
					t.Errorf("%s: select metrics by exact name, not %s", where, m)
				case !slices.Contains(labelVocabulary, m.Name):
					t.Errorf("%s: label %q is not one chargeline's metrics carry (%v)", where, m.Name, labelVocabulary)
				}
			}
			names = append(names, name)
		case *parser.AggregateExpr:
			for _, l := range n.Grouping {
				if !slices.Contains(labelVocabulary, l) {
					t.Errorf("%s: groups by %q, not a label chargeline's metrics carry (%v)", where, l, labelVocabulary)
				}
			}
		}
		return nil
	})
	return names
}

// checkKnown fails for a name the services do not export (histogram series map to their family).
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

func TestAlertRules(t *testing.T) {
	known := knownMetrics(t)
	rgs, errs := rulefmt.ParseFile("prometheus/alerts.yaml", false, model.LegacyValidation, promQL, slog.New(slog.DiscardHandler))
	for _, err := range errs {
		t.Errorf("rulefmt: %v", err)
	}
	if rgs == nil {
		t.FailNow()
	}
	used := map[string][]string{} // alert → metrics
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
			names := metricsOf(t, where, r.Expr)
			checkKnown(t, known, where, names)
			used[r.Alert] = names
			if strings.Contains(r.Expr, "_consumer_lag_messages") && !strings.Contains(r.Expr, "max by") {
				t.Errorf("%s: every replica reports the same consumer's lag: aggregate it with max, not sum", where)
			}
		}
	}
	// What the alerts must cover (issue 7: lag growing for 10 min, DLQ not empty, checkpoint
	// stale, insert errors, provider auth failures).
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
