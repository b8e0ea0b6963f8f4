package service

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestAuthorize(t *testing.T) {
	s := newTestService(t, 0, nil)
	mustApp(t, s, "web")
	mustApp(t, s, "other")
	ctx := context.Background()
	tok, err := s.NewDeployToken(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, "kd_") || len(tok) != 3+64 {
		t.Errorf("token %q", tok)
	}
	for _, tc := range []struct {
		name, app, token string
		admin            bool
		err              error
	}{
		{"admin", "web", testAdmin, true, nil},
		{"admin, unknown app", "new-app", testAdmin, true, nil},
		{"deploy token", "web", tok, false, nil},
		{"deploy token of another app", "other", tok, false, ErrUnauthorized},
		{"bad token", "web", "kd_nope", false, ErrUnauthorized},
		{"admin prefix", "web", testAdmin[:5], false, ErrUnauthorized},
		{"no token", "web", "", false, ErrUnauthorized},
		{"deploy token, unknown app", "nope", tok, false, ErrNotFound},
	} {
		admin, err := s.Authorize(ctx, tc.app, tc.token)
		if admin != tc.admin || !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
			t.Errorf("%s: admin %v err %v, want %v %v", tc.name, admin, err, tc.admin, tc.err)
		}
	}
	// Only the hash is stored.
	var stored string
	s.db.SQL.QueryRow(`SELECT hash FROM kiln_deploy_tokens`).Scan(&stored)
	if stored != HashToken(tok) || strings.Contains(stored, tok[3:]) {
		t.Errorf("stored %q for token %q", stored, tok)
	}
	admin, apps, err := s.Apps(ctx, tok)
	if admin || err != nil || len(apps) != 1 || apps[0] != "web" {
		t.Errorf("Apps(deploy token) = %v %v %v", admin, apps, err)
	}
	if _, _, err := s.Apps(ctx, "x"); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("Apps(bad token) = %v", err)
	}
	if _, err := s.NewDeployToken(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a token for an unknown app: %v", err)
	}
}

func TestMatchHash(t *testing.T) {
	h := HashToken("a")
	if !matchHash(h, []string{HashToken("b"), h}) || matchHash(h, []string{HashToken("b")}) || matchHash(h, nil) {
		t.Error("matchHash")
	}
}

func TestApps(t *testing.T) {
	s := newTestService(t, 0, nil)
	ctx := context.Background()
	for _, bad := range []string{"", "Web", "1app", "a_b", "-x", strings.Repeat("a", 64), "a/b"} {
		if _, err := s.CreateApp(ctx, bad, AppSettings{}); !errors.Is(err, ErrInvalid) {
			t.Errorf("CreateApp(%q): %v", bad, err)
		}
		if err := s.EnsureApp(ctx, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("EnsureApp(%q): %v", bad, err)
		}
	}
	if err := s.EnsureApp(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureApp(ctx, "web"); err != nil {
		t.Errorf("EnsureApp of an existing app: %v", err)
	}
	if _, err := s.CreateApp(ctx, "web", AppSettings{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("creating an existing app: %v", err)
	}
	app, err := s.GetApp(ctx, "web")
	if err != nil || app.Image != "registry.test/apps/web" || app.CacheImage != "registry.test/apps/web:cache" || app.Builder != "" {
		t.Errorf("app: %+v %v", app, err)
	}
	str := func(s string) *string { return &s }
	for _, bad := range []AppSettings{
		{Image: str("Not A Ref")}, {Image: str("r.test/x@sha256:00")}, {Env: map[string]string{"A B": "x"}},
		{Env: map[string]string{"CNB_USER_ID": "0"}}, {Env: map[string]string{"X": "a\nb"}}, {Builder: str("--evil")},
		{CacheImage: str("::")}, {SigningKey: str("k8s://ns/key")}, {SigningKey: str("../../etc/shadow")}, {SigningKey: str(".hidden")},
	} {
		if _, err := s.UpdateApp(ctx, "web", bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("UpdateApp(%+v): %v", bad, err)
		}
	}
	app, err = s.UpdateApp(ctx, "web", AppSettings{Image: str("r.test/team/web"), Builder: str("r.test/builder:1"),
		Env: map[string]string{"A": "1"}, WebhookSecret: str("s3cret"), SigningKey: str("team-a"), RebuildOnBuilderChange: func(b bool) *bool { return &b }(true)})
	if err != nil || app.Image != "r.test/team/web" || app.CacheImage != "r.test/team/web:cache" || app.Env["A"] != "1" || !app.HasWebhookSecret ||
		app.SigningKey != "team-a" || !app.RebuildOnBuilderChange {
		t.Errorf("updated app: %+v %v", app, err)
	}
	if sec, err := s.WebhookSecret(ctx, "web"); sec != "s3cret" || err != nil {
		t.Errorf("WebhookSecret = %q %v", sec, err)
	}
	mustApp(t, s, "bare")
	if _, err := s.WebhookSecret(ctx, "bare"); !errors.Is(err, ErrNotFound) {
		t.Errorf("WebhookSecret without one: %v", err)
	}
	if _, err := s.UpdateApp(ctx, "nope", AppSettings{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("updating an unknown app: %v", err)
	}
	mustStart(t, s, "web")
	if err := s.DeleteApp(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteApp(ctx, "web"); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleting it twice: %v", err)
	}
	var n int
	s.db.SQL.QueryRow(`SELECT COUNT(*) FROM kiln_builds`).Scan(&n)
	var jobs int
	s.db.SQL.QueryRow(`SELECT COUNT(*) FROM river_job WHERE state = 'available'`).Scan(&jobs)
	if n != 0 || jobs != 0 {
		t.Errorf("a deleted app left %d builds and %d available jobs", n, jobs)
	}
	apps, _ := s.ListApps(ctx)
	if len(apps) != 1 || apps[0].Name != "bare" {
		t.Errorf("apps: %+v", apps)
	}
}
