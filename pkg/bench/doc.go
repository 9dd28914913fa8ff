// Package bench is the end-to-end load harness behind `make bench`: it runs the services' own
// code (pkg/poll with the bemo source, pkg/normalize, pkg/sink) against an embedded NATS
// JetStream and a real local clickhouse-server, next to a bare nats.go / clickhouse-go loop
// doing the same work, and reports every figure as a rate and as a ratio to that baseline,
// measured in the same run on the same machine.
//
// # Scenarios
//
//   - sink: charging-session events pre-loaded on EVENTS → rows in charging_sessions. Baseline: a
//     loop of nats.go Fetch, encoding/json, one clickhouse-go batch insert per fetch and Ack into
//     a scratch table created AS charging_sessions. Ceiling: the same rows, built from EVENTS
//     before the measured time and held in memory, only inserted with clickhouse-go in batches
//     of the sink's size into charging_sessions, by as many inserters as the sink has in flight;
//     the sink's row shows its ratio to both.
//   - normalizer: raw Be-Mo records pre-loaded on RAW → events on EVENTS. Baseline: one goroutine
//     per core fetching, mapping with bemo's Map, publishing asynchronously to a scratch stream
//     configured like EVENTS, and acknowledging after the PubAcks.
//   - poller: the scheduler with the bemo source fetches Be-Mo sessions over HTTP and publishes
//     them to RAW. Baseline: a PublishMsgAsync loop of the same messages into a scratch stream
//     configured like RAW, with as many PubAcks pending as the poller's window.
//   - e2e: poller, normalizer and sink together, Be-Mo API → ClickHouse rows.
//   - latency: raw records published at a steady rate with the normalizer and the sink running;
//     p50/p99 of raw publish → row visible (see latencyScenario for the method).
//   - scaling: one normalizer and one sink, then two of each sharing their durable consumers;
//     every record exactly once in ClickHouse.
//   - mews-export: the scheduler with the mews source streams one Bill export of about 1 GB
//     (--mews-export-mb) from the Mews simulator, which builds and holds it in the infra child,
//     into RAW; no baseline: the poller's peak RSS against the 64 MB, and RAW's message
//     count against the export's bills.
//
// # What is measured
//
// NATS and the simulated Be-Mo API run in a child process (the harness binary re-executed with
// InfraArg), ClickHouse in its own; so the harness process holds the code under test, and its
// CPU time (getrusage) and peak RSS (VmHWM, reset through /proc/self/clear_refs before each run)
// are the services'. Each scenario gets a fresh NATS store and freshly migrated tables. A run
// ends when its output is complete (a stream's message count, a table's count(), polled every
// 50ms).
//
// The Be-Mo records are the bemo simulator's sessions, cycled with fresh session ids beyond a
// few thousand: the simulator scans every session of an account for each page, so it would
// measure itself at these volumes. The child serves them with the simulator's paging contract;
// the poller's client, source, checkpoints and publish window are the real ones.
package bench
