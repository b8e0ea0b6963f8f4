package sandbox

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestOutcome(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "runtime.log")
	if err := os.WriteFile(logPath, []byte(`{"level":"error","msg":"runc run failed: boom"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name     string
		res      supervisorResult
		ctx      context.Context
		wantCode int
		wantErr  string
		wantIs   error
	}{
		{name: "exit status", res: supervisorResult{Started: true, ExitCode: 3}, wantCode: 3},
		{name: "signal", res: supervisorResult{Started: true, Signal: 9}, wantCode: 137},
		{name: "runtime failure with its log", res: supervisorResult{Error: "runc run: exit status 1"}, wantCode: -1,
			wantErr: "sandbox: runc run: exit status 1: runc run failed: boom"},
		{name: "cleanup failure keeps the code", res: supervisorResult{Started: true, ExitCode: 0, Cleanup: "runc delete: busy"}, wantCode: 0,
			wantErr: "sandbox: deleting container c: runc delete: busy"},
		{name: "cancelled", res: supervisorResult{Started: true, Cancelled: true}, ctx: cancelled, wantCode: -1, wantIs: context.Canceled},
		{name: "killed from outside", res: supervisorResult{Started: true, Cancelled: true}, wantCode: -1,
			wantErr: "sandbox: container c was killed by a signal to its supervisor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := tt.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			code, err := tt.res.outcome(ctx, "c", logPath)
			if code != tt.wantCode {
				t.Errorf("code = %d, want %d", code, tt.wantCode)
			}
			switch {
			case tt.wantIs != nil:
				if !errors.Is(err, tt.wantIs) {
					t.Errorf("err = %v, want %v", err, tt.wantIs)
				}
			case tt.wantErr != "":
				if err == nil || err.Error() != tt.wantErr {
					t.Errorf("err = %v, want %q", err, tt.wantErr)
				}
			case err != nil:
				t.Errorf("err = %v", err)
			}
		})
	}
}
