package deploy

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/prometheus/prometheus/rules"
	"sigs.k8s.io/yaml"
)

// ruleTestFile is promtool's rule unit-test file (`promtool test rules`), the part of it
// deploy/prometheus/alerts_test.yaml uses: input series in the expanding notation and
// alert_rule_test cases. Decoded strictly, so a field this runner would ignore fails instead.
type ruleTestFile struct {
	RuleFiles          []string       `json:"rule_files"`
	EvaluationInterval model.Duration `json:"evaluation_interval"`
	Tests              []struct {
		Name        string         `json:"name"`
		Interval    model.Duration `json:"interval"`
		InputSeries []struct {
			Series string `json:"series"`
			Values string `json:"values"`
		} `json:"input_series"`
		AlertRuleTests []ruleTestCase `json:"alert_rule_test"`
	} `json:"tests"`
}

type ruleTestCase struct {
	EvalTime  model.Duration `json:"eval_time"`
	Alertname string         `json:"alertname"`
	ExpAlerts []struct {
		ExpLabels      map[string]string `json:"exp_labels"`
		ExpAnnotations map[string]string `json:"exp_annotations"`
	} `json:"exp_alerts"`
}

// runRuleTests runs a promtool rule unit-test file the way promtool does (cmd/promtool's
// unittest.go, which is package main and cannot be imported): per test group, the input
// series are loaded lazily into a test storage, every rule group is evaluated at each
// evaluation interval from 0 to the last eval_time, and at each eval_time the firing alerts
// (labels and annotations, exactly) are compared with exp_alerts. It returns the names of the
// alerts that have at least one case expecting them to fire.
func runRuleTests(t *testing.T, file string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var f ruleTestFile
	if err := yaml.UnmarshalStrict(b, &f); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if f.EvaluationInterval == 0 {
		f.EvaluationInterval = model.Duration(time.Minute)
	}
	evalInterval := time.Duration(f.EvaluationInterval)
	var ruleFiles []string
	for _, rf := range f.RuleFiles {
		ruleFiles = append(ruleFiles, filepath.Join(filepath.Dir(file), rf))
	}
	fired := map[string]bool{}
	for i, tg := range f.Tests {
		name := tg.Name
		if name == "" {
			name = fmt.Sprintf("test %d", i)
		}
		t.Run(name, func(t *testing.T) {
			interval := tg.Interval
			if interval == 0 {
				interval = f.EvaluationInterval
			}
			var load strings.Builder
			fmt.Fprintf(&load, "load %s\n", time.Duration(interval))
			for _, s := range tg.InputSeries {
				fmt.Fprintf(&load, "  %s %s\n", s.Series, s.Values)
			}
			suite, err := promqltest.NewLazyLoader(load.String(), promqltest.LazyLoaderOpts{EnableAtModifier: true, EnableNegativeOffset: true})
			if err != nil {
				t.Fatalf("input_series: %v", err)
			}
			defer suite.Close()
			suite.SubqueryInterval = evalInterval

			m := rules.NewManager(&rules.ManagerOptions{
				QueryFunc:  rules.EngineQueryFunc(suite.QueryEngine(), suite.Storage()),
				Appendable: suite.Storage(),
				Context:    context.Background(),
				NotifyFunc: func(context.Context, string, ...*rules.Alert) {},
				Logger:     slog.New(slog.DiscardHandler),
				Parser:     promQL,
			})
			groupMap, errs := m.LoadGroups(time.Duration(interval), labels.EmptyLabels(), "", nil, false, ruleFiles...)
			if len(errs) > 0 {
				t.Fatalf("load rules: %v", errs)
			}
			groups := slices.Collect(maps.Values(groupMap))
			sort.Slice(groups, func(i, j int) bool { return groups[i].Name() < groups[j].Name() })
			alerts := map[string]*rules.AlertingRule{}
			for _, g := range groups {
				for _, r := range g.Rules() {
					if ar, ok := r.(*rules.AlertingRule); ok {
						ar.SetRestored(true) // as promtool: no state to restore from
						alerts[ar.Name()] = ar
					}
				}
			}

			cases := map[time.Duration][]ruleTestCase{}
			var maxEval time.Duration
			for _, c := range tg.AlertRuleTests {
				if alerts[c.Alertname] == nil {
					t.Errorf("alert_rule_test names %q, which no rule file defines", c.Alertname)
				}
				if len(c.ExpAlerts) > 0 {
					fired[c.Alertname] = true
				}
				cases[time.Duration(c.EvalTime)] = append(cases[time.Duration(c.EvalTime)], c)
				maxEval = max(maxEval, time.Duration(c.EvalTime))
			}
			evalTimes := slices.Sorted(maps.Keys(cases))

			start := time.Unix(0, 0).UTC()
			next := 0
			for ts := start; !ts.After(start.Add(maxEval)); ts = ts.Add(evalInterval) {
				suite.WithSamplesTill(ts, func(err error) {
					if err != nil {
						t.Fatalf("load samples till %s: %v", ts.Sub(start), err)
					}
					for _, g := range groups {
						g.Eval(suite.Context(), ts)
						for _, r := range g.Rules() {
							if r.LastError() != nil {
								t.Fatalf("rule %s at %s: %v", r.Name(), ts.Sub(start), r.LastError())
							}
						}
					}
				})
				// An eval_time between two evaluations is checked against the earlier one.
				for next < len(evalTimes) && evalTimes[next] < ts.Add(evalInterval).Sub(start) {
					for _, c := range cases[evalTimes[next]] {
						checkAlerts(t, c, alerts[c.Alertname])
					}
					next++
				}
			}
		})
	}
	return fired
}

// checkAlerts compares an alert's firing instances with the case's exp_alerts.
func checkAlerts(t *testing.T, c ruleTestCase, ar *rules.AlertingRule) {
	t.Helper()
	if ar == nil {
		return
	}
	var got, want []string
	for _, a := range ar.ActiveAlerts() {
		if a.State == rules.StateFiring {
			got = append(got, a.Labels.String()+" "+a.Annotations.String())
		}
	}
	for _, e := range c.ExpAlerts {
		l := maps.Clone(e.ExpLabels)
		if l == nil {
			l = map[string]string{}
		}
		l[labels.AlertName] = c.Alertname
		want = append(want, labels.FromMap(l).String()+" "+labels.FromMap(e.ExpAnnotations).String())
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s at %s:\n got: %s\nwant: %s", c.Alertname, time.Duration(c.EvalTime), strings.Join(got, "\n      "), strings.Join(want, "\n      "))
	}
}

func TestAlertRuleUnitTests(t *testing.T) {
	fired := runRuleTests(t, "prometheus/alerts_test.yaml")
	rgs, errs := loadAlertRules()
	if len(errs) > 0 {
		t.Fatalf("alerts.yaml: %v", errs)
	}
	for _, g := range rgs.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" && !fired[r.Alert] {
				t.Errorf("alert %s has no unit test in which it fires (prometheus/alerts_test.yaml)", r.Alert)
			}
		}
	}
}
