// Package plugsurfing ingests customers' bills from Plugsurfing's user-get-bills call: a client,
// a poll source with one checkpoint per user that never re-reads a completed date interval, the
// pure mapping to invoice.v1 events, and a simulator serving the same call.
//
// The specification is the seed document seeds/003_86ed0a97d710902f.txt ("User Get Bills").
// Each bill becomes one raw record on raw.plugsurfing.bills and one canonical event on
// events.invoice.v1.plugsurfing.
//
// # Call and authentication
//
// One call: POST {"user-get-bills": {"user": {identifier-type, identifier, token},
// "date-interval": {start, end}}} to PLUGSURFING_BASE_URL, exactly as configured (the seed
// names no path; the default, the simulator's, ends in a slash). The answer is
// {"user": {"bills": […]}, "result": {code, message}} with HTTP 200 whatever the outcome (the
// bills may also be at the top level, see the readings below): result.code 0 is success; 140 (no positive authentication response), 144 (email does not
// exist) and 145 (user token not valid) become an *APIError matching poll.ErrAuth, reported
// with the user's scope, the code and its meaning, never the token. The scheduler then pauses
// that user until the next cycle; every other user has its own scope and keeps flowing. A
// result code the seed does not document matches poll.ErrPermanent. Non-200 statuses: 429 and
// 5xx are retried through poll.Retry with exponential backoff and jitter, honouring
// Retry-After; 401/403 match poll.ErrAuth; other 4xx poll.ErrPermanent. A 200 body that is not
// JSON is most likely truncated and is retried like a 5xx; a body that is valid JSON in a shape
// the client cannot read (no result.code, bills in two places that differ, an array where the
// bills should be) matches poll.ErrPermanent and says what it holds. The seed names no API key
// or other header, so none is sent.
//
// # Configuration
//
//   - PLUGSURFING_USERS: the users to poll, comma-separated, each <identifier-type>:<identifier>
//     with identifier type evco-id, rfid, username or token, e.g.
//     "username:some_user,rfid:04AB12CD34EF56,evco-id:DE-PLS-C12345678-4". An entry is split at
//     its first colon; identifiers hold no white space. Each user is one scope.
//   - PLUGSURFING_TOKENS (secret, or PLUGSURFING_TOKENS_FILE): the users' tokens, one entry per
//     line or comma-separated, each <identifier-type>:<identifier>=<token>, e.g.
//     "username:some_user=b369f99e82fa097ba9cff8658c74e47c". An entry belongs to the user whose
//     "<identifier-type>:<identifier>=" it starts with (the longest), so "=" may appear in a
//     token; a token cannot hold a comma or a line break. The token is optional in the seed: a
//     user without an entry is sent without one. In Kubernetes keep the entries in a Secret key,
//     mount it and set PLUGSURFING_TOKENS_FILE to the file (or set PLUGSURFING_TOKENS from the
//     key with secretKeyRef); PLUGSURFING_USERS can live in a ConfigMap. An entry naming no
//     configured user, an empty token or a second token for one user is refused at start, the
//     entry named by its position only.
//   - PLUGSURFING_START (default 720h): where a user without checkpoint starts: a duration
//     before now, a date (UTC midnight) or an RFC 3339 time.
//   - PLUGSURFING_WINDOW (default 168h): the longest date-interval of one call. The call has no
//     paging, so one response holds a whole interval; PLUGSURFING_MAX_RESPONSE_BYTES (default
//     32 MiB) refuses a larger body with an error asking for a shorter window.
//   - PLUGSURFING_SETTLE (default 5m): intervals end this long before now.
//   - PLUGSURFING_REREAD (default 24h): see late bills below.
//   - PLUGSURFING_UTC_OFFSET (default +00:00): the offset the date-interval is written in.
//
// Invalid settings fail at start, each naming its setting and wrapping config.ErrInvalid (an
// unknown identifier type among them); tokens are never shown.
//
// # Readings chosen where the seed is ambiguous
//
//   - Where the bills are. The seed's field list names bills as a response field, its example
//     nests them under "user" ({"user": {"bills": […]}}). The client reads either; both present
//     and equal is one list, both present and different is a permanent error (it cannot tell
//     which is the user's). A success with neither is no bills only when the body holds no other
//     non-empty array (at the top or under user); otherwise it is a permanent error naming the
//     key, because reading "no bills" from a list under another key would lose every bill with
//     no signal. (The client before this reading ignored a top-level list: every call
//     succeeded with 0 bills.)
//   - result.code is an integer in the example; a code written as a string of one ("0",
//     "145") means the same and is read alike (before, such a body was retried as malformed and
//     the user never progressed). Any other code (1.5, "ok", missing) is a permanent error.
//   - external-session-ids: the seed says "List of session ID's" and shows strings. Integers
//     are read as ids too, their digits exactly as sent (decoded as json.Number, so ids above
//     2^53 keep every digit): 12345 and "12345" are the same session. A fraction, an exponent,
//     a negative number, null, an object or an array in the list is unmappable (the normalizer
//     dead-letters the bill with the reason). The key is also read as external_session_ids or
//     externalSessionIds (case, hyphens and underscores aside); two spellings holding
//     different lists are unmappable.
//   - A bill covering no session: external-session-ids [], null or absent all map to
//     session_ids [] — unless the bill has another key containing "session" (session-ids,
//     sessions …): then its sessions are most likely there and the bill is unmappable, naming
//     the key, rather than an invoice silently linked to nothing.
//   - The simulator serves each of these other readings on request (sim.Readings
//     PlugsurfingBillsTopLevel, PlugsurfingStringResultCode, PlugsurfingNumericSessionIDs,
//     PlugsurfingBillsWithoutSessions, PlugsurfingInclusiveEnd; providersim
//     --reading-plugsurfing-*), and the tests hold the client to each.
//   - Dates are written as the seed's "Y-m-d\TH:i:sP" (2015-03-04T13:32:12+01:00): seconds and
//     a ±hh:mm offset, "+00:00" rather than "Z", at PLUGSURFING_UTC_OFFSET. Interval bounds
//     are whole seconds.
//   - The seed shows no bill date and does not say whether end is inclusive. The source reads
//     half-open intervals [start, end): each interval starts where the previous one ended. If
//     the API includes end, a bill dated exactly on a boundary comes twice; the source emits it
//     once per Fetch, and across cycles the same bill has the same record id and bytes, so
//     JetStream's duplicate window and the table key absorb it. The simulator keeps a hidden
//     date per bill and returns start ≤ date < end; under sim.Readings.PlugsurfingInclusiveEnd
//     it returns start ≤ date ≤ end and dates bills at midnight, where intervals meet, which
//     the tests use to hold every bill to exactly one invoice.
//   - Bills have no id. A bill's id (Record.ID, ce-subject, the invoice's source_id) is
//     BillID(url): "bill-" and the first 32 hex digits of the SHA-256 of the bill URL as sent.
//     It is short, safe in a NATS header whatever the URL holds, and the same for every user
//     and poll that sees the bill (two configured identities of one customer yield one
//     invoice). The URL itself stays in document_url. Should Plugsurfing ever serve signed URLs
//     whose query changes per call, each would be a new bill: the id covers the whole URL,
//     because dropping the query could merge distinct bills.
//   - external-session-ids are Plugsurfing's references to the charging sessions a bill covers.
//     invoice.v1 wants canonical ids "<provider>:<source id>", and the bill does not say which
//     provider ingested the session, so each becomes "plugsurfing:<external id>" (trimmed,
//     duplicates dropped). Joining invoices to sessions from any provider goes through the part
//     after the first colon = charging_sessions.source_id.
//   - The customer reference (account) is the user's scope "<identifier-type>:<identifier>". A
//     token-type identifier is a credential itself, so its scope is "token:sha256-" and the first
//     16 hex digits of its SHA-256: it never appears in scopes, checkpoint keys, logs, errors or
//     events.
//   - Late bills: a bill may appear some time after its date (the seed does not say how long).
//     Every cycle reads up to now − PLUGSURFING_SETTLE, but the checkpoint only moves up to
//     PLUGSURFING_REREAD before that: the last stretch is read again every cycle (one call per
//     user when it fits one window), so a bill appearing up to PLUGSURFING_REREAD after its date
//     is still picked up; a later one is missed (raise PLUGSURFING_REREAD, or reset the
//     checkpoint to backfill). Its bills come again each cycle with the same raw ids (unchanged
//     content), which JetStream's duplicate window and the invoices table key absorb. Set
//     PLUGSURFING_REREAD=0 to checkpoint up to the interval end. The simulator publishes every
//     bill 10 minutes to 12 hours after its date, so the defaults never miss one there.
//   - A bill carries no time: issued_at, the period, status and totals stay empty, line_items
//     is [] and ce-time is when chargeline fetched the bill (Raw.FetchedAt).
//
// # Polling and checkpoints
//
// Scopes are the configured users. The checkpoint of a user is the JSON text
// {"next_start":"<RFC 3339 UTC>"}: every bill dated before next_start has been read and its
// interval is never requested again. Without a checkpoint the first poll starts at
// PLUGSURFING_START. Fetch walks intervals of at most PLUGSURFING_WINDOW from next_start to
// now − PLUGSURFING_SETTLE, stopping one interval exactly where the re-read stretch begins;
// after each interval before that point it emits a marker record whose Next is the checkpoint
// of the following interval, so a cancelled backfill resumes at the interval it stopped in.
//
// # Mapping
//
// Map turns a bill into one invoice.v1 event: id "plugsurfing:<BillID>", account the user's
// scope, session_ids the canonical ids of its external-session-ids, document_url the bill URL.
// A record that is not one JSON object, has no bill URL or one that is not an absolute http(s)
// URL, or a blank or control-character session id, fails with an error wrapping
// events.ErrUnmappable (the normalizer dead-letters it).
package plugsurfing
