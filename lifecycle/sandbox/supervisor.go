package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// supervisorArg0 is the argv[0] by which a re-executed copy of the program
// knows it is to supervise one container.
const supervisorArg0 = "kiln-sandbox-supervisor"

// File descriptors the supervisor gets besides stdio.
const (
	resultFD = 3 // the supervisor writes its supervisorResult here
	syncFD   = 4 // rootless: one byte arrives once the id maps are written
)

// prSetChildSubreaper is PR_SET_CHILD_SUBREAPER from <linux/prctl.h>.
const prSetChildSubreaper = 36

// prSetPdeathsig is PR_SET_PDEATHSIG from <linux/prctl.h>.
const prSetPdeathsig = 1

// supervised records that the program called Supervise, without which the
// re-executed copy Run starts would run the program's main instead.
var supervised atomic.Bool

// Supervise makes the program able to Run containers. Every Run re-executes
// the program through /proc/self/exe as a supervisor of one container; in
// that copy Supervise runs the supervisor and exits, never returning. In
// every other process it returns at once. Call it first thing in main (and
// in TestMain of tests that Run containers), before flags are parsed or
// anything else starts; Run refuses to start a container until it has been
// called.
func Supervise() {
	supervised.Store(true)
	if len(os.Args) == 2 && os.Args[0] == supervisorArg0 {
		parentPid = os.Getppid()
		os.Exit(superviseMain(os.Args[1]))
	}
}

// errNotSupervised is Run's error when the program never called Supervise.
var errNotSupervised = errors.New("sandbox: the program did not call sandbox.Supervise at the start of main (or TestMain), so it cannot supervise a container")

// parentPid is the pid of the process that started the supervisor.
var parentPid int

// supervisorParams tell the supervisor which container to run.
type supervisorParams struct {
	Runtime  string   // absolute path of the runtime
	Global   []string // global flags: --root, --log, --log-format
	ID       string
	Bundle   string
	PidFile  string
	Rootless bool // wait for the id maps on syncFD, then become root in the namespace
	// Slirp is the path of slirp4netns when the container's network
	// namespace is to be connected through it (NetworkSlirp), else "".
	Slirp string
	// Binds are made in the supervisor's own mount namespace before the
	// runtime starts (see stage).
	Binds []bind
	// StageLock is the lock file of the binds' staging directory, which
	// the supervisor holds until it exits.
	StageLock string
}

// errCancelled reports that the supervisor was told to stop while it was
// starting the container.
var errCancelled = errors.New("cancelled")

// supervisorResult is what the supervisor reports back.
type supervisorResult struct {
	Started   bool   // the process was started
	ExitCode  int    // its exit status, when it exited
	Signal    int    // the signal that ended it, if one did
	Cancelled bool   // the supervisor was told to stop and killed the container
	Error     string // a sandbox failure: the step and what went wrong
	Cleanup   string // the container's state could not be deleted
}

// superviseMain is the supervisor process: it runs the container with the
// runtime detached, so the process inherits the stdio pipes Run prepared
// instead of pipes the runtime would make (and give to the container's root),
// then reaps it as a child subreaper, deletes it, and reports.
func superviseMain(arg string) int {
	syscall.CloseOnExec(resultFD)
	out := os.NewFile(resultFD, "result")
	var p supervisorParams
	var res supervisorResult
	if err := json.Unmarshal([]byte(arg), &p); err != nil {
		res.Error = fmt.Sprintf("decoding supervisor parameters: %v", err)
	} else {
		res = supervise(p)
	}
	if err := json.NewEncoder(out).Encode(res); err != nil {
		return 1
	}
	return 0
}

func supervise(p supervisorParams) (res supervisorResult) {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)

	if p.Rootless {
		if err := awaitIDMaps(); err != nil {
			res.Error = err.Error()
			return res
		}
	}
	if p.StageLock != "" {
		if err := holdStageLock(p.StageLock); err != nil {
			res.Error = err.Error()
			return res
		}
	}
	if err := mountBinds(p.Binds); err != nil {
		res.Error = err.Error()
		return res
	}
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		res.Error = fmt.Sprintf("becoming child subreaper: %v", errno)
		return res
	}
	select {
	case <-sigs:
		res.Cancelled = true
		return res
	default:
	}

	pid, stopNet, err := p.start(sigs)
	if err != nil {
		if errors.Is(err, errCancelled) {
			res.Cancelled = true
		} else {
			res.Error = err.Error()
		}
		if pid > 0 {
			killAndReap(pid)
		}
		res.Cleanup = p.delete()
		return res
	}
	res.Started = true
	return p.wait(pid, sigs, stopNet, res)
}

// start starts the container's process and returns its pid and a function
// that stops what serves its network. On failure, a pid above 0 is a created
// container's process the caller must kill.
func (p supervisorParams) start(sigs <-chan os.Signal) (pid int, stopNet func(), err error) {
	if p.Slirp == "" {
		pid, err = p.runDetached()
		return pid, func() {}, err
	}
	return p.startWithSlirp(sigs)
}

// runDetached runs the container with the runtime detached, so the process
// inherits the supervisor's stdio.
func (p supervisorParams) runDetached() (int, error) {
	name := filepath.Base(p.Runtime)
	if err := p.runtimeStdio("run", "--detach", "--bundle", p.Bundle, "--pid-file", p.PidFile, p.ID); err != nil {
		return 0, err
	}
	pid, err := readPidFile(p.PidFile)
	if err != nil {
		_ = p.runtime("kill", p.ID, "KILL")
		time.Sleep(100 * time.Millisecond)
		return 0, fmt.Errorf("%s run: %v", name, err)
	}
	return pid, nil
}

// startWithSlirp creates the container, closes the host's addresses to its
// network namespace, connects that to the outside with slirp4netns, and
// only then starts the process.
func (p supervisorParams) startWithSlirp(sigs <-chan os.Signal) (pid int, stopNet func(), err error) {
	name := filepath.Base(p.Runtime)
	if err := p.runtimeStdio("create", "--bundle", p.Bundle, "--pid-file", p.PidFile, p.ID); err != nil {
		return 0, nil, err
	}
	if pid, err = readPidFile(p.PidFile); err != nil {
		return 0, nil, fmt.Errorf("%s create: %v", name, err)
	}
	// slirp4netns comes up while the host's addresses are closed: the
	// process starts only after both.
	s, err := startSlirp(p.Slirp, pid, p.Bundle)
	if err != nil {
		return pid, nil, err
	}
	if err := blockHostAddrs(pid); err != nil {
		s.stop()
		return pid, nil, err
	}
	if err := s.awaitReady(sigs); err != nil {
		s.stop()
		return pid, nil, err
	}
	if err := p.runtime("start", p.ID); err != nil {
		s.stop()
		return pid, nil, err
	}
	return pid, s.release, nil
}

// wait reaps the container's process, killing the container when told to
// stop, then stops its network and deletes the container, both at once:
// tearing down slirp4netns's tap device takes the kernel tens of ms.
func (p supervisorParams) wait(pid int, sigs <-chan os.Signal, stopNet func(), res supervisorResult) supervisorResult {
	type waited struct {
		ws  syscall.WaitStatus
		err error
	}
	done := make(chan waited, 1)
	go func() {
		// The process was re-parented to us when the detached runtime
		// exited; being unreaped, its pid cannot be reused meanwhile.
		var ws syscall.WaitStatus
		for {
			_, err := syscall.Wait4(pid, &ws, 0, nil)
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			done <- waited{ws, err}
			return
		}
	}()
	var retry <-chan time.Time
	for {
		select {
		case <-sigs:
			if !res.Cancelled {
				res.Cancelled = true
				p.kill(pid)
				t := time.NewTicker(500 * time.Millisecond)
				defer t.Stop()
				retry = t.C
			}
		case <-retry:
			p.kill(pid)
		case w := <-done:
			switch {
			case w.err != nil:
				res.Error = fmt.Sprintf("waiting for container process %d: %v", pid, w.err)
			case w.ws.Signaled():
				res.Signal = int(w.ws.Signal())
			default:
				res.ExitCode = w.ws.ExitStatus()
			}
			stopped := make(chan struct{})
			go func() {
				stopNet()
				close(stopped)
			}()
			res.Cleanup = p.delete()
			<-stopped
			return res
		}
	}
}

// killAndReap kills a created container's process, which is the
// supervisor's child, and reaps it, so that deleting the container finds it
// stopped.
func killAndReap(pid int) {
	_ = syscall.Kill(pid, syscall.SIGKILL)
	var ws syscall.WaitStatus
	for {
		if _, err := syscall.Wait4(pid, &ws, 0, nil); !errors.Is(err, syscall.EINTR) {
			return
		}
	}
}

// awaitIDMaps waits until Run has written the user namespace's id maps, then
// makes the supervisor root in it, so the runtime runs as the namespace's
// root and may own its state and chown its files.
func awaitIDMaps() error {
	syscall.CloseOnExec(syncFD)
	f := os.NewFile(syncFD, "sync")
	defer f.Close()
	var b [1]byte
	if n, err := f.Read(b[:]); n != 1 {
		return fmt.Errorf("waiting for the user namespace's id maps: %v", err)
	}
	if err := syscall.Setresgid(0, 0, 0); err != nil {
		return fmt.Errorf("becoming gid 0 in the user namespace: %w", err)
	}
	if sg, err := os.ReadFile("/proc/self/setgroups"); err == nil && strings.TrimSpace(string(sg)) == "allow" {
		if err := syscall.Setgroups(nil); err != nil {
			return fmt.Errorf("dropping supplementary groups in the user namespace: %w", err)
		}
	}
	if err := syscall.Setresuid(0, 0, 0); err != nil {
		return fmt.Errorf("becoming uid 0 in the user namespace: %w", err)
	}
	// Changing ids cleared the parent-death signal Run asked for; ask
	// again, and stop if Run is already gone.
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetPdeathsig, uintptr(syscall.SIGTERM), 0); errno != 0 {
		return fmt.Errorf("setting the parent-death signal: %v", errno)
	}
	if os.Getppid() != parentPid {
		return errors.New("the caller exited before the container started")
	}
	return nil
}

// runtime runs one runtime subcommand and returns its failure, if any, with
// what the runtime wrote.
func (p supervisorParams) runtime(args ...string) error {
	var out bytes.Buffer
	if err := p.runtimeCmd(&out, args...); err != nil {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(out.String()))
	}
	return nil
}

// runtimeStdio runs one runtime subcommand with the supervisor's stdio,
// which the container's process inherits.
func (p supervisorParams) runtimeStdio(args ...string) error {
	return p.runtimeCmd(nil, args...)
}

// runtimeCmd runs one runtime subcommand with the global flags. Its stdout
// and stderr go to out, or with a nil out, like its stdin, are the
// supervisor's.
func (p supervisorParams) runtimeCmd(out io.Writer, args ...string) error {
	cmd := exec.Command(p.Runtime, append(slices.Clone(p.Global), args...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if out != nil {
		cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, out, out
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %v", filepath.Base(p.Runtime), args[0], err)
	}
	return nil
}

// kill asks the runtime to kill the container and, should that fail, kills
// the container's init directly; with init gone the kernel kills the rest of
// its pid namespace.
func (p supervisorParams) kill(pid int) {
	if p.runtime("kill", p.ID, "KILL") != nil {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// delete removes the container's state; an already absent container is fine.
func (p supervisorParams) delete() string {
	err := p.runtime("delete", "--force", p.ID)
	if err == nil {
		return ""
	}
	if _, serr := os.Stat(filepath.Join(stateRoot(p.Global), p.ID)); errors.Is(serr, os.ErrNotExist) {
		return ""
	}
	return err.Error()
}

// stateRoot returns the value of --root among the global flags.
func stateRoot(global []string) string {
	for i := 0; i+1 < len(global); i++ {
		if global[i] == "--root" {
			return global[i+1]
		}
	}
	return ""
}

func readPidFile(p string) (int, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return 0, fmt.Errorf("reading pid file %s: %w", p, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("reading pid file %s: bad pid %q", p, strings.TrimSpace(string(b)))
	}
	return pid, nil
}
