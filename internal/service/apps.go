package service

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/kiln-build/kiln/internal/service/store"
	"github.com/kiln-build/kiln/internal/service/work"
)

// App is an app as the API shows it.
type App struct {
	Name string `json:"name"`
	// Image is the repository builds publish to, as Image:latest.
	Image string `json:"image"`
	// Builder is the builder image; "" is kiln's default builder.
	Builder string `json:"builder"`
	// Env are build-time environment variables.
	Env map[string]string `json:"env"`
	// CacheImage keeps the app's layer cache in the registry (default
	// Image:cache), so a build on any worker restores it.
	CacheImage string `json:"cache_image"`
	// SigningKey names the key the app's images are signed with: KEY
	// is kiln serve's --sign-keys-dir/KEY.key (default: APP.key there,
	// else --sign-key).
	SigningKey       string `json:"signing_key,omitempty"`
	HasWebhookSecret bool   `json:"has_webhook_secret"`
	// RebuildOnBuilderChange: the app's last successful source is built
	// again when its builder image changes.
	RebuildOnBuilderChange bool      `json:"rebuild_on_builder_change"`
	Created                time.Time `json:"created"`
}

// AppSettings are the settings of an app to create or change; a nil
// field is left as it is (or its default, on creation).
type AppSettings struct {
	Image         *string           `json:"image"`
	Builder       *string           `json:"builder"`
	Env           map[string]string `json:"env"`
	CacheImage    *string           `json:"cache_image"`
	SigningKey    *string           `json:"signing_key"`
	WebhookSecret *string           `json:"webhook_secret"`
	// RebuildOnBuilderChange, when true, keeps the source of the app's
	// last successful build and builds it again when the app's builder
	// image changes (a new digest under its name).
	RebuildOnBuilderChange *bool `json:"rebuild_on_builder_change"`
}

var (
	appName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)
	envKey  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	// signKeyName is a key name in --sign-keys-dir (a file name).
	signKeyName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
)

// ValidAppName reports whether s is a valid app name: lower-case letters,
// digits and '-', 1-63 characters, starting with a letter.
func ValidAppName(s string) bool { return appName.MatchString(s) }

// ValidSigningKeyName reports whether s is a valid signing key name: a
// file name in kiln serve's --sign-keys-dir (letters, digits, '.', '_',
// '-', 1-128 characters, not starting with '.', '_' or '-').
func ValidSigningKeyName(s string) bool { return signKeyName.MatchString(s) }

func invalid(format string, a ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, a...), ErrInvalid)
}

func checkName(app string) error {
	if !ValidAppName(app) {
		return invalid("app name %q: want lower-case letters, digits and '-', 1-63 characters, starting with a letter", app)
	}
	return nil
}

// apply checks set and writes it over a.
func (set AppSettings) apply(a *store.App) error {
	if set.Image != nil {
		if _, err := name.NewRepository(*set.Image); err != nil || strings.ContainsAny(*set.Image, "@") {
			return invalid("image %q: want a repository such as registry.example.com/team/app, without tag", *set.Image)
		}
		a.Image = *set.Image
	}
	if set.CacheImage != nil {
		if *set.CacheImage != "" {
			if _, err := name.ParseReference(*set.CacheImage); err != nil {
				return invalid("cache image %q: %v", *set.CacheImage, err)
			}
		}
		a.CacheImage = *set.CacheImage
	}
	if set.Builder != nil {
		if strings.HasPrefix(*set.Builder, "-") || strings.ContainsAny(*set.Builder, " \n") {
			return invalid("builder %q is not an image reference", *set.Builder)
		}
		a.Builder = *set.Builder
	}
	if set.Env != nil {
		for k, v := range set.Env {
			if !envKey.MatchString(k) || strings.HasPrefix(k, "CNB_") {
				return invalid("env: %q is not a variable name an app may set", k)
			}
			if strings.ContainsAny(v, "\n\r\x00") {
				return invalid("env %s: a value may not hold line breaks or NUL", k)
			}
		}
		a.Env = set.Env
	}
	if set.SigningKey != nil {
		if *set.SigningKey != "" && !ValidSigningKeyName(*set.SigningKey) {
			return invalid("signing_key %q: want the name of a key in kiln serve's --sign-keys-dir (letters, digits, '.', '_', '-')", *set.SigningKey)
		}
		a.SigningKey = *set.SigningKey
	}
	if set.WebhookSecret != nil {
		a.WebhookSecret = *set.WebhookSecret
	}
	if set.RebuildOnBuilderChange != nil {
		a.RebuildOnBuilderChange = *set.RebuildOnBuilderChange
	}
	return nil
}

func (s *Service) toApp(a store.App) App {
	env := a.Env
	if env == nil {
		env = map[string]string{}
	}
	return App{Name: a.Name, Image: a.Image, Builder: a.Builder, Env: env, CacheImage: work.CacheImage(a),
		SigningKey: a.SigningKey, HasWebhookSecret: a.WebhookSecret != "", RebuildOnBuilderChange: a.RebuildOnBuilderChange,
		Created: time.UnixMilli(a.Created).UTC()}
}

// CreateApp creates app with set (its image defaults to
// REGISTRY_PREFIX/APP); an existing app is ErrInvalid.
func (s *Service) CreateApp(ctx context.Context, app string, set AppSettings) (App, error) {
	if err := checkName(app); err != nil {
		return App{}, err
	}
	a := store.App{Name: app, Created: s.now()}
	if s.o.RegistryPrefix != "" {
		a.Image = strings.TrimSuffix(s.o.RegistryPrefix, "/") + "/" + app
	}
	if err := set.apply(&a); err != nil {
		return App{}, err
	}
	if a.Image == "" {
		return App{}, invalid("app %s: no image given and kiln serve has no --registry-prefix", app)
	}
	ok, err := s.db.CreateApp(ctx, a)
	if err != nil {
		return App{}, err
	}
	if !ok {
		return App{}, invalid("app %s exists", app)
	}
	return s.toApp(a), nil
}

// EnsureApp creates app with its defaults unless it exists.
func (s *Service) EnsureApp(ctx context.Context, app string) error {
	_, err := s.CreateApp(ctx, app, AppSettings{})
	if err != nil && errors.Is(err, ErrInvalid) && checkName(app) == nil {
		if _, gerr := s.db.GetApp(ctx, app); gerr == nil {
			return nil
		}
	}
	return err
}

// GetApp reads app.
func (s *Service) GetApp(ctx context.Context, app string) (App, error) {
	a, err := s.db.GetApp(ctx, app)
	if err != nil {
		return App{}, notFound(err, "app "+app)
	}
	return s.toApp(a), nil
}

// ListApps reads every app.
func (s *Service) ListApps(ctx context.Context) ([]App, error) {
	as, err := s.db.ListApps(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]App, 0, len(as))
	for _, a := range as {
		out = append(out, s.toApp(a))
	}
	return out, nil
}

// UpdateApp changes app's settings.
func (s *Service) UpdateApp(ctx context.Context, app string, set AppSettings) (App, error) {
	var out App
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		a, err := tx.GetApp(ctx, app)
		if err != nil {
			return notFound(err, "app "+app)
		}
		if err := set.apply(&a); err != nil {
			return err
		}
		if ok, err := tx.UpdateApp(ctx, a); err != nil || !ok {
			return notFound(errOr(err, store.ErrNoRows), "app "+app)
		}
		if !a.RebuildOnBuilderChange {
			// the source was kept for that rebuild only
			if err := tx.DropAppSource(ctx, app); err != nil {
				return err
			}
		}
		out = s.toApp(a)
		return nil
	})
	return out, err
}

func errOr(err, alt error) error {
	if err != nil {
		return err
	}
	return alt
}

// DeleteApp deletes app with its tokens, builds and logs: its queued
// builds' jobs are cancelled, and a running build is stopped by its
// worker, which finds it gone. Its git repository in ReposDir goes too,
// so an app made again under the name starts with none of its history.
func (s *Service) DeleteApp(ctx context.Context, app string) error {
	if err := checkName(app); err != nil {
		return fmt.Errorf("app %s: %w", app, ErrNotFound)
	}
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		queued, err := tx.QueuedBuilds(ctx, app)
		if err != nil {
			return err
		}
		for _, b := range queued {
			if err := s.queue.Cancel(ctx, tx, b.JobID); err != nil {
				return err
			}
		}
		ok, err := tx.DeleteApp(ctx, app)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("app %s: %w", app, ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return s.removeRepo(app)
}

// removeRepo removes app's git repository from ReposDir: renamed out of
// the way first, so a push never finds half of one.
func (s *Service) removeRepo(app string) error {
	if s.o.ReposDir == "" {
		return nil
	}
	repo := filepath.Join(s.o.ReposDir, app+".git")
	gone := filepath.Join(s.o.ReposDir, ".deleted-"+app+"-"+NewToken("")[:16])
	if err := os.Rename(repo, gone); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("removing the git repository of app %s: %w", app, err)
	}
	if err := os.RemoveAll(gone); err != nil {
		return fmt.Errorf("removing the git repository of app %s: %w", app, err)
	}
	return nil
}

// WebhookSecret is app's webhook secret; ErrNotFound when app is unknown
// or has none.
func (s *Service) WebhookSecret(ctx context.Context, app string) (string, error) {
	a, err := s.db.GetApp(ctx, app)
	if err != nil {
		return "", notFound(err, "app "+app)
	}
	if a.WebhookSecret == "" {
		return "", fmt.Errorf("app %s has no webhook secret: %w", app, ErrNotFound)
	}
	return a.WebhookSecret, nil
}
