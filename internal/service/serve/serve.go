package serve

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kiln-build/kiln/internal/gitserve"
	"github.com/kiln-build/kiln/internal/gitserve/webhook"
	"github.com/kiln-build/kiln/internal/service"
	"github.com/kiln-build/kiln/internal/service/httpapi"
	"github.com/kiln-build/kiln/internal/service/store"
)

// Config is one kiln serve process.
type Config struct {
	// Listen is the HTTP address; NoHTTP runs a pure worker.
	Listen string
	NoHTTP bool
	// DataDir holds the SQLite database (kiln.db), the git repositories
	// (repos/) and, by default, the admin token file.
	DataDir string
	// Database is a postgres:// URL; "" means SQLite in DataDir.
	Database string
	// AdminTokenFile holds the admin token; "" means DataDir/admin-token.
	AdminTokenFile string
	// MaxPushSize caps one git push.
	MaxPushSize int64
	// Service are the service's options (AdminToken is read from
	// AdminTokenFile).
	Service service.Options
	// Out gets the admin token at first start and what the process
	// says; Log gets its log lines.
	Out io.Writer
	Log *slog.Logger
}

// Run runs the process until ctx ends.
func Run(ctx context.Context, c Config) error {
	if c.Log == nil {
		c.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	if c.Out == nil {
		c.Out = os.Stdout
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return fmt.Errorf("creating the data dir: %w", err)
	}
	if c.AdminTokenFile == "" {
		c.AdminTokenFile = filepath.Join(c.DataDir, "admin-token")
	}
	dbURL := c.Database
	if dbURL == "" {
		dbURL = filepath.Join(c.DataDir, "kiln.db")
	}
	db, err := store.Open(ctx, dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		return fmt.Errorf("migrating the database: %w", err)
	}
	tok, err := SharedAdminToken(ctx, db, c.AdminTokenFile, c.Out)
	if err != nil {
		return err
	}
	if c.Service.ReposDir == "" {
		c.Service.ReposDir = filepath.Join(c.DataDir, "repos")
	}
	c.Service.AdminToken, c.Service.Logger = tok, c.Log
	svc, err := service.New(db, c.Service)
	if err != nil {
		return err
	}
	if err := svc.StartWorkers(ctx); err != nil {
		return err
	}
	fmt.Fprintf(c.Out, "kiln serve: %s database, %d worker(s)\n", db.Dialect(), svc.Options().Workers)
	var httpErr error
	if !c.NoHTTP {
		httpErr = serveHTTP(ctx, c, svc)
	} else {
		<-ctx.Done()
	}
	fmt.Fprintln(c.Out, "kiln serve: stopping; running builds are stopped and re-queued")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if err := svc.Shutdown(sctx); err != nil && httpErr == nil {
		httpErr = fmt.Errorf("stopping the workers: %w", err)
	}
	return httpErr
}

// Handler is kiln serve's HTTP handler: the API and web page, with git
// pushes at /git/ and webhooks at /hooks/.
func Handler(c Config, svc *service.Service) (http.Handler, error) {
	mux := http.NewServeMux()
	mux.Handle("/", httpapi.New(svc, c.Log))
	// --- The git push and webhook front ends (package gitserve). ---
	git, err := gitserve.New(gitserve.Options{
		Builds:        svc,
		ReposDir:      svc.Options().ReposDir,
		MaxPushSize:   c.MaxPushSize,
		MaxSourceSize: svc.Options().MaxSourceSize,
	})
	if err != nil {
		return nil, fmt.Errorf("setting up git push: %w", err)
	}
	mux.Handle("/git/", git)
	mux.Handle("/hooks/", webhook.New(svc))
	// --- end of the gitserve wiring ---
	return mux, nil
}

func serveHTTP(ctx context.Context, c Config, svc *service.Service) error {
	h, err := Handler(c, svc)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(c.Log.Handler(), slog.LevelWarn)}
	fmt.Fprintf(c.Out, "kiln serve: listening on http://%s\n", l.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close() // log streams and pushes still open
	}
	return nil
}

// adminTokenSetting names the admin token's hash in the database.
const adminTokenSetting = "admin_token_sha256"

// SharedAdminToken is the admin token of a process on db: the one in
// file, which must be the one whose hash the database holds. The first
// process to start on a database stores its token's hash there (creating
// file with a new token when it is missing, as AdminToken does); every
// later one, on any machine, refuses to start unless its file holds that
// same token, so all processes sharing a database agree on it. A missing
// file on a database that has a token is an error too (no new token is
// made or printed).
func SharedAdminToken(ctx context.Context, db *store.DB, file string, out io.Writer) (string, error) {
	stored, err := db.Setting(ctx, adminTokenSetting)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(file); errors.Is(err, fs.ErrNotExist) && stored != "" {
		return "", fmt.Errorf("the admin token file %s does not exist, and this database already has an admin token "+
			"(set by the first kiln serve that ran on it): copy that process's admin token file here, "+
			"or pass its path with --admin-token-file", file)
	}
	tok, err := AdminToken(file, out)
	if err != nil {
		return "", err
	}
	hash := service.HashToken(tok)
	if stored, err = db.InitSetting(ctx, adminTokenSetting, hash); err != nil {
		return "", err
	}
	if subtle.ConstantTimeCompare([]byte(stored), []byte(hash)) != 1 {
		return "", fmt.Errorf("the admin token in %s is not this database's admin token "+
			"(the first kiln serve that ran on the database set it): use the same admin token file on every "+
			"machine that shares the database", file)
	}
	return tok, nil
}

// AdminToken reads the admin token from file; a missing file is created
// (mode 0600) with a new random token, which is printed to out once.
func AdminToken(file string, out io.Writer) (string, error) {
	data, err := os.ReadFile(file)
	if err == nil {
		tok := strings.TrimSpace(string(data))
		if tok == "" {
			return "", fmt.Errorf("the admin token file %s is empty", file)
		}
		return tok, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("reading the admin token: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return "", err
	}
	tok := service.NewToken("ka_")
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("creating the admin token file: %w", err)
	}
	if _, err := f.WriteString(tok + "\n"); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	fmt.Fprintf(out, "kiln serve: the admin token (shown this once; it is kept in %s):\n%s\n", file, tok)
	return tok, nil
}
