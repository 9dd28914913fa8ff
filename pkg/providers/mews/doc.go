// Package mews ingests Mews Connector API exports: a client for exports/add and
// exports/getAll, a poll source that runs one asynchronous export per entity type and window and
// streams its JSON Lines files, the pure mapping of Bills to invoice.v1 events and of OrderItems
// to invoice_line.v1 events, and a simulator serving the same API and files.
//
// The specification is the seed document seeds/001_351e430f0aa5091e.txt ("Exports": Get all
// exports, Add export; beta). Every exported entity becomes one raw record on
// raw.mews.<entity type in lower case> (raw.mews.bill, raw.mews.orderitem, raw.mews.payment …,
// archived in raw_records); a Bill also becomes one canonical event on events.invoice.v1.mews,
// an OrderItem one on events.invoice_line.v1.mews. The other eight entity types carry no
// canonical event.
//
// # Operations and authentication
//
// POST {base}/api/connector/v1/exports/add and …/exports/getAll, where base is the platform
// address (MEWS_BASE_URL). Every JSON body carries ClientToken, AccessToken (secrets:
// MEWS_CLIENT_TOKEN, MEWS_ACCESS_TOKEN, or their _FILE variants) and Client (MEWS_CLIENT,
// default "chargeline"); secrets never appear in errors or logs, nor do the signatures in file
// URLs (errors show a file URL without its query). exports/add carries EntityType, the Scope
// (MEWS_ENTERPRISE_IDS, MEWS_CHAIN_IDS: at most 1000 GUIDs each, omitted when empty) and
// Filters.UpdatedUtc.
//
// Refusals are *APIError built from Mews's {Message, RequestId, Details} body: 401 matches
// poll.ErrAuth (reported once, not retried); other 4xx but 408 and 429 match poll.ErrPermanent.
// 408, 429 (Retry-After honoured) and 5xx are retried through poll.Retry with backoff and
// jitter, as are transport failures and bodies that do not decode.
//
// # Readings chosen where the seed is ambiguous
//
//   - UpdatedUtc is read as the half-open interval [StartUtc, EndUtc), and windows are
//     contiguous (the next StartUtc is the previous EndUtc), written in whole seconds. If Mews
//     includes both ends, an entity updated exactly at a boundary arrives twice with the same
//     bytes, hence the same raw id, which JetStream's duplicate window absorbs.
//   - "The end of the interval must be no later than 5 minutes in the past": windows end
//     MEWS_END_LAG (default 6m, at least 5m; the extra minute absorbs clock skew) before the
//     source's clock. "The maximum interval is 180 days": a window spans at most MEWS_MAX_WINDOW
//     (default and maximum 4320h = 180 days), so a longer backfill is split into consecutive
//     exports. A caught-up scope starts a new export only once MEWS_MIN_WINDOW (default 15m) has
//     passed, so a poll every minute does not add an export every minute.
//   - exports/getAll lists ExportIds in its example but not among its parameters: the source
//     always sends ExportIds when it knows the id, and sends none (read as "every export of the
//     client") only to find the export that made exports/add refuse.
//   - The refusal of exports/add while an export of the entity type is Pending or Processing has
//     no documented status or message. Any non-auth 4xx of exports/add therefore makes the source
//     look for such an export with exports/getAll: one of the same entity type and scope whose
//     UpdatedUtc interval contains the window's start is adopted (its end becomes the window's
//     end; that is the export of a poller that stopped before its checkpoint was durable);
//     another one (someone else's) is waited for, then the add is repeated once. No running
//     export found: the refusal is returned. The simulator refuses with 403, Mews's status for a
//     violated business rule.
//   - Status transitions are not timed by the seed. The source polls exports/getAll with
//     backoff (DefaultExportWait: up to 60 polls, 1s growing to 30s apart); an export still
//     running after that returns an error and the next poll resumes it from the checkpoint.
//   - Failed: Fetch returns an error wrapping ErrExportFailed after moving the checkpoint back to
//     the window's start, so the next poll adds a new export. Expired (or unknown to getAll)
//     before every file was read: a new export of the same window is added at once; lines it
//     repeats have the same raw ids.
//   - "The link remains valid for 10 minutes after it is returned": a download that would start
//     9 minutes or more after the getAll that returned its URL first fetches fresh URLs; a
//     download answered 400, 401, 403, 404 or 410 does too, then resumes the file where it
//     stopped. A change in the number of files is treated like an expired export.
//   - Files are JSON Lines: one entity per line, UTF-8, "\n" or "\r\n" line ends, blank lines
//     skipped, a final line without newline accepted. Record.ID is the line's Id (a hash-based
//     stand-in for a line without a usable Id, so it still reaches the RAW archive and, for a
//     Bill, the DLQ); Record.Data is the line's bytes exactly as sent (unknown fields kept). A
//     body that ends cleanly before SizeInBytes is treated as truncated and resumed.
//   - A line longer than MEWS_MAX_LINE_BYTES (default 16 MiB) stops the scope with an error
//     wrapping ErrLineTooLong and poll.ErrPermanent that names the export, file, line and
//     setting. The line is not skipped (that would lose an entity silently): the checkpoint
//     stays before it, so raising the setting resumes exactly there. At most that many bytes
//     (plus the 64 KiB read buffer) are held, so a hostile file cannot exhaust memory.
//   - The seed documents no entity fields. Bills are read with the Connector API's Bill field
//     names (Id, Number, State, Type, AccountId, AccountType, CustomerId, CompanyId, CreatedUtc,
//     IssuedUtc, UpdatedUtc), OrderItems with its OrderItem field names (Id, AccountId, BillId,
//     BillingName, UnitCount, UnitAmount, Amount, RevenueType, Type, AccountingState,
//     ConsumedUtc, CreatedUtc, UpdatedUtc); amounts are {Currency, NetValue, GrossValue}.
//   - Where a bill's money is: Mews deprecated the Revenue items embedded in a Bill ("use
//     orderItems/getAll with BillId"), so a bill may carry its own Amount, Revenue items, or no
//     money at all (then it is only in the OrderItem export, on the items whose BillId is the
//     bill's Id). A bill's totals are therefore its own Amount when it has one, else the sum of
//     its Revenue items, else the sum of its order items. The mapping is pure and sees one
//     record at a time, so the last case cannot be done there: every OrderItem becomes an
//     invoice_line.v1 event naming its bill (invoice_id "mews:<BillId>"), keyed by the item so a
//     re-billed or cancelled item replaces its earlier version, and ClickHouse's view
//     invoice_totals adds them up per bill and currency when queried (schemas/clickhouse
//     0008_invoice_lines.sql), leaving out items whose AccountingState is Canceled. An item
//     without BillId (not billed yet) keeps an empty invoice_id. Revenue items are the bill's
//     order items seen from the bill, so a bill that has totals of its own is not added to.
//   - The simulator serves each of these readings (sim.Readings.BillMoney: "" or "revenue",
//     "amount", "order-items"; providersim --reading-bill-money).
//
// # Polling and checkpoints
//
// Scopes are the entity types of MEWS_ENTITY_TYPES (default all ten). A scope's checkpoint is
// the JSON text of a Position: {"from":"<RFC 3339>"} means every entity updated before from is
// durable and the next window starts there; while an export is under way it also holds
// "export":{"id","end","file","line","offset"}: the export id, its window's end, the files
// already complete, and the lines and bytes of the current file already durable. Without a
// checkpoint the first window starts at MEWS_START (default: 30 days before the first poll).
// Provider is a providers.Backfiller: BackfillCheckpoint(t) is {"from": t rounded down to the
// second} (chargectl backfill, verify, checkpoints set --at), and CheckpointTime returns a
// checkpoint's from, the time before which everything was emitted.
//
// Fetch adds the window's export, then emits a marker whose Next holds the export id before
// waiting, so a restarted poller resumes that export instead of adding another. Each file is
// read as a stream (bufio, line by line; never the whole file): every line's record carries the
// Next of the position after it, a marker after each file moves to the next file, and a marker
// after the last file moves from to the window's end. The scheduler stores a Next only once
// every record before it has its PubAck, so the window advances only when every line of every
// file is durable. A resumed file is requested with Range: bytes=<offset>- (a server that ignores
// Range has the durable bytes skipped while streaming), so a cancelled poll, a dropped
// connection or a refreshed URL continue at the first line not yet durable. Downloads are not
// bounded by the HTTP client's Timeout (a file can be gigabytes); that timeout bounds the wait
// for the response headers and any stall between two reads instead.
//
// # Mapping
//
// Map turns a Bill into one invoice.v1 event: id "mews:<Id>", account the AccountId (else
// CustomerId, else CompanyId), status the State (Open, Closed), issued_at the IssuedUtc,
// source_updated_at the UpdatedUtc, times in RFC 3339 UTC; the event time is IssuedUtc, else
// UpdatedUtc, else CreatedUtc. Each Revenue item becomes a line item (product category = Type,
// family = SubType, code = Name, since Mews items carry no product code; amount = GrossValue;
// time = ConsumptionUtc). A bill's own Amount gives its totals (total_amount = total_gross =
// GrossValue, total_net = NetValue, currency); without one, when every item shares one
// currency, total_amount and total_gross are the exact sum of the gross values and total_net the
// sum of the net values; a bill with neither has no totals (its order items give them, see
// above), one mixing currencies keeps its lines without totals. invoice.v1 has no field for the
// bill Number: it stays in the raw record. A Bill without a usable Id or any of IssuedUtc,
// UpdatedUtc, CreatedUtc, with a malformed time, a non-decimal amount, an Amount with NetValue
// but no GrossValue, or an amount without GrossValue or an ISO 4217 currency fails with an
// error wrapping events.ErrUnmappable (an Amount that is null or holds neither value counts as
// none).
//
// An OrderItem becomes one invoice_line.v1 event: id "mews:<Id>", invoice_id "mews:<BillId>"
// (none while BillId is null), account the AccountId, status the AccountingState, product
// category = RevenueType, family = Type, code = BillingName, quantity = UnitCount, unit_price =
// UnitAmount.GrossValue, amount and gross_amount = Amount.GrossValue, net_amount =
// Amount.NetValue, currency, time = ConsumedUtc, source_updated_at = UpdatedUtc; the event time
// is ConsumedUtc, else UpdatedUtc, else CreatedUtc. One without a usable Id, with an unusable
// BillId, without Amount, GrossValue or an ISO 4217 currency, with a non-decimal number or a
// malformed time fails with an error wrapping events.ErrUnmappable. Records of the other entity
// types map to no event (nil, nil); a resource that is no export entity type is unmappable.
package mews
