package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	units "github.com/docker/go-units"
	"github.com/urfave/cli/v2"

	"github.com/kiln-build/kiln/lifecycle/create"
	"github.com/kiln-build/kiln/lifecycle/failure"
	"github.com/kiln-build/kiln/lifecycle/imageio"
	"github.com/kiln-build/kiln/lifecycle/sandbox"
)

func buildCommand() *cli.Command {
	cmd := &cli.Command{
		Name:      "build",
		Usage:     "build an app image from source with buildpacks",
		ArgsUsage: "NAME",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "builder", Aliases: []string{"B"}, Usage: "builder image (name in the local store or a registry, oci:DIR, docker-archive:FILE); default: kiln's default builder, made in the local store on first use", EnvVars: []string{"KILN_BUILDER"}},
			&cli.StringFlag{Name: "path", Aliases: []string{"p"}, Value: ".", Usage: "the app's source directory"},
			&cli.StringSliceFlag{Name: "buildpack", Aliases: []string{"b"}, Usage: "buildpack: id[@version] or urn:cnb:builder:id[@version] in the builder, a buildpack directory, a .cnb file, docker://IMAGE (a buildpackage), or from=builder (the builder's order, with the buildpacks given before and after it around each group); replaces the builder's order and the project's group (repeatable)"},
			&cli.StringSliceFlag{Name: "pre-buildpack", Usage: "buildpack (as for --buildpack) to run first in every group (repeatable)"},
			&cli.StringSliceFlag{Name: "post-buildpack", Usage: "buildpack (as for --buildpack) to run last in every group (repeatable)"},
			descriptorFlag,
			noProjectBuilderFlag,
			untrustedSourceFlag,
			&cli.StringSliceFlag{Name: "env", Aliases: []string{"e"}, Usage: "build-time env var KEY=VALUE, or KEY to copy it from this environment (repeatable)"},
			&cli.StringSliceFlag{Name: "env-file", Usage: "file of KEY=VALUE lines (repeatable)"},
			&cli.StringFlag{Name: "run-image", Usage: "run image to use instead of the builder's"},
			&cli.StringFlag{Name: "default-process", Aliases: []string{"D"}, Usage: "process type the image starts by default"},
			&cli.BoolFlag{Name: "publish", Usage: "push the image to its registry (with its run image, when that is only local: see --run-image-repo)"},
			&cli.StringFlag{Name: "run-image-repo", Usage: "with --publish, where a run image that is only local (kiln's store, oci:, docker-archive:) is pushed and recorded; default: REGISTRY/PARENT/run beside the app REGISTRY/PARENT/NAME"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write the image to oci:DIR or docker-archive:FILE instead of the local store"},
			&cli.StringFlag{Name: "runtime", Value: "runc", Usage: "OCI runtime for the build container (runc, crun, runsc)", EnvVars: []string{"KILN_RUNTIME"}},
			&cli.StringFlag{Name: "cache-image", Usage: "keep the layer cache in this registry image instead of the local cache dir"},
			&cli.BoolFlag{Name: "clear-cache", Usage: "empty the app's layer cache before building"},
			&cli.StringSliceFlag{Name: "ca-cert", Usage: "extra PEM CA certificates the build trusts, besides the host's (repeatable)"},
			&cli.StringFlag{Name: "network", Value: sandbox.NetworkSlirp, Usage: "the build containers' network: slirp (own namespace, outbound only: nothing on this host is reachable), host (share this host's network: an explicit opt-out) or none", EnvVars: []string{"KILN_NETWORK"}},
			&cli.Int64Flag{Name: "pids-limit", Value: sandbox.DefaultPidsLimit, Usage: "most processes and threads in a build container (-1: no limit)"},
			&cli.StringFlag{Name: "memory", Aliases: []string{"m"}, Value: units.BytesSize(float64(sandbox.DefaultMemory())), Usage: "memory cap of a build container, e.g. 4g (-1: no limit)"},
			&cli.Float64Flag{Name: "cpus", Usage: "CPU cap of a build container in CPUs, e.g. 1.5 (0: no cap)"},
			&cli.DurationFlag{Name: "timeout", Usage: "stop a build that runs longer, e.g. 30m (0: no limit)", EnvVars: []string{"KILN_BUILD_TIMEOUT"}},
			signKeyFlag,
			buildPlatformFlag,
			&cli.StringFlag{Name: "report", Usage: "write a JSON report of the build to FILE when it ends: the image and digest, or the failing phase, exit code and message; and each phase's start and duration"},
		},
		Action: runBuild,
	}
	cmd.Flags = append(cmd.Flags, packBuildFlags()...)
	return cmd
}

func runBuild(c *cli.Context) (err error) {
	timer := create.NewPhaseTimer(create.NewTextLog(buildOutput(c)))
	var res *create.Result
	if p := c.String("report"); p != "" {
		defer func() {
			if werr := writeReport(p, c, res, err, timer); werr != nil && err == nil {
				err = werr
			}
		}()
	}
	if c.NArg() != 1 {
		return usageError("build: give exactly one image NAME")
	}
	name, err := imageio.NormalizeName(c.Args().First())
	if err != nil {
		return usageError("build: %v", err)
	}
	var out imageio.Location
	switch {
	case c.Bool("publish") && c.String("output") != "":
		return usageError("build: --publish and --output exclude each other")
	case c.String("run-image-repo") != "" && !c.Bool("publish"):
		return usageError("build: --run-image-repo needs --publish")
	case c.Bool("publish"):
		out = imageio.Location{Kind: imageio.Registry, Name: name}
	case c.String("output") != "":
		if out, err = imageio.ParseOutput(c.String("output"), name); err != nil {
			return usageError("build: %v", err)
		}
	default:
		out = imageio.Location{Kind: imageio.Store, Name: name}
	}
	env, err := platformEnv(c.StringSlice("env-file"), c.StringSlice("env"))
	if err != nil {
		return usageError("build: %v", err)
	}
	src, err := filepath.Abs(c.String("path"))
	if err != nil {
		return err
	}
	iioOpts := []imageio.Option{imageio.WithInsecureRegistries(c.StringSlice("insecure-registry")...)}
	if c.Bool("quiet") {
		iioOpts = append(iioOpts, imageio.WithProgress(nil))
	}
	iio, cache, err := setup(iioOpts...)
	if err != nil {
		return err
	}
	self, err := selfBinary()
	if err != nil {
		return err
	}
	launcher, err := loadLauncher()
	if err != nil {
		return err
	}
	iso, err := isolation(c)
	if err != nil {
		return usageError("build: %v", err)
	}
	signing, err := newBuildSigning(c)
	if err != nil {
		return err
	}
	opts := create.Options{
		Isolation:           iso,
		Name:                name,
		Output:              out,
		SourceDir:           src,
		Builder:             c.String("builder"),
		RunImage:            c.String("run-image"),
		ListedRunImagesOnly: c.Bool(untrustedSourceFlag.Name),
		RunImageRepo:        c.String("run-image-repo"),
		Buildpacks:          c.StringSlice("buildpack"),
		Env:                 env,
		DefaultProcess:      c.String("default-process"),
		Runtime:             c.String("runtime"),
		CACerts:             c.StringSlice("ca-cert"),
		ClearCache:          c.Bool("clear-cache"),
		CacheImage:          c.String("cache-image"),
		KilnBinary:          self,
		Launcher:            launcher,
		LauncherVersion:     version,
		CacheDir:            cache,
		Log:                 timer,
	}
	if err := applyPackFlags(c, &opts); err != nil {
		return err
	}
	cleanProject, err := buildProject(c, &opts, cache)
	defer cleanProject()
	if err != nil {
		return err
	}
	opts.PreBuildpacks = append(opts.PreBuildpacks, c.StringSlice("pre-buildpack")...)
	opts.PostBuildpacks = append(opts.PostBuildpacks, c.StringSlice("post-buildpack")...)
	plats, err := buildPlatforms(c)
	if err != nil {
		return err
	}
	if plats == nil {
		res, err = create.Run(c.Context, iio, opts)
	} else {
		res, err = runPlatformBuilds(c, iio, opts, plats)
	}
	autoPrune(c.Context, cache, out, c.App.Writer) // bounded disk, whatever the outcome
	if err = signing.afterBuild(c, iio, res, err, src, env); err != nil {
		return err
	}
	tags, err := writeTags(c, iio, res)
	if err != nil {
		return err
	}
	if dir := c.String("sbom-output-dir"); dir != "" {
		if err := writeSBOMDir(c, iio, dir, res); err != nil {
			return err
		}
	}
	if dir := c.String("report-output-dir"); dir != "" {
		if err := writeReportTOML(dir, res, tags); err != nil {
			return err
		}
	}
	if c.Bool("verbose") {
		for _, p := range timer.Phases() {
			fmt.Fprintf(c.App.Writer, "phase %s took %s\n", p.Name, p.Duration)
		}
	}
	fmt.Fprintf(c.App.Writer, "Successfully built %s\n%s\n", name, res.Digest)
	for _, t := range tags {
		fmt.Fprintf(c.App.Writer, "Tagged %s\n", t)
	}
	return nil
}

// buildReport is what --report writes: the outcome of a build and its
// phases' timings, for programs (kiln serve) that run kiln build.
type buildReport struct {
	Image    string             `json:"image,omitempty"`
	Digest   string             `json:"digest,omitempty"`
	Phase    string             `json:"phase,omitempty"`
	ExitCode int                `json:"exit_code"`
	Message  string             `json:"message,omitempty"`
	Phases   []create.PhaseTime `json:"phases"`
}

// writeReport writes the report of a build that returned res and err to
// p (replacing it whole).
func writeReport(p string, c *cli.Context, res *create.Result, err error, timer *create.PhaseTimer) error {
	r := buildReport{Phases: timer.Phases()}
	if res != nil && err == nil {
		r.Image, r.Digest = res.Output.Name, res.Digest.String()
	}
	return writeReportFile(p, c, r, err)
}

// writeReportFile completes r with err's exit code, phase and message and
// writes it to p (replacing it whole).
func writeReportFile(p string, c *cli.Context, r buildReport, err error) error {
	if err != nil {
		r.Image, r.Digest = "", ""
		r.ExitCode = exitCode(err)
		if c.Context.Err() != nil {
			r.ExitCode = failure.Interrupted
		}
		r.Message = err.Error()
		var fe *failure.Error
		if errors.As(err, &fe) {
			r.Phase, r.Message = fe.Phase, fe.Err.Error()
		}
	}
	if r.Phases == nil {
		r.Phases = []create.PhaseTime{}
	}
	data, merr := json.MarshalIndent(r, "", "  ")
	if merr != nil {
		return merr
	}
	tmp := p + ".tmp"
	if werr := os.WriteFile(tmp, append(data, '\n'), 0o644); werr != nil {
		return fmt.Errorf("writing the report: %w", werr)
	}
	if rerr := os.Rename(tmp, p); rerr != nil {
		return fmt.Errorf("writing the report: %w", rerr)
	}
	return nil
}

// setup opens the local store and finds the cache dir.
func setup(opts ...imageio.Option) (*imageio.IO, string, error) {
	store, err := openStore()
	if err != nil {
		return nil, "", err
	}
	cache, err := cacheDir()
	if err != nil {
		return nil, "", err
	}
	// pushes show their progress on a terminal (nothing when piped)
	return imageio.New(store, append([]imageio.Option{imageio.WithProgress(os.Stderr)}, opts...)...), cache, nil
}

// platformEnv merges --env-file files and --env flags (flags win) into
// KEY=VALUE pairs. A bare KEY copies the value from kiln's environment.
func platformEnv(files, flags []string) ([]string, error) {
	vals := map[string]string{}
	var order []string
	set := func(k, v string) {
		if _, ok := vals[k]; !ok {
			order = append(order, k)
		}
		vals[k] = v
	}
	parse := func(kv, where string) error {
		k, v, ok := strings.Cut(kv, "=")
		if k == "" || strings.ContainsAny(k, "/ \t") {
			return fmt.Errorf("%s: %q is not KEY=VALUE", where, kv)
		}
		if !ok {
			v, ok = os.LookupEnv(k)
			if !ok {
				return fmt.Errorf("%s: %s is not set in this environment", where, k)
			}
		}
		set(k, v)
		return nil
	}
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return nil, fmt.Errorf("reading env file: %w", err)
		}
		sc := bufio.NewScanner(fh)
		for n := 1; sc.Scan(); n++ {
			line := strings.TrimSpace(sc.Text())
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			if err := parse(line, fmt.Sprintf("%s:%d", f, n)); err != nil {
				fh.Close()
				return nil, err
			}
		}
		fh.Close()
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("reading env file %s: %w", f, err)
		}
	}
	for _, kv := range flags {
		if err := parse(kv, "--env"); err != nil {
			return nil, err
		}
	}
	out := make([]string, 0, len(order))
	for _, k := range order {
		out = append(out, k+"="+vals[k])
	}
	return out, nil
}

// isolation reads the sandbox flags: --network, --pids-limit, --memory,
// --cpus and --timeout.
func isolation(c *cli.Context) (create.Isolation, error) {
	iso := create.Isolation{Network: c.String("network"), Timeout: c.Duration("timeout")}
	switch iso.Network {
	case sandbox.NetworkSlirp, sandbox.NetworkHost, sandbox.NetworkNone:
	default:
		return iso, fmt.Errorf("--network %q: want slirp, host or none", iso.Network)
	}
	if iso.Timeout < 0 {
		return iso, fmt.Errorf("--timeout %s: must not be negative", iso.Timeout)
	}
	iso.PidsLimit = c.Int64("pids-limit")
	if iso.PidsLimit == 0 {
		return iso, errors.New("--pids-limit 0: give a positive number, or -1 for no limit")
	}
	switch m := strings.TrimSpace(c.String("memory")); m {
	case "-1":
		iso.Memory = -1
	default:
		n, err := units.RAMInBytes(m)
		if err != nil || n <= 0 {
			return iso, fmt.Errorf("--memory %q: want a size such as 512m or 4g, or -1 for no limit", m)
		}
		if n < 6<<20 {
			return iso, fmt.Errorf("--memory %s: a build needs at least 6 MiB", m)
		}
		iso.Memory = n
	}
	if iso.CPUs = c.Float64("cpus"); iso.CPUs < 0 {
		return iso, fmt.Errorf("--cpus %g: must not be negative", iso.CPUs)
	}
	return iso, nil
}
