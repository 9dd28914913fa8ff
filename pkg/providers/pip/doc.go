// Package pip ingests completed PIP sessions from Mobai's PIP data export API (the Posten
// invoicing export): a client with OAuth2 bearer authentication, a poll source whose
// completedAfter cursor neither loses nor repeats sessions sharing one completion time (and
// reports as a gap a tie larger than a page, which the API cannot return), the pure mapping to
// charging_session.v1 events, and a simulator serving the same API.
//
// The specification is the seed document seeds/000_6d2fc0190498ce94.txt ("PIP - Data Export
// API", DataExport, getPostenInvoicingData). Each session becomes one raw record on
// raw.pip.invoicing and one canonical event on events.charging_session.v1.pip.
//
// # Endpoint and authentication
//
// One endpoint: GET {base}/v1/data-export/{export}/invoicing?completedAfter=<date-time>, with
// export "posten" (PIP_EXPORT). Every request carries Authorization: Bearer <token>. The token
// is either static (PIP_ACCESS_TOKEN) or obtained with the OAuth2 client credentials grant
// (PIP_TOKEN_URL, PIP_CLIENT_ID, PIP_CLIENT_SECRET, optional PIP_OAUTH_SCOPES) through
// golang.org/x/oauth2/clientcredentials, over the same *http.Client as the API. Exactly one of
// the two must be configured. The token is cached and fetched again 30 seconds (or half its
// lifetime, if shorter) before it expires. The client id and secret go to the token endpoint by
// HTTP Basic (RFC 6749 §2.3.1; PIP_TOKEN_AUTH_STYLE=params sends them in the form instead);
// the style is fixed rather than auto-detected, because auto-detection answers any failure,
// a 429 included, with an immediate second request. Secrets never appear in errors or logs.
//
// Errors. The seed lists 400, 401, 403 and 500 without bodies; an error body's code (or
// error) and message (or error_description, detail) are read when present.
//   - 401: with a cached client-credentials token, the token is dropped, a new one fetched and
//     the request sent once more; a second 401, a 401 to a token fetched for this very request,
//     or a 401 to a static token is an *APIError matching poll.ErrAuth, naming the settings.
//   - 403 ("Insufficient permissions for data export") matches poll.ErrAuth too: the scheduler
//     reports it and waits for the next cycle, and the message says permission was denied.
//   - 400 ("Invalid completedAfter parameter format") matches poll.ErrPermanent and is not
//     retried: the source only sends values the API produced, so it is a bug; the error carries
//     the request (method and URL, which hold no credentials) to report. 404 is permanent too.
//   - 408, 429 and 5xx are retried through poll.Retry with exponential backoff and jitter,
//     honouring Retry-After; so are transport failures and bodies that do not decode.
//   - The token endpoint's 4xx (invalid_client, invalid_scope …) is a *TokenError matching
//     poll.ErrAuth; its 429 and 5xx are retried like the API's.
//
// # Readings chosen where the seed is ambiguous
//
//   - Record fields: the seed says "session ID, PIP ID, store number, and completion
//     timestamp"; the names are sessionId, pipId, storeNumber and completedAt (camelCase like
//     the cursor field, as the seeds README suggests). Ids may be JSON strings or numbers.
//     Every record is kept byte for byte, unknown fields included.
//   - Response body (PostenExportResponseList): an object with "exportedThrough" (a date-time
//     or null) and the list of sessions. The seed names exportedThrough only, never the list's
//     key, so the list is found, not assumed: it is the field PIP_RECORDS_FIELD names when set
//     (--pip-records-field), else the one top-level array that holds objects, whatever its key
//     ("data", "sessions", "items" …; its items that are not objects are kept too, and become
//     unmappable downstream). Other fields, arrays of strings and empty arrays beside it are
//     ignored. A bare JSON array is accepted as the sessions without exportedThrough. Each
//     session is kept as the exact bytes the API sent, never re-encoded.
//   - Which bodies are empty pages. A body whose list cannot be found is an empty page only
//     when it claims nothing: exportedThrough is absent, null, or not after the completedAfter
//     sent. Then several empty arrays, no array at all, or a PIP_RECORDS_FIELD left out are all
//     read as "no sessions", and the cursor stays (so nothing can be skipped by the reading: a
//     later page with sessions is read, or refused, then). One empty array is the list, empty,
//     whatever exportedThrough says (a server may advance it as a watermark). Refused, as an
//     error wrapping poll.ErrPermanent that names every key of the body with its kind (so an
//     operator can set PIP_RECORDS_FIELD), and not retried: several arrays of objects; no list
//     in a body whose exportedThrough moved past completedAfter (several empty arrays, no
//     array, only arrays of strings or numbers, a list nested in an object); a PIP_RECORDS_FIELD
//     that is missing from such a body, or is not an array.
//   - completedAfter is exclusive ("sessions completed after this timestamp"), absent on the
//     first request ("from the beginning"; PIP_START_AFTER sets another start).
//   - exportedThrough is read by its name: the completion time through which the export is
//     complete, every session completed at or before it having been delivered in this response
//     or an earlier one; the next request passes it as completedAfter. At most 1000 records a
//     page ("Maximum 1000 records returned per request", PIP_PAGE_SIZE), ordered oldest first.
//   - Ties. Several sessions can share one completion time and the API has no second sort key
//     or offset, so a page boundary can fall inside such a group. The simulator, as the
//     reading of a correct server, then still fills the page, but reports exportedThrough at
//     the group before, so the next page repeats the group's first sessions. A group larger
//     than a page cannot be paged through with an exclusive timestamp cursor at all: re-reading
//     from the time before it returns its first page forever, and passing its time skips the
//     rest. A server may return such a group whole, above the limit, with exportedThrough at
//     its time (the simulator's default); or it may keep the limit, and then the group's
//     sessions beyond its first page cannot be read by any client (Readings.TieBeyondPage). The
//     source handles both: see "Ties larger than a page" below.
//   - Time stamps are compared as instants; the source sends back the exact text the API wrote
//     (exportedThrough or a completedAt), never a reformatted one. Stamps without an offset are
//     ordered as UTC by the source but are unmappable (the seed's examples all carry one).
//
// # Polling and checkpoints
//
// One scope: the export ("posten"). The source does not trust a single reading of the server
// blindly; the checkpoint is the JSON text
//
//	{"completed_after":"<date-time>","emitted":[{"completed_at":"<date-time>","ids":["…"]}]}
//
// holding the next completedAfter and the ids already emitted that completed after it, by
// completion time ({} is the beginning). A session whose id is listed, or that completed at or
// before completed_after (an API reading the parameter inclusively), is skipped when the API
// sends it again. Within a page, once the sessions move on from completion time T, every
// session up to T has arrived (the page is an ordered prefix), so the cursor moves to T and the
// ids up to T leave the checkpoint. At the end of a full page the cursor stays before the last
// group, which may have been cut, and its ids stay listed: the next request re-reads the group
// and emits only its new sessions. The cursor is also never moved past exportedThrough. Thus a
// server that cuts a group and reports exportedThrough at the group's own time loses nothing
// either, as long as the group is smaller than a page; a server reading completedAfter
// inclusively costs re-sent sessions, not duplicates.
//
// A full page that brings no new session and does not move the cursor stops Fetch with an
// error matching poll.ErrPermanent that carries the request, rather than looping or skipping
// sessions: that is where an API reading completedAfter inclusively ends up when the group at
// the cursor and the next one exceed a page. Each full page either moves the cursor forward or
// emits new sessions, so Fetch ends. A page with fewer than PIP_PAGE_SIZE sessions ends the
// poll; its last completion time (or exportedThrough, if earlier) becomes the cursor.
//
// # Ties larger than a page
//
// A full page whose sessions all completed at one time T, later than the cursor, is a tie the
// API cannot page through. When the page holds more than PIP_PAGE_SIZE sessions and
// exportedThrough is at (or after) T, the API went above its limit to return the tie whole:
// the cursor moves to T. Otherwise every session of the page not emitted before is emitted,
// then a gap record: poll.Record{Gap: &poll.Gap{Kind: poll.GapTie, Resource: "invoicing",
// At: T, Read: <sessions at T emitted, this page's and an earlier page's>, Detail: …}}, whose
// checkpoint is after T with nothing pending; the poll goes on with completedAfter=T. The
// scheduler records the gap (poller_gaps, chargeline_poller_gaps_total, a WARN line) before
// the checkpoint may pass it, so the sessions that could not be read are reported, never
// skipped silently and never looped on; a poll resumed before the gap was recorded reads the
// tie's page again and reports the same gap (same instant, same key). A tie of exactly
// PIP_PAGE_SIZE sessions is reported too (Read = PIP_PAGE_SIZE, nothing actually lost): no
// response tells it apart from a larger one. PIP_PAGE_SIZE must therefore be the API's real
// limit: set lower, a cut page of a tie holds more than PIP_PAGE_SIZE and is taken for whole. A record carries the
// checkpoint that holds once it is durable (only every 100th inside a group of more than 100
// pending ids, since each such checkpoint lists the group), and a marker follows a page whose
// end moves it further.
//
// A record without a usable sessionId gets a stand-in id derived from its bytes; one without a
// usable completedAt stays where the API put it, but may be delivered twice (the same raw id,
// which JetStream's duplicate window absorbs). Sessions the API makes visible later than
// sessions completed after them would be missed by any completedAfter cursor: the export is
// trusted to show sessions in completion order.
//
// # Mapping
//
// Map turns a session into one charging_session.v1 event: id "pip:<sessionId>", account = the
// scope (the export, "posten"), status "completed" (the export lists completed sessions only),
// ended_at = completedAt in RFC 3339 UTC (also the event time), product {category: "pip"}.
// The PIP is the unit the session ran on, so pipId is location.id, and storeNumber is
// location.store_number. The export carries no start time, quantity or money: started_at,
// duration, line items (empty) and total_amount stay empty. A record without sessionId or
// completedAt, with a completedAt that is not RFC 3339 with an offset, or with an id that is
// neither a string nor a number fails with an error wrapping events.ErrUnmappable.
//
// # Simulator
//
// NewSimulator serves the export and a token endpoint (POST /oauth/token) from deterministic
// data, with ties on purpose: five sessions sharing a completion time across the first page
// boundary and a group of PageSize+3 further on; see NewSimulator and Provider.SimPageSize.
// Two other readings of the seed (sim.Readings): RecordsKey serves the list under another key,
// TieBeyondPage keeps the page limit for a group of PageSize + PageSize/5 sessions, whose
// sessions beyond its first page its Truth counts as Unreadable, with the instant in Gaps.
package pip
