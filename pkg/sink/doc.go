// Package sink writes chargeline's canonical events and raw records from JetStream into
// ClickHouse in batches and acknowledges a message only after its row is inserted.
//
// # Flow
//
// Two durable pull consumers feed it: "sink-events" on EVENTS (events.>, into
// charging_sessions, invoices, cost_centers and invoice_lines) and "sink-raw" on RAW (raw.>, into
// raw_records). Each consumer runs one loop that fetches messages, decodes each into a row of
// its table and adds it to that table's Batcher. A batch is inserted when it reaches
// --batch-rows, --batch-bytes or --batch-age; only then are its messages acknowledged.
//
// # Failures
//
//   - A ClickHouse outage (anything that is not a *clickhouse.Exception refusing the data: dial
//     errors, a closed connection, an acquire timeout, or an exception code meaning the server
//     is overloaded or the schema is missing) is retried with backoff, forever, without
//     acknowledging. The batch is kept and its messages are kept alive with InProgress, so
//     JetStream does not redeliver them meanwhile. Should they be redelivered anyway (a sink
//     crash), the table keys absorb the duplicates: every table is a ReplacingMergeTree keyed by
//     the record's id.
//   - A row ClickHouse refuses (a *clickhouse.Exception) is isolated by splitting the batch in
//     halves until the refused row stands alone; the rest is inserted. A message that cannot be
//     decoded, and an isolated refused row, go to the DLQ stream on dlq.sink.<provider> with the
//     original body and headers plus chargeline-error, chargeline-stage, chargeline-original-subject,
//     chargeline-original-sequence and chargeline-attempts, and are acknowledged only after the
//     DLQ publish got its PubAck.
//
// # Shutdown
//
// Run stops fetching when its context ends, inserts and acknowledges what it holds (bounded by
// --sink-shutdown-timeout), and returns nil. What it could not insert in time stays
// unacknowledged and is redelivered to the next sink.
package sink
