package sink

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// appendError is a row clickhouse-go refused while encoding it (a value its column cannot
// hold): the data's fault, like a *clickhouse.Exception, but we know which row.
type appendError struct {
	index int
	err   error
}

func (e *appendError) Error() string { return fmt.Sprintf("row %d: %v", e.index, e.err) }
func (e *appendError) Unwrap() error { return e.err }

// insert writes rows into their table in one batch insert naming its columns (ClickHouse 18.16
// needs the names; Nested columns go by sub-column, lines.amount). Every row of a batch comes
// from the same decoder, so they share the column list.
func insert(ctx context.Context, conn driver.Conn, table string, rows []row) error {
	if len(rows) == 0 {
		return nil
	}
	stmt := "INSERT INTO " + Database + "." + table + " (" + strings.Join(rows[0].cols, ", ") + ")"
	b, err := conn.PrepareBatch(ctx, stmt)
	if err != nil {
		return err
	}
	for i, r := range rows {
		if len(r.cols) != len(rows[0].cols) {
			_ = b.Abort()
			return &appendError{index: i, err: errors.New("column list differs from the batch's")}
		}
		if err := b.Append(r.vals...); err != nil {
			_ = b.Abort()
			return &appendError{index: i, err: err}
		}
	}
	return b.Send()
}

// transientCodes are ClickHouse exception codes that say nothing about the data: the server is
// overloaded, read-only, refusing our credentials, or the schema is not (yet) there. They are
// outages: retried without acknowledging, never dead-lettered.
var transientCodes = []int32{
	3,   // UNEXPECTED_END_OF_FILE
	16,  // NO_SUCH_COLUMN_IN_TABLE (sink newer than the schema: migrate)
	32,  // ATTEMPT_TO_READ_AFTER_EOF
	60,  // UNKNOWN_TABLE
	81,  // UNKNOWN_DATABASE
	159, // TIMEOUT_EXCEEDED
	164, // READONLY
	192, // UNKNOWN_USER
	193, // WRONG_PASSWORD
	202, // TOO_MANY_SIMULTANEOUS_QUERIES
	203, // NO_FREE_CONNECTION
	209, // SOCKET_TIMEOUT
	210, // NETWORK_ERROR
	225, // NO_ZOOKEEPER (a replicated table without Keeper)
	236, // ABORTED
	241, // MEMORY_LIMIT_EXCEEDED
	242, // TABLE_IS_READ_ONLY
	252, // TOO_MANY_PARTS
	279, // ALL_CONNECTION_TRIES_FAILED (a shard unreachable behind a Distributed table)
	285, // TOO_FEW_LIVE_REPLICAS
	319, // UNKNOWN_STATUS_OF_INSERT
	394, // QUERY_WAS_CANCELLED
	425, // SYSTEM_ERROR
	473, // DEADLOCK_AVOIDED
	497, // ACCESS_DENIED
	516, // AUTHENTICATION_FAILED
	999, // KEEPER_EXCEPTION
}

// Error kinds, the kind label of chargeline_sink_insert_errors_total.
const (
	kindOutage  = "outage"  // retried without acknowledging
	kindRefused = "refused" // the data: isolated and dead-lettered
	kindDecode  = "decode"  // the message cannot become a row: dead-lettered
)

// classify says whether an insert error is the data's fault (refused) or an outage.
func classify(err error) string {
	var ae *appendError
	if errors.As(err, &ae) {
		return kindRefused
	}
	var ex *clickhouse.Exception
	if errors.As(err, &ex) && !slices.Contains(transientCodes, ex.Code) {
		return kindRefused
	}
	return kindOutage
}
