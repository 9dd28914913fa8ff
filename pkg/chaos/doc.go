// Package chaos is the fault-injection run behind `make chaos`: it runs nats-server,
// clickhouse-server, the provider simulators and every service (a poller per provider, the
// normalizer, the sink) as separate processes built and supervised by pkg/process, injects
// faults on a seeded schedule, and then compares ClickHouse with the simulators' own ground
// truth. Its promise: a scenario passes only if every simulated record has exactly one row,
// money totals match to the cent, raw_records holds every RAW message, the DLQ holds exactly
// the poison records that were injected, and no consumer has anything left pending, also once
// every service stopped.
//
// # Faults
//
//   - kill -9 of each service several times, at random points of its own work (a poller: its
//     provider's records on RAW; the normalizer: messages on EVENTS; the sink: what it has
//     acknowledged), restarted after a random delay the way an orchestrator would;
//   - SIGTERM of each service (a rolling deploy): it must exit 0 within Config.StopTimeout;
//   - SIGSTOP of each service, two replicas of each, for longer than a lease and an ack wait
//     (a frozen VM, a long GC pause), then SIGCONT;
//   - nats-server restarted with SIGTERM, killed with SIGKILL and frozen (services/natsd, the
//     embedded server of `make run` as a process of its own);
//   - clickhouse-server stopped for the outage and started again on the same data, and killed;
//   - RAW and EVENTS full (their byte limit set to what they hold) for the outage, then lifted;
//   - the simulators' faults (providersim flags): 429 storms with Retry-After, 500s, slow and
//     truncated responses, Mews export file URLs refused as expired, PIP tokens that expire
//     before their announced end;
//   - poison records (PoisonRecords): well-formed raw envelopes with broken bodies, published on
//     raw.<provider>.<resource> with known ids, which must reach dlq.normalize.<provider> with
//     a reason.
//
// Points of progress, not of time, place the faults, so a slow machine gets the same schedule
// as a fast one. A process that ends without being asked to (a service started while NATS is
// down exits 1) counts as a crash and is restarted after a second; crashes are reported. At
// the end every service is stopped with SIGTERM and must exit 0 within Config.StopTimeout.
//
// # Scenarios
//
// Each scenario (Scenarios) runs on a fresh pipeline in its own directory under Config.Dir,
// which keeps every process's log (logs/<name>.log) for the post-mortem. The package's tests
// run the short variant (a few thousand records, every fault) and check that no service binary
// prints a secret it was given (TestServicesNeverPrintSecrets).
package chaos
