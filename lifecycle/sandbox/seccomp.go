package sandbox

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// seccompJSON is kiln's seccomp profile: an allowlist of the system calls
// ordinary programs make (see README.md).
//
//go:embed seccomp.json
var seccompJSON []byte

// seccompProfile is the file format of seccomp.json: the OCI LinuxSeccomp
// shape with the architectures listed per Go architecture and a comment on
// every rule.
type seccompProfile struct {
	Comment         string                   `json:"comment"`
	DefaultAction   specs.LinuxSeccompAction `json:"defaultAction"`
	DefaultErrnoRet *uint                    `json:"defaultErrnoRet"`
	Architectures   map[string][]specs.Arch  `json:"architectures"`
	Syscalls        []seccompRule            `json:"syscalls"`
}

type seccompRule struct {
	Comment  string                   `json:"comment"`
	Names    []string                 `json:"names"`
	Action   specs.LinuxSeccompAction `json:"action"`
	ErrnoRet *uint                    `json:"errnoRet"`
	Args     []specs.LinuxSeccompArg  `json:"args"`
}

// Actions and operators a profile may use: the ones every runtime knows.
var (
	seccompActions = []specs.LinuxSeccompAction{specs.ActAllow, specs.ActErrno, specs.ActKillProcess, specs.ActKillThread, specs.ActKill, specs.ActLog}
	seccompOps     = []specs.LinuxSeccompOperator{
		specs.OpNotEqual, specs.OpLessThan, specs.OpLessEqual, specs.OpEqualTo,
		specs.OpGreaterEqual, specs.OpGreaterThan, specs.OpMaskedEqual,
	}
)

// parseSeccomp decodes and checks a profile.
func parseSeccomp(data []byte) (*seccompProfile, error) {
	var p seccompProfile
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("decoding seccomp profile: %w", err)
	}
	if !slices.Contains(seccompActions, p.DefaultAction) {
		return nil, fmt.Errorf("seccomp profile: unknown default action %q", p.DefaultAction)
	}
	if len(p.Architectures) == 0 {
		return nil, errors.New("seccomp profile: no architectures")
	}
	for i, r := range p.Syscalls {
		if len(r.Names) == 0 {
			return nil, fmt.Errorf("seccomp profile: rule %d names no system call", i)
		}
		if !slices.Contains(seccompActions, r.Action) {
			return nil, fmt.Errorf("seccomp profile: rule %d (%s): unknown action %q", i, r.Names[0], r.Action)
		}
		for _, a := range r.Args {
			if !slices.Contains(seccompOps, a.Op) || a.Index > 5 {
				return nil, fmt.Errorf("seccomp profile: rule %d (%s): bad argument condition %+v", i, r.Names[0], a)
			}
		}
	}
	return &p, nil
}

// spec turns the profile into the runtime spec's form for goarch.
func (p *seccompProfile) spec(goarch string) (*specs.LinuxSeccomp, error) {
	arches, ok := p.Architectures[goarch]
	if !ok {
		return nil, fmt.Errorf("the seccomp profile has no rules for architecture %s", goarch)
	}
	s := &specs.LinuxSeccomp{
		DefaultAction:   p.DefaultAction,
		DefaultErrnoRet: p.DefaultErrnoRet,
		Architectures:   slices.Clone(arches),
	}
	for _, r := range p.Syscalls {
		s.Syscalls = append(s.Syscalls, specs.LinuxSyscall{
			Names:    slices.Clone(r.Names),
			Action:   r.Action,
			ErrnoRet: r.ErrnoRet,
			Args:     slices.Clone(r.Args),
		})
	}
	return s, nil
}

var embeddedSeccomp = sync.OnceValues(func() (*seccompProfile, error) {
	return parseSeccomp(seccompJSON)
})

// hostSeccomp is kiln's seccomp filter for the architecture kiln runs on,
// made once and shared, read-only, by every run's spec.
var hostSeccomp = sync.OnceValues(func() (*specs.LinuxSeccomp, error) {
	return seccompSpec(runtime.GOARCH)
})

// seccompSpec returns kiln's seccomp filter for goarch.
func seccompSpec(goarch string) (*specs.LinuxSeccomp, error) {
	p, err := embeddedSeccomp()
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	s, err := p.spec(goarch)
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	return s, nil
}
