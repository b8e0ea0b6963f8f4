package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kiln-build/kiln/buildpacks/sdk"
)

func TestBuild(t *testing.T) {
	bpDir := t.TempDir()
	os.MkdirAll(filepath.Join(bpDir, "bin"), 0o755)
	os.WriteFile(filepath.Join(bpDir, "bin", "kiln-exec"), []byte("helper"), 0o755)
	tests := []struct {
		name     string
		procfile string
		want     []sdk.Process
		wantLog  string
		wantErr  string
		wantFix  string
	}{
		{
			name:     "web is default",
			procfile: "worker: ./work\nweb: python3 -m http.server ${PORT:-8080}\n",
			want: []sdk.Process{
				{Type: "worker", Command: []string{"./work"}},
				{Type: "web", Command: []string{"LAYERS/exec/bin/kiln-exec", "python3 -m http.server ${PORT:-8080}"}, Default: true},
			},
			wantLog: "Process web (default)",
		},
		{
			name:     "no web",
			procfile: "worker: ./work\n",
			want:     []sdk.Process{{Type: "worker", Command: []string{"./work"}}},
			wantLog:  "no web process",
		},
		{name: "empty", procfile: "# nothing\n", wantErr: "defines no processes", wantFix: "web: ./server"},
		{name: "bad line", procfile: "web python app.py\n", wantErr: "Procfile:1", wantFix: "<type>: <command>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := t.TempDir()
			if err := os.WriteFile(filepath.Join(app, "Procfile"), []byte(tt.procfile), 0o644); err != nil {
				t.Fatal(err)
			}
			var log bytes.Buffer
			layers := t.TempDir()
			bc := &sdk.BuildContext{AppDir: app, LayersDir: layers, Buildpack: sdk.Info{Dir: bpDir}, Log: sdk.NewLogger(&log)}
			err := build(context.Background(), bc)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(sdk.Hint(err), tt.wantFix) {
					t.Fatalf("error %v (fix %q), want %q and fix %q", err, sdk.Hint(err), tt.wantErr, tt.wantFix)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for i := range tt.want {
				for j, a := range tt.want[i].Command {
					tt.want[i].Command[j] = strings.Replace(a, "LAYERS", layers, 1)
				}
			}
			if diff := cmp.Diff(tt.want, bc.Launch.Processes); diff != "" {
				t.Errorf("processes (-want +got):\n%s", diff)
			}
			if !strings.Contains(log.String(), tt.wantLog) {
				t.Errorf("log %q does not contain %q", log.String(), tt.wantLog)
			}
		})
	}
}

func TestDetect(t *testing.T) {
	app := t.TempDir()
	dc := &sdk.DetectContext{AppDir: app, Log: sdk.NewLogger(nil)}
	var df *sdk.DetectFailure
	if _, err := detect(context.Background(), dc); !errors.As(err, &df) {
		t.Errorf("detect without Procfile: %v, want a failure", err)
	}
	if err := os.Mkdir(filepath.Join(app, "Procfile"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := detect(context.Background(), dc); !errors.As(err, &df) {
		t.Errorf("detect with a Procfile directory: %v, want a failure", err)
	}
	app2 := t.TempDir()
	if err := os.WriteFile(filepath.Join(app2, "Procfile"), []byte("web: x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	plan, err := detect(context.Background(), &sdk.DetectContext{AppDir: app2, Log: sdk.NewLogger(nil)})
	if err != nil || !plan.Empty() {
		t.Errorf("detect with Procfile = %+v, %v; want a pass with an empty plan", plan, err)
	}
}
