package elements

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ErrNotEmpty is StartLoad on a store that holds versions: use WriteBulk.
var ErrNotEmpty = errors.New("the element store is not empty")

// ErrNotOwner is StartLoad by a role that does not own `elements` (it may not drop its
// indexes): use WriteBulk.
var ErrNotOwner = errors.New("the database role does not own the elements table")

// Load writes versions into an empty store as fast as PostgreSQL takes them: one binary COPY
// straight into `elements`, whose indexes and primary key are dropped when the load starts and
// built once at the end (as osm2pgsql does), all inside the caller's transaction. It is the
// first seed's path (WriteBulk's staging table and conflict checks against three growing
// indexes cost four to five times as much). Until the caller commits, `elements` is locked
// (ACCESS EXCLUSIVE): every reader and writer of the store waits for the load; a rollback
// restores the empty table and its indexes.
//
// Call Write from one goroutine, then Finish, or Abort on any error.
type Load struct {
	tx      pgx.Tx // the savepoint the load runs in
	pw      *io.PipeWriter
	done    chan struct{}
	copyErr error
	rows    int64
	buf     []byte
	rebuild []indexDef
	ended   bool
}

// indexDef is an index or constraint of `elements` dropped for the load.
type indexDef struct {
	name       string
	constraint bool   // a primary key or unique constraint (ALTER TABLE … ADD CONSTRAINT name def)
	def        string // the CREATE INDEX statement, or the constraint's definition
}

// LoadMaintenanceWorkMem is the maintenance_work_mem the index builds at the end of a Load get
// (server memory, for the builds only) unless the server's setting is higher.
const LoadMaintenanceWorkMem = "256MB"

// loadColumns are the columns Load writes, in COPY order (seq stays NULL).
const loadColumns = `type, id, version, changeset, ts, uid, username, visible, action, tags, geom, nodes, members, source`

// StartLoad begins a load into an empty store inside tx (in a savepoint of its own). When the
// store holds any version it returns ErrNotEmpty (ErrNotOwner when the role may not drop the
// table's indexes) and leaves tx as it was (no lock held).
func StartLoad(ctx context.Context, tx pgx.Tx) (*Load, error) {
	var held bool
	// A cheap look first: a store in use is never locked for nothing.
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM elements)`).Scan(&held); err != nil {
		return nil, fmt.Errorf("load elements: %w", err)
	}
	if held {
		return nil, ErrNotEmpty
	}
	sp, err := tx.Begin(ctx) // locks taken in a savepoint go when it is rolled back
	if err != nil {
		return nil, fmt.Errorf("load elements: savepoint: %w", err)
	}
	l := &Load{tx: sp}
	if err := l.start(ctx); err != nil {
		sp.Rollback(context.WithoutCancel(ctx))
		return nil, err
	}
	return l, nil
}

func (l *Load) start(ctx context.Context) error {
	if _, err := l.tx.Exec(ctx, `LOCK TABLE elements IN ACCESS EXCLUSIVE MODE`); err != nil {
		return fmt.Errorf("load elements: lock: %w", err)
	}
	var held bool
	if err := l.tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM elements)`).Scan(&held); err != nil {
		return fmt.Errorf("load elements: %w", err)
	}
	if held { // written between the look and the lock
		return ErrNotEmpty
	}
	// Emptied in this subtransaction (it is empty): COPY may then write the rows frozen, so
	// that the first reads after the commit do not rewrite every page to set hint bits.
	if _, err := l.tx.Exec(ctx, `TRUNCATE elements`); err != nil {
		return notOwner(fmt.Errorf("load elements: truncate: %w", err))
	}
	rows, err := l.tx.Query(ctx, `SELECT i.indexrelid::regclass::text, c.conname IS NOT NULL,
			coalesce(pg_get_constraintdef(c.oid), pg_get_indexdef(i.indexrelid)), coalesce(c.conname, '')
		FROM pg_index i LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.conrelid = i.indrelid
		WHERE i.indrelid = 'elements'::regclass ORDER BY c.conname IS NULL, 1`)
	if err != nil {
		return fmt.Errorf("load elements: read indexes: %w", err)
	}
	for rows.Next() {
		var d indexDef
		var con string
		if err := rows.Scan(&d.name, &d.constraint, &d.def, &con); err != nil {
			rows.Close()
			return fmt.Errorf("load elements: read indexes: %w", err)
		}
		if d.constraint {
			d.name = con
		}
		l.rebuild = append(l.rebuild, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load elements: read indexes: %w", err)
	}
	for _, d := range l.rebuild {
		q := `DROP INDEX ` + pgx.Identifier{d.name}.Sanitize()
		if d.constraint {
			q = `ALTER TABLE elements DROP CONSTRAINT ` + pgx.Identifier{d.name}.Sanitize()
		}
		if _, err := l.tx.Exec(ctx, q); err != nil {
			return notOwner(fmt.Errorf("load elements: drop %s: %w", d.name, err))
		}
	}
	pr, pw := io.Pipe()
	l.pw, l.done = pw, make(chan struct{})
	conn := l.tx.Conn().PgConn()
	go func() {
		defer close(l.done)
		_, err := conn.CopyFrom(ctx, pr, `COPY elements (`+loadColumns+`) FROM STDIN (FORMAT binary, FREEZE)`)
		if err != nil {
			err = fmt.Errorf("load elements: copy: %w", err)
		}
		l.copyErr = err
		pr.CloseWithError(err) // a Write blocked on the pipe returns
	}()
	// The binary COPY header: signature, flags, header extension length.
	l.buf = append(l.buf[:0], "PGCOPY\n\xff\r\n\x00"...)
	l.buf = binary.BigEndian.AppendUint32(l.buf, 0)
	l.buf = binary.BigEndian.AppendUint32(l.buf, 0)
	return nil
}

// notOwner marks a refused privilege as ErrNotOwner.
func notOwner(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "42501" { // insufficient_privilege
		return fmt.Errorf("%w: %w", ErrNotOwner, err)
	}
	return err
}

// Write sends versions from src to the COPY. They must be distinct from each other (Finish
// keeps the first of duplicates, at a cost).
func (l *Load) Write(ctx context.Context, els []Element, src Source) error {
	if !src.Valid() {
		return fmt.Errorf("load elements: unknown source %d", src)
	}
	if l.ended {
		return errors.New("load elements: write after the end")
	}
	for i := range els {
		l.buf = appendCopyRow(l.buf, &els[i], src)
	}
	l.rows += int64(len(els))
	return l.flush()
}

func (l *Load) flush() error {
	if _, err := l.pw.Write(l.buf); err != nil {
		<-l.done
		if l.copyErr != nil {
			return l.copyErr
		}
		return fmt.Errorf("load elements: copy: %w", err)
	}
	l.buf = l.buf[:0]
	return nil
}

// Abort stops the load and rolls its savepoint back: the table is empty again, with its
// indexes. The caller's transaction stays usable.
func (l *Load) Abort(ctx context.Context, cause error) {
	if !l.ended {
		l.ended = true
		if cause == nil {
			cause = errors.New("aborted")
		}
		l.pw.CloseWithError(cause)
		<-l.done
	}
	l.tx.Rollback(context.WithoutCancel(ctx))
}

// Finish ends the COPY, builds the indexes and constraints again and releases the savepoint.
// It returns how many versions the store now holds. Duplicates (an extract that lists a
// version twice) are dropped before the primary key is built, keeping the first.
func (l *Load) Finish(ctx context.Context) (int64, error) {
	n, err := l.finish(ctx)
	if err != nil {
		l.Abort(ctx, err)
		return 0, err
	}
	return n, nil
}

func (l *Load) finish(ctx context.Context) (int64, error) {
	l.buf = binary.BigEndian.AppendUint16(l.buf, 0xffff) // the trailer
	if err := l.flush(); err != nil {
		return 0, err
	}
	l.ended = true
	l.pw.Close()
	<-l.done
	if l.copyErr != nil {
		return 0, l.copyErr
	}
	n := l.rows
	// The index builds sort the whole table: in memory rather than in temporary files when
	// the server's setting is lower (PostgreSQL's advice for bulk loads; this transaction only).
	if _, err := l.tx.Exec(ctx, `SELECT set_config('maintenance_work_mem', $1, true)
		WHERE pg_size_bytes(current_setting('maintenance_work_mem')) < pg_size_bytes($1)`, LoadMaintenanceWorkMem); err != nil {
		return 0, fmt.Errorf("load elements: maintenance_work_mem: %w", err)
	}
	for _, d := range l.rebuild {
		if !d.constraint {
			if _, err := l.tx.Exec(ctx, d.def); err != nil {
				return 0, fmt.Errorf("load elements: build index %s: %w", d.name, err)
			}
			continue
		}
		q := `ALTER TABLE elements ADD CONSTRAINT ` + pgx.Identifier{d.name}.Sanitize() + ` ` + d.def
		sp, err := l.tx.Begin(ctx)
		if err != nil {
			return 0, fmt.Errorf("load elements: savepoint: %w", err)
		}
		_, err = sp.Exec(ctx, q)
		if err == nil {
			err = sp.Commit(ctx)
		}
		if err == nil {
			continue
		}
		sp.Rollback(ctx)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "23505" { // unique_violation
			return 0, fmt.Errorf("load elements: build %s: %w", d.name, err)
		}
		// The extract lists some version twice: keep the first (COPY appends in order).
		tag, err := l.tx.Exec(ctx, `DELETE FROM elements WHERE ctid IN (SELECT ctid FROM (
			SELECT ctid, row_number() OVER (PARTITION BY type, id, version ORDER BY ctid) AS k FROM elements) d WHERE k > 1)`)
		if err != nil {
			return 0, fmt.Errorf("load elements: drop duplicate versions: %w", err)
		}
		n -= tag.RowsAffected()
		if _, err := l.tx.Exec(ctx, q); err != nil {
			return 0, fmt.Errorf("load elements: build %s: %w", d.name, err)
		}
	}
	if _, err := l.tx.Exec(ctx, `ANALYZE elements`); err != nil {
		return 0, fmt.Errorf("load elements: analyze: %w", err)
	}
	if err := l.tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("load elements: release savepoint: %w", err)
	}
	return n, nil
}

// pgEpoch is PostgreSQL's timestamp zero, in Unix microseconds.
const pgEpoch = 946684800 * 1000000

var sourceText [len(sourceNames)][]byte

func init() {
	for i, n := range sourceNames {
		sourceText[i] = []byte(n)
	}
}

// appendCopyRow appends one version as a row of binary COPY in loadColumns' order.
func appendCopyRow(b []byte, e *Element, src Source) []byte {
	be := binary.BigEndian
	b = be.AppendUint16(b, 14)
	b = be.AppendUint32(b, 1) // "char"
	b = append(b, e.Type)
	b = be.AppendUint32(b, 8)
	b = be.AppendUint64(b, uint64(e.ID))
	b = be.AppendUint32(b, 4)
	b = be.AppendUint32(b, uint32(int32(e.Version)))
	b = be.AppendUint32(b, 8)
	b = be.AppendUint64(b, uint64(e.Changeset))
	b = be.AppendUint32(b, 8)
	b = be.AppendUint64(b, uint64(e.Timestamp.UnixMicro()-pgEpoch))
	if e.UID != 0 {
		b = be.AppendUint32(b, 8)
		b = be.AppendUint64(b, uint64(e.UID))
	} else {
		b = be.AppendUint32(b, math.MaxUint32) // NULL
	}
	if e.User != "" {
		b = be.AppendUint32(b, uint32(len(e.User)))
		b = append(b, e.User...)
	} else {
		b = be.AppendUint32(b, math.MaxUint32)
	}
	b = be.AppendUint32(b, 1)
	if e.Visible {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	if e.Action >= Create && e.Action <= Delete {
		a := e.Action.String()
		b = be.AppendUint32(b, uint32(len(a)))
		b = append(b, a...)
	} else {
		b = be.AppendUint32(b, math.MaxUint32)
	}
	at := len(b)
	b = append(b, 0, 0, 0, 0, 1) // jsonb: length, format version 1, the JSON text
	b = AppendTagsJSON(b, e.Tags)
	be.PutUint32(b[at:], uint32(len(b)-at-4))
	if e.HasCoords {
		// EWKB, little endian: a point with an SRID.
		b = be.AppendUint32(b, 25)
		b = append(b, 1)
		b = binary.LittleEndian.AppendUint32(b, 1|0x20000000)
		b = binary.LittleEndian.AppendUint32(b, 4326)
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(e.Lon))
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(e.Lat))
	} else {
		b = be.AppendUint32(b, math.MaxUint32)
	}
	if e.Type == Way {
		// bigint[]: dimensions, has-nulls flag, element type (int8), then size and lower
		// bound of the dimension and the elements (a way without nodes: no dimension, {}).
		if len(e.Nodes) == 0 {
			b = be.AppendUint32(b, 12)
			b = be.AppendUint32(b, 0)
			b = be.AppendUint32(b, 0)
			b = be.AppendUint32(b, 20)
		} else {
			b = be.AppendUint32(b, uint32(20+12*len(e.Nodes)))
			b = be.AppendUint32(b, 1)
			b = be.AppendUint32(b, 0)
			b = be.AppendUint32(b, 20)
			b = be.AppendUint32(b, uint32(len(e.Nodes)))
			b = be.AppendUint32(b, 1)
			for _, n := range e.Nodes {
				b = be.AppendUint32(b, 8)
				b = be.AppendUint64(b, uint64(n))
			}
		}
	} else {
		b = be.AppendUint32(b, math.MaxUint32)
	}
	if e.Type == Relation {
		at := len(b)
		b = append(b, 0, 0, 0, 0, 1)
		b = AppendMembersJSON(b, e.Members)
		be.PutUint32(b[at:], uint32(len(b)-at-4))
	} else {
		b = be.AppendUint32(b, math.MaxUint32)
	}
	s := sourceText[src]
	b = be.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}
