// Package gitserve is how code reaches kiln serve by git push: git
// smart-HTTP to /git/APP.git, and the pre-receive hook that builds a push.
//
// # git push
//
// New serves real git: git http-backend run as a CGI program, with the
// app repositories as bare repositories under Options.ReposDir. Every
// request is authenticated first with HTTP Basic: the user name is
// ignored and the password is a token, checked by Builds.Authorize. A
// missing or bad token is 401 with a Basic challenge (so git asks for or
// sends credentials), a deploy token for an unknown app 404. A push with
// the admin token to an app that does not exist yet creates it
// (Builds.EnsureApp) and its repository. Fetch and clone are allowed to
// the same tokens; git's dumb HTTP protocol is not served.
//
// A push builds in the repository's pre-receive hook, so a failed build
// rejects the push and leaves the branch where it was. The hook is a
// two-line script that execs `kiln serve-hook` (RunHook). It runs as a
// child of git http-backend with the pushed objects still in git's
// quarantine, makes a tar of the pushed commit with git archive and posts
// it to this handler's internal endpoint, /git/_hook, with a ticket the
// handler made for that one push: a random value, good for one build,
// only while the push's request lasts, and bound to the app the push
// authenticated for. The endpoint takes the app from the ticket,
// never from the hook, so no push can build another app, and user
// credentials alone do not reach it. The handler starts the build
// (Builds.Start), streams its log back (Builds.Follow) and ends with the
// build's record in an HTTP trailer; the hook copies the log to git line
// by line as it comes (git shows it as "remote:" lines), then prints
// "image REF@DIGEST" and exits 0, or the failing phase, exit code and
// reason and exits 1, which rejects the push.
//
// What a push builds: only the branch main (or master, when main is not
// in the push) builds — one build per push, as Heroku and Dokku do.
// Other branches and tags are stored without a build, with a note.
// Deleting a ref is refused (the whole push is rejected).
//
// Sizes: the request body of a push is counted as it streams (chunked or
// not, gzip-encoded bodies after decoding) and cut off above
// Options.MaxPushSize plus a small allowance for the ref commands; git
// itself refuses a pack above MaxPushSize (receive.maxInputSize) with
// "pack exceeds maximum allowed size". Either way receive-pack fails
// before any ref moves and git's quarantine directory, with every object
// of the push, is removed. The tar the hook makes is capped at
// Options.MaxSourceSize, so a small pack that expands hugely (a "git
// bomb") is refused too.
//
// # Webhooks
//
// Push webhooks from git hosts are package webhook's
// (internal/gitserve/webhook); package gitref holds the checks of ref
// and object names both use.
package gitserve
