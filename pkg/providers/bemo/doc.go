// Package bemo ingests fuelling and charging sessions from the Be-Mo reporting API: a client,
// a poll source that never re-fetches a completed day yet finds the sessions Be-Mo creates or
// corrects later (lastCreated), the pure mapping to charging_session.v1 events, and a
// simulator serving the same API.
//
// The specification is the seed document seeds/002_379b15a20ec28189.txt ("Reporting",
// GetSessionsByAccount). Each session becomes one raw record on raw.bemo.sessions and one
// canonical event on events.charging_session.v1.bemo.
//
// # Endpoint and authentication
//
// One endpoint: GET {base}/reporting/v1/api/accounts/{accountId}/sessions with the query
// parameters from, to, lastCreated, offset and limit (vehicleId and countryCode are not used by
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
//   - lastCreated ("Last created sessions (YYYY-MM-DD)") keeps the sessions Be-Mo created on
//     that date or later, and a session Be-Mo corrects counts as created again on the day of
//     the correction (the seed gives sessions no modification time; this parameter is the only
//     way to ask for changes). Its date is a UTC date like from and to, and it combines with
//     them: lastCreated=D&from=F&to=T is what was created on D or later among the sessions
//     started F … T. A session appears in the API some time after it ended (the seed does not
//     say how long) and may be created or corrected days later: the day windows read the
//     sessions that are there by the time a day closes, lastCreated everything after.
//   - "Created since the last sweep", with a date for granularity: a sweep asks for
//     lastCreated = the date of the previous sweep itself, taken one hour before that poll
//     started, so nothing created later on that day, or in the first hour of the next one (a
//     clock ahead of Be-Mo's), is missed. What that day created is read again by every sweep
//     until the date moves on; the same bytes give the same raw ids, so JetStream's duplicate
//     window and the table keys absorb it.
//   - A corrected session is a new version: its bytes differ, so its raw ce-id differs, and
//     being fetched later its RAW sequence is higher and its row wins in ClickHouse.
//
// # Polling and checkpoints
//
// Scopes are the configured accounts (BEMO_ACCOUNTS). The checkpoint of an account is the JSON
// text {"next_day":"YYYY-MM-DD","swept":"YYYY-MM-DD"}: every day before next_day was read whole
// when it closed, and every session of those days that Be-Mo created (or corrected) before
// swept was emitted. A checkpoint without swept — {"next_day":"YYYY-MM-DD"}, written before the
// sweep existed, by CheckpointAt, chargectl checkpoints set --at and backfills — reads as swept
// = next_day, so an upgraded poller goes on from its old checkpoint. Without a checkpoint the
// first poll starts at BEMO_START_DATE (default: 30 days before today). Each poll of an
// account then
//
//  1. walks the closed days (older than BEMO_SETTLE_DAYS days before today, default 1) from
//     next_day on, in one-day windows (from = to = day), paging offset = 0, 1, 2 … until a page
//     is not full, and after the last page of each emits a marker record whose Next is the
//     checkpoint of the following day (swept unchanged);
//  2. sweeps: one query lastCreated = swept, from = the retained range's start (BEMO_START_DATE,
//     else 30 days before today), to = the day before the next_day the poll started at, paged
//     the same way. Step 1 has just read the later days whole, so they are left out and the
//     sweep returns only what came late. A session repeated with the same bytes within a
//     window (offset paging over a list that grew ahead of the offset between two requests) is
//     emitted once. Then a marker moves swept to today (the UTC date one hour before the poll
//     started). A scope's first poll has no earlier days, hence no sweep;
//  3. reads the open days (today and the BEMO_SETTLE_DAYS before it), never checkpointed: their
//     records come again on every cycle with the same raw ids (unchanged content), so
//     JetStream's duplicate window absorbs them.
//
// The scheduler commits a marker only once every record before it has its PubAck, so swept
// moves only after the whole sweep is durable. A caught-up poll costs BEMO_SETTLE_DAYS + 2
// requests (3 by default: two open days and the sweep; before the sweep existed, 2), more when
// a window holds more than BEMO_PAGE_SIZE sessions; old days are never read again. One-day
// windows cost one request per account and day even for empty days, which keeps the checkpoint
// simple and a cancelled backfill resumes at the day it stopped. BEMO_SETTLE_DAYS no longer
// decides whether late sessions are found, only whether they come by the day windows or by the
// sweep. The sweep does not look before the retained range: a session corrected after its start
// day left it is not read again.
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
