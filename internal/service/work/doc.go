// Package work runs kiln serve's builds: the River worker that takes a
// queued build (one per app at a time, through a lease in the database),
// fetches its source, runs it with a heartbeat, writes its log to the
// database as it comes and records how it ended; and the reaper, which
// takes running builds from workers that were lost and re-queues or fails
// them. Package service owns the queue and the API over both.
package work
