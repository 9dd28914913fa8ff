// Package bemo ingests fuelling and charging sessions from the Be-Mo reporting API: a client,
// a poll source that never re-fetches a completed day, the pure mapping to charging_session.v1
// events, and a simulator serving the same API.
//
// The specification is the seed document seeds/002_379b15a20ec28189.txt ("Reporting",
// GetSessionsByAccount). Each session becomes one raw record on raw.bemo.sessions and one
// canonical event on events.charging_session.v1.bemo.
//
// # Endpoint and authentication
//
// One endpoint: GET {base}/reporting/v1/api/accounts/{accountId}/sessions with the query
// parameters from, to, offset and limit (vehicleId, countryCode and lastCreated are not used by
// the source; the simulator accepts them). Every request carries two headers: Authorization
// with the access token (a JWT) and Api-Subscription-Key. The seed's code samples send the
// token with no scheme, so the client sends the configured value verbatim; configure
// "Bearer <jwt>" if a gateway wants the scheme. Both are secrets (BEMO_ACCESS_TOKEN,
// BEMO_SUBSCRIPTION_KEY, or their _FILE variants) and never appear in errors or logs.
//
// Responses use the envelope {status, errors, data, trace, version}; each error is
// {code, message}. The documented codes become an *APIError: InvalidJWT, TokenExpired and
// TokenNotPresent (and any 401/403) match poll.ErrAuth, so the scheduler reports them once and
// does not retry; ArgumentException and ResourceNotFound (and any 400/404) match
// poll.ErrPermanent. 429 and 5xx are retried through poll.Retry with exponential backoff and
// jitter, honouring Retry-After. A 401 body that is not the envelope (the API gateway's own
// {statusCode, message} for a missing subscription key) still becomes an *APIError with the
// gateway's message.
//
// Each session's JSON is kept byte for byte as the API sent it (unknown fields survive into the
// RAW stream). A response body larger than BEMO_MAX_PAGE_BYTES (default 32 MiB) is refused with
// an error naming the setting, since retrying cannot shrink it: lower BEMO_PAGE_SIZE. A body
// that is not valid JSON is most likely truncated in transit, so it is retried like a 5xx and
// surfaces with the account, window and page once the attempts are used up.
//
// # Readings chosen where the seed is ambiguous
//
//   - from and to filter on the session's start ("Sessions started from this date"), and
//     compare against the UTC calendar date of sessionStartDate, inclusively on both ends.
//     "Today" is the UTC date of the source's clock.
//   - offset is the page index, 0-based ("Offset (page) index"): offset=k returns the records
//     k*limit … (k+1)*limit-1 of the window, so a page boundary can cut through sessions that
//     share one sessionStartDate without losing or repeating one, as long as the order is stable
//     (the simulator sorts by sessionStartDate, then sessionId). The seed's example lists the
//     later session first, so the real API may sort newest first; the source does not depend on
//     the direction, only on it being stable, because its checkpoint is a whole day.
//   - The response headers ("accepted range", "previous / next range Url") are not named by the
//     seed. The client does not follow range URLs: it stops a window at the first page holding
//     fewer than limit records. If the response carries Accept-Range (the simulator's name for
//     the largest limit the server accepts) and it is smaller than the limit asked for, a page
//     of Accept-Range records counts as full, so a server that silently caps the page size
//     loses nothing. The simulator also sends Prev-Range and Next-Range URLs.
//   - timeZone is the site's UTC offset ("+01:00"). The seed's timestamps end in Z, so a
//     timestamp with Z or an offset is taken as it stands; timeZone is applied only to a
//     timestamp that carries no offset. It is copied to location.time_zone.
//   - isRfid says whether the session was authorised by an RFID card: true gives the token
//     {type: rfid, value: rfid}; false gives {type: vehicle, value: vehicleId} when there is a
//     vehicle id (the seed's example has isRfid false next to a card number, which therefore
//     does not become the token). vehicleId is always copied to vehicle_id.
//   - Late arrivals: a session appears in the API some time after it ended (the seed does not
//     say how long). Days are closed once they are older than BEMO_SETTLE_DAYS days before
//     today (default 1: today and yesterday stay open and are re-read every cycle). Sessions
//     that appear for a day after it was closed are missed: raise BEMO_SETTLE_DAYS if the
//     provider reports later than that. The simulator publishes every session at most 18
//     hours after it ended, so the default never misses one there.
//   - lastCreated ("Last created sessions (YYYY-MM-DD)") is not used: its meaning is unclear
//     and the day windows already cover late arrivals.
//
// # Polling and checkpoints
//
// Scopes are the configured accounts (BEMO_ACCOUNTS). The checkpoint of an account is the JSON
// text {"next_day":"YYYY-MM-DD"}: every day before next_day is complete and never fetched
// again. Without a checkpoint the first poll starts at BEMO_START_DATE (default: 30 days
// before today). Fetch walks one-day windows (from = to = day) from next_day up to today,
// paging offset = 0, 1, 2 …; after the last page of a closed day it emits a marker record whose
// Next is the checkpoint of the following day. Open days are read every cycle and never move
// the checkpoint past them; their records come again on every cycle with the same raw ids
// (unchanged content), so JetStream's duplicate window absorbs them. One-day windows cost one
// request per account and day even for empty days, which keeps the checkpoint simple and a
// cancelled backfill resumes at the day it stopped.
//
// # Mapping
//
// Map turns a session into one charging_session.v1 event: id "bemo:<sessionId>", status
// "completed" (the reporting API lists finished sessions), times in RFC 3339 UTC, one line item
// per transaction. Amounts and quantities are decoded as json.Number and kept as exact decimal
// strings. The session's quantity and unit are the sum of its lines when they all share one
// unit; energy_kwh sums the lines whose unit is an energy unit (Wh, kWh, MWh, converted
// exactly). total_amount is the exact sum of the line amounts when every line has the same
// currency; a session mixing currencies keeps its lines but has no total (it is not an error).
// The address is trimmed and its runs of spaces collapsed (the API pads fixed-width fields).
// Be-Mo sends no modification time, so source_updated_at stays empty. A record without
// sessionId or sessionStartDate, with a malformed date, a non-decimal amount or a transaction
// without totalAmount or currencyKey fails with an error wrapping events.ErrUnmappable.
package bemo
