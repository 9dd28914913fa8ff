package chaos

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// WriteTable writes the results as a Markdown table (scenario, records, lost, duplicated, DLQ,
// seconds), the one the README shows.
// On a cluster a last column gives lost/duplicated per ClickHouse replica (its own tables,
// FINAL).
func WriteTable(w io.Writer, results []Result) {
	cluster := slices.ContainsFunc(results, func(r Result) bool { return len(r.Replicas) > 0 })
	if cluster {
		fmt.Fprintln(w, "| scenario | records | lost | duplicated | DLQ | seconds | replicas lost/duplicated |")
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---|")
	} else {
		fmt.Fprintln(w, "| scenario | records | lost | duplicated | DLQ | seconds |")
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|")
	}
	for _, r := range results {
		fmt.Fprintf(w, "| %s | %d | %d | %d | %d/%d | %.0f |", r.Scenario, r.Records, r.Lost, r.Duplicated, r.DLQ, r.Poison, r.Seconds)
		if cluster {
			var per []string
			for _, rr := range r.Replicas {
				per = append(per, fmt.Sprintf("%s %d/%d", rr.Replica, rr.Lost, rr.Duplicated))
			}
			fmt.Fprintf(w, " %s |", strings.Join(per, ", "))
		}
		fmt.Fprintln(w)
	}
}

// WriteDetails writes, per scenario, the faults injected, each provider's comparison, the
// dead letters' reasons, crashes and every failure.
func WriteDetails(w io.Writer, results []Result) {
	for _, r := range results {
		verdict := "PASS"
		if !r.OK() {
			verdict = "FAIL"
		}
		fmt.Fprintf(w, "\n== %s: %s\n", r.Scenario, verdict)
		fmt.Fprintf(w, "faults (%d):\n", len(r.Faults))
		for _, f := range r.Faults {
			fmt.Fprintf(w, "  %s\n", f)
		}
		fmt.Fprintln(w, "providers:")
		for _, p := range r.Providers {
			money := "money ok"
			if p.Money != "" {
				money = "money: " + p.Money
			}
			fmt.Fprintf(w, "  %-12s expected %7d  distinct %7d  lost %d  duplicated %d  %s\n", p.Provider, p.Expected, p.Distinct, p.Lost, p.Duplicated, money)
		}
		if len(r.Reasons) > 0 {
			fmt.Fprintln(w, "dead letters:")
			ids := make([]string, 0, len(r.Reasons))
			for id := range r.Reasons {
				ids = append(ids, id)
			}
			slices.Sort(ids)
			for _, id := range ids {
				fmt.Fprintf(w, "  %s: %s\n", id, tail(r.Reasons[id], 110))
			}
		}
		if len(r.Crashes) > 0 {
			fmt.Fprintln(w, "ended on their own (restarted by the harness):")
			names := make([]string, 0, len(r.Crashes))
			for n := range r.Crashes {
				names = append(names, n)
			}
			slices.Sort(names)
			for _, n := range names {
				fmt.Fprintf(w, "  %s: %s\n", n, countStrings(r.Crashes[n]))
			}
		}
		for _, f := range r.Failures {
			fmt.Fprintf(w, "FAILURE: %s\n", f)
		}
	}
}

// tail keeps the end of a long reason: the innermost cause is last.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// countStrings summarises repeated strings: "exit status 1 ×3, exit status 2".
func countStrings(ss []string) string {
	n := map[string]int{}
	var order []string
	for _, s := range ss {
		if n[s] == 0 {
			order = append(order, s)
		}
		n[s]++
	}
	parts := make([]string, len(order))
	for i, s := range order {
		parts[i] = s
		if n[s] > 1 {
			parts[i] = fmt.Sprintf("%s ×%d", s, n[s])
		}
	}
	return strings.Join(parts, ", ")
}
