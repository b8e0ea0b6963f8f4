package sdk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
)

// DetectFunc decides whether the buildpack applies to the app. It returns
// the build plan to write, an error made by Fail when the buildpack does
// not apply, or another error when detection itself went wrong.
type DetectFunc func(ctx context.Context, dc *DetectContext) (BuildPlan, error)

// BuildFunc builds the app: it creates layers with bc.Layer and fills
// bc.Launch and bc.Unmet, which are written when it returns nil.
type BuildFunc func(ctx context.Context, bc *BuildContext) error

// Main runs the phase named by the program's name (bin/detect or
// bin/build, usually one binary and a symlink to it) and exits with the
// phase's exit code. SIGINT and SIGTERM cancel the context.
func Main(detect DetectFunc, build BuildFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	if len(os.Args) > 0 && filepath.Base(os.Args[0]) == "build" {
		WritableHome(os.Getenv, os.Setenv)
	}
	code := Run(ctx, Env{Args: os.Args, Getenv: os.Getenv, Stdout: os.Stdout}, detect, build)
	stop()
	os.Exit(code)
}

// Env is the process environment Run works in.
type Env struct {
	// Args are the program's arguments, Args[0] its name.
	Args []string
	// Getenv reads an environment variable.
	Getenv func(string) string
	// Stdout receives the log.
	Stdout io.Writer
	// Dir is the working directory (the app dir); the process's own when
	// empty.
	Dir string
}

// Run is Main without the exit: it returns the exit code.
func Run(ctx context.Context, e Env, detect DetectFunc, build BuildFunc) int {
	log := NewLogger(e.Stdout)
	if len(e.Args) == 0 {
		log.printf("ERROR: no program name\n")
		return ExitError
	}
	phase := filepath.Base(e.Args[0])
	var err error
	switch phase {
	case "detect":
		err = runDetect(ctx, e, log, detect)
	case "build":
		err = runBuild(ctx, e, log, build)
	default:
		err = Fix(fmt.Errorf("unknown phase %q", phase), "run this program as bin/detect or bin/build (a symlink named detect or build)")
	}
	var df *DetectFailure
	switch {
	case err == nil:
		return ExitPass
	case phase == "detect" && errors.As(err, &df):
		log.printf("%s\n", df.Reason)
		return ExitDetectFail
	}
	log.printf("ERROR: %v\n", err)
	if h := Hint(err); h != "" {
		log.printf("  To fix this: %s\n", h)
	}
	return ExitError
}

func (e Env) appDir() (string, error) {
	if e.Dir != "" {
		return e.Dir, nil
	}
	d, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("finding the app directory: %w", err)
	}
	return d, nil
}

// lookup returns the variable name, or the positional argument at pos of
// older Buildpack APIs, or "".
func (e Env) lookup(name string, pos int) string {
	if v := e.Getenv(name); v != "" {
		return v
	}
	if pos < len(e.Args) {
		return e.Args[pos]
	}
	return ""
}

func (e Env) buildpackDir() string {
	if d := e.Getenv("CNB_BUILDPACK_DIR"); d != "" {
		return d
	}
	// <dir>/bin/<phase>
	exe, err := filepath.Abs(e.Args[0])
	if err != nil {
		return ""
	}
	return filepath.Dir(filepath.Dir(exe))
}

func (e Env) execEnv() string {
	if v := e.Getenv("CNB_EXEC_ENV"); v != "" {
		return v
	}
	return "production"
}

func runDetect(ctx context.Context, e Env, log *Logger, detect DetectFunc) error {
	info, err := ReadInfo(e.buildpackDir())
	if err != nil {
		return err
	}
	app, err := e.appDir()
	if err != nil {
		return err
	}
	dc := &DetectContext{
		AppDir:      app,
		PlatformDir: e.lookup("CNB_PLATFORM_DIR", 1),
		PlanPath:    e.lookup("CNB_BUILD_PLAN_PATH", 2),
		ExecEnv:     e.execEnv(),
		Buildpack:   info,
		Target:      TargetFromEnv(e.Getenv),
		Getenv:      e.Getenv,
		Log:         log,
	}
	if dc.PlanPath == "" {
		return Fix(errors.New("CNB_BUILD_PLAN_PATH is not set"), "run bin/detect from a CNB lifecycle, which sets it")
	}
	plan, err := detect(ctx, dc)
	if err != nil {
		return err
	}
	return WritePlan(dc.PlanPath, plan)
}

func runBuild(ctx context.Context, e Env, log *Logger, build BuildFunc) error {
	info, err := ReadInfo(e.buildpackDir())
	if err != nil {
		return err
	}
	log.Header("%s", info)
	app, err := e.appDir()
	if err != nil {
		return err
	}
	bc := &BuildContext{
		AppDir:      app,
		LayersDir:   e.lookup("CNB_LAYERS_DIR", 1),
		PlatformDir: e.lookup("CNB_PLATFORM_DIR", 2),
		ExecEnv:     e.execEnv(),
		Buildpack:   info,
		Target:      TargetFromEnv(e.Getenv),
		Getenv:      e.Getenv,
		Log:         log,
	}
	if bc.LayersDir == "" {
		return Fix(errors.New("CNB_LAYERS_DIR is not set"), "run bin/build from a CNB lifecycle, which sets it")
	}
	if bc.Plan, err = ReadPlan(e.lookup("CNB_BP_PLAN_PATH", 3)); err != nil {
		return err
	}
	if err := build(ctx, bc); err != nil {
		return err
	}
	return bc.finish()
}
