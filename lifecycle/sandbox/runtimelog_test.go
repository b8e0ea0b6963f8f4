package sandbox

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRuntimeErrors(t *testing.T) {
	tests := []struct {
		name string
		log  string
		want []string
	}{{
		name: "runc: warnings dropped, errors kept",
		log: `{"level":"warning","msg":"unable to get oom kill count","time":"2026-01-01T00:00:00Z"}
{"level":"error","msg":"runc run failed: unable to start container process: exec: \"/bin/x\": stat /bin/x: no such file or directory","time":"2026-01-01T00:00:00Z"}
`,
		want: []string{`runc run failed: unable to start container process: exec: "/bin/x": stat /bin/x: no such file or directory`},
	}, {
		name: "fatal and upper case levels",
		log:  `{"level":"FATAL","msg":"boom"}` + "\n" + `{"level":"panic","msg":"  "}`,
		want: []string{"boom"},
	}, {
		name: "plain text kept",
		log:  "\ncrun: cannot open /x\n{broken json\n",
		want: []string{"crun: cannot open /x", "{broken json"},
	}, {
		name: "empty",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, runtimeErrors([]byte(tt.log))); diff != "" {
				t.Errorf("runtimeErrors (-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzRuntimeErrors(f *testing.F) {
	f.Add([]byte(`{"level":"error","msg":"x"}` + "\n"))
	f.Add([]byte("plain\n{\"level\":1}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, m := range runtimeErrors(data) {
			if m == "" {
				t.Error("empty message")
			}
		}
	})
}
