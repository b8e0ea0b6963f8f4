package store

import (
	"context"
	"fmt"
)

// MaxChunk is the most bytes one log chunk holds; AppendLog splits
// longer data.
const MaxChunk = 64 << 10

// AppendLog adds data to the end of build id's log and returns the log's
// new size. Run it in a transaction: the size and the chunks change
// together.
func (q Q) AppendLog(ctx context.Context, id int64, data []byte) (int64, error) {
	var size int64
	for len(data) > 0 {
		part := data[:min(len(data), MaxChunk)]
		data = data[len(part):]
		// The update locks the build's row (PostgreSQL) or the database
		// (SQLite): appends to one log take turns.
		if err := q.queryRow(ctx, `UPDATE kiln_builds SET log_size = log_size + ? WHERE id = ? RETURNING log_size`,
			len(part), id).Scan(&size); err != nil {
			return 0, fmt.Errorf("appending to the log of build %d: %w", id, err)
		}
		if _, err := q.exec(ctx, `INSERT INTO kiln_log_chunks (build_id, off, data) VALUES (?, ?, ?)`,
			id, size-int64(len(part)), part); err != nil {
			return 0, fmt.Errorf("appending to the log of build %d: %w", id, err)
		}
	}
	return size, nil
}

// ReadLog reads build id's log from byte offset from on, at most about
// max bytes (whole chunks, at least one).
func (q Q) ReadLog(ctx context.Context, id, from int64, max int) ([]byte, error) {
	rs, err := q.query(ctx, `SELECT off, data FROM kiln_log_chunks WHERE build_id = ? AND off > ? ORDER BY off`,
		id, from-MaxChunk)
	if err != nil {
		return nil, fmt.Errorf("reading the log of build %d: %w", id, err)
	}
	defer rs.Close()
	var out []byte
	next := from
	for rs.Next() && len(out) < max {
		var off int64
		var data []byte
		if err := rs.Scan(&off, &data); err != nil {
			return nil, err
		}
		end := off + int64(len(data))
		if end <= next {
			continue
		}
		if off > next {
			return nil, fmt.Errorf("the log of build %d has a gap at byte %d", id, next)
		}
		out = append(out, data[next-off:]...)
		next = end
	}
	return out, rs.Err()
}
