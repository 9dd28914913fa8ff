// Package inpost ingests the cost centres (MPK, "miejsce powstania kosztów") of InPost ShipX
// organizations: a client, a poll source that re-reads only what changed since its checkpoint,
// the pure mapping to cost_center.v1 events, and a simulator serving the same API.
//
// The specification is the seed document seeds/004_347c812e44534176.txt ("[1.10.0] Miejsce
// powstania kosztów", in Polish), with ShipX's general API documentation for the error body
// and the list attributes. Each MPK becomes one raw record on raw.inpost.mpks and one canonical
// event on events.cost_center.v1.inpost; every new version of an MPK is a new raw record and a
// new event for the same cost centre, and ClickHouse's ReplacingMergeTree keeps the latest.
//
// # Endpoints and authentication
//
// GET {base}/v1/organizations/:organization_id/mpks (the list, with page, per_page, sort_by
// and sort_order) and GET {base}/v1/mpks/:id (one MPK; Client.MPK, to refresh a single cost
// centre — the source does not need it). Create (POST) and update (PUT) are not used. Every
// request carries "Authorization: Bearer <token>" (INPOST_ACCESS_TOKEN or its _FILE variant; a
// token configured with its "Bearer " prefix is not prefixed twice) and X-User-Agent:
// chargeline. The token never appears in errors or logs.
//
// Errors are ShipX's {status, error, message, details} and become an *APIError: 401 and 403
// match poll.ErrAuth (reported once, not retried); other 4xx match poll.ErrPermanent. A
// resource_not_found on the list means the organization does not exist (or the token cannot
// see it): a configuration error whose message names INPOST_ORGANIZATIONS and the id. 408, 429
// and 5xx are retried through poll.Retry with exponential backoff and jitter, honouring
// Retry-After; a 2xx body that is not valid JSON is most likely truncated and is retried too.
// A body larger than INPOST_MAX_PAGE_BYTES (default 16 MiB) is refused naming the setting.
// Each MPK's JSON is kept byte for byte as the API sent it (unknown fields survive into RAW).
//
// # Readings chosen where the seed is ambiguous
//
//   - The list has no "updated after" filter, only paging and sorting. The source therefore
//     re-reads the list every cycle, sorted by updated_at descending, and stops at the first
//     page that reaches an MPK older than its checkpoint; the changes it collected are emitted
//     oldest first. A cycle with nothing new costs one request per organization (more only when
//     the MPKs sharing the checkpoint's updated_at span several pages). Descending rather than
//     ascending because paging is by offset: an MPK created or updated during a poll moves to
//     the front of a newest-first list, which can only push unread items towards later pages
//     (a repeated item, dropped, the newest version winning), never make one skip a page
//     boundary; oldest first, the same update would shift every later item forward and lose
//     the one at the next boundary. A version that appears during a poll and is not read is
//     newer than everything read, so the checkpoint does not cover it and the next cycle reads
//     it. Deleting MPKs is not documented; a deletion during a poll could make an item skip a
//     page boundary, and a deleted MPK stays in ClickHouse.
//   - Only one page is one snapshot, so the source checks that each page is in descending
//     updated_at order (a server that ignores sort_by / sort_order fails with
//     poll.ErrPermanent instead of stopping early and losing MPKs) and, when the response has
//     no count, that a page does not repeat the previous one (a server that ignores page).
//   - page is 1-based; a page holding fewer than per_page items, or reaching count, is the
//     last. The response's per_page wins over the one asked for, so a server that caps the page
//     size loses nothing. The seed's list example answers per_page 30 in id-descending order:
//     the simulator's defaults; the source always sends its sort. INPOST_PAGE_SIZE (default
//     100) is per_page; ShipX's maximum is not documented, lower it if the API refuses it.
//   - Updates rely on updated_at. The seed's own examples show MPK 1 named "Third" in the list
//     and "Nowa nazwa miejsca powstania kosztów" in its details with the same updated_at; if
//     ShipX can change an MPK without moving updated_at, that change arrives only with the
//     MPK's next update. The source also assumes ShipX's clock does not go backwards.
//   - MPK ids ("Unikalny identyfikator", an integer) are unique across ShipX: GET /v1/mpks/:id
//     addresses an MPK without its organization. So the canonical id is "inpost:<id>" and the
//     organization is a field (organization_id, from the record's scope).
//   - Times are ISO 8601 with a UTC offset and milliseconds, in Polish local time
//     ("2018-05-15T21:58:49.427+02:00"). They are compared as instants (the offset changes with
//     daylight saving time, so the text does not sort) and written to events in RFC 3339 UTC.
//   - name is required, unique within the organization and at most 255 characters (counted as
//     characters, not bytes, as cost_center.v1's maxLength does); description is required when
//     creating, but an MPK without one still maps, with an empty description. updated_at is
//     required (it is the event time and what the checkpoint orders by); created_at may be
//     absent.
//   - Organization ids (INPOST_ORGANIZATIONS) are decimal integers, as in the seed's
//     /v1/organizations/1/mpks; anything else is refused at start, naming the setting.
//   - The seed's two slips (seeds/README.md): its create example sends PUT to the collection
//     where the heading says POST, and the update's error text says "webhook" where it means
//     the MPK. Neither matters to a reader; the simulator refuses both writes with 405.
//   - 401 bodies' error keys are not documented. The client classifies by status alone; the
//     simulator sends unauthorized (no or malformed token), token_invalid (wrong token) and
//     token_expired (Faults.ExpiredToken).
//
// # Polling and checkpoints
//
// Scopes are the configured organizations (INPOST_ORGANIZATIONS). The checkpoint of an
// organization is the JSON text {"updated_at":"<RFC 3339 UTC>","ids":[…]} (a Cursor): every
// MPK version updated before updated_at was emitted, and of those updated exactly at
// updated_at, the ones in ids. Fetch reads the changes (every version the cursor does not
// cover), then emits them by ascending (updated_at, id), each record carrying the checkpoint
// that covers it and everything before it. So several MPKs sharing one updated_at across a page
// boundary, or a poll cancelled in the middle of such a group, neither lose nor repeat an MPK;
// an MPK updated later is emitted again with its new bytes, hence a new raw ce-id. Without a
// checkpoint the first poll reads the whole list. An item without a usable id or updated_at is
// emitted under a hash-based stand-in id without a checkpoint, so it reaches the RAW archive
// and the normalizer's DLQ without moving the position. Provider.BackfillCheckpoint(t) is the
// cursor {"updated_at": t, "ids": []}: it re-reads every MPK whose current version was updated
// at t or later (ShipX serves no older versions).
//
// # Mapping
//
// Map turns an MPK into one cost_center.v1 event: id "inpost:<mpk id>", source_id the MPK id,
// organization_id the raw record's scope, name and description as sent, created_at and
// updated_at in RFC 3339 UTC. The ce-id is events.EventID("inpost", "cost_center", mpk id, raw
// id), so every version is its own event; the ce-time is updated_at. A record that is not one
// JSON object, or lacks a positive integer id, a name, or a valid updated_at, or has a name over
// 255 characters, a malformed created_at or one after updated_at, fails with an error wrapping
// events.ErrUnmappable.
//
// # Simulator
//
// NewSimulator serves both GETs from deterministic organizations (SimOrganizations) and MPKs
// that exist and change according to its clock; SimEnv points a source at it. It also serves
// the other readings of the list (sim.Readings.InPost*: a count of the page's items, a page
// past the last repeating the last, integers as strings, UTC times with microseconds), which
// pkg/devstack's TestFullChainInPostOtherReadings runs the whole pipeline against. See
// Provider.NewSimulator.
package inpost
