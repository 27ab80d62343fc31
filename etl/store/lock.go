package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Lock is a session-level PostgreSQL advisory lock held on its own connection.
type Lock struct {
	name string
	conn *pgxpool.Conn
}

// TryLock takes the advisory lock called name ("fetch:minute", "filter", …) without waiting.
// It returns nil, nil when another session holds it.
func TryLock(ctx context.Context, pool *pgxpool.Pool, name string) (*Lock, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtextextended($1, 0))`, "osmtrack:"+name).Scan(&ok); err != nil {
		conn.Release()
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	if !ok {
		conn.Release()
		return nil, nil
	}
	return &Lock{name: name, conn: conn}, nil
}

// Release gives the lock back. It is safe on a nil Lock.
func (l *Lock) Release(ctx context.Context) error {
	if l == nil || l.conn == nil {
		return nil
	}
	conn := l.conn
	l.conn = nil
	_, err := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(hashtextextended($1, 0))`, "osmtrack:"+l.name)
	if err != nil {
		// Closing the connection releases the lock in any case.
		conn.Hijack().Close(context.WithoutCancel(ctx))
		return fmt.Errorf("unlock %s: %w", l.name, err)
	}
	conn.Release()
	return nil
}
