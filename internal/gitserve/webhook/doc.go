// Package webhook serves push webhooks from git hosts for kiln serve:
// GitHub push events (X-Hub-Signature-256, an HMAC-SHA256 of the raw body
// keyed with the app's webhook secret) at /hooks/github/APP and GitLab
// push events (X-Gitlab-Token equal to the secret) at /hooks/gitlab/APP,
// both compared in constant time. A push to a branch queues a build of the
// pushed commit from the repository's http(s) clone URL (the worker clones
// it, shallow); tag pushes, branch deletions and other events are answered
// 200 with a note and queue nothing. A clone URL the service refuses (a
// host that is or resolves to a private address, unless kiln serve allows
// them) is 400; credentials in it are never recorded (package service).
package webhook
