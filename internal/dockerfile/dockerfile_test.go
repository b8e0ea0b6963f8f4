package dockerfile

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		kind    Kind
		in      string
		want    Info
		wantErr string
	}{
		{name: "switch", kind: Run, in: "ARG base_image\nFROM localhost:5000/run:tiny\n", want: Info{From: "localhost:5000/run:tiny"}},
		{name: "switch without ARG", kind: Run, in: "FROM registry.example/run@sha256:" + strings.Repeat("a", 64) + "\n", want: Info{From: "registry.example/run@sha256:" + strings.Repeat("a", 64)}},
		{name: "keep", kind: Run, in: "ARG base_image\nFROM ${base_image}\n", want: Info{}},
		{name: "keep, short form", kind: Run, in: "ARG base_image\nFROM $base_image\n", want: Info{}},
		{name: "keep with a stage name", kind: Run, in: "ARG base_image\nFROM ${base_image} AS run\n", want: Info{}},
		{name: "lower case, comments and continuation", kind: Run, in: "# syntax comment\narg base_image\nfrom \\\n  example.com/run:1 as x\n", want: Info{From: "example.com/run:1"}},
		{name: "ARG default expands", kind: Run, in: "ARG base_image\nARG tag=1.2\nARG repo=\"example.com/run\"\nFROM ${repo}:${tag}\n", want: Info{From: "example.com/run:1.2"}},
		{name: "ARG after FROM changes nothing", kind: Run, in: "FROM x/run\nARG build_id=0\n", want: Info{From: "x/run"}},
		{name: "instructions to apply", kind: Run, in: "ARG base_image\nFROM ${base_image}\nUSER root\nRUN apt-get update && \\\n  apt-get install -y curl\nCOPY a /b\nLABEL io.buildpacks.rebasable=true\n",
			want: Info{Apply: []Instruction{{"USER", 3}, {"RUN", 4}, {"COPY", 6}, {"LABEL", 7}}}},
		{name: "heredoc RUN", kind: Run, in: "FROM x/run\nRUN <<EOF\necho hi\nEOF\n", want: Info{From: "x/run", Apply: []Instruction{{"RUN", 2}}}},
		{name: "build keep", kind: Build, in: "ARG base_image\nFROM ${base_image}\n", want: Info{}},
		{name: "build with RUN", kind: Build, in: "ARG base_image\nFROM ${base_image}\nARG build_id=0\nRUN echo ${build_id}\n", want: Info{Apply: []Instruction{{"RUN", 4}}}},
		{name: "build switching", kind: Build, in: "FROM other/image\n", wantErr: "must begin with ARG base_image and FROM ${base_image}"},
		{name: "build without ARG", kind: Build, in: "FROM ${base_image}\n", wantErr: "must begin with ARG base_image"},
		{name: "empty", kind: Run, in: "", wantErr: "file with no instructions"},
		{name: "only ARG", kind: Run, in: "ARG base_image\n", wantErr: "run.Dockerfile: no FROM instruction"},
		{name: "two stages", kind: Run, in: "FROM a\nFROM b\n", wantErr: "line 2: a second FROM"},
		{name: "instruction before FROM", kind: Run, in: "RUN x\nFROM a\n", wantErr: "line 1: RUN before FROM"},
		{name: "platform flag", kind: Run, in: "FROM --platform=linux/arm64 a\n", wantErr: "line 1: FROM --platform=linux/arm64: kiln does not take FROM flags"},
		{name: "unknown variable", kind: Run, in: "FROM ${repo}/run\n", wantErr: "line 1: FROM ${repo}/run: variable repo has no value here"},
		{name: "base_image combined", kind: Run, in: "ARG base_image\nFROM ${base_image}-slim\n", wantErr: "variable base_image has no value here"},
		{name: "from without image", kind: Run, in: "FROM\n", wantErr: "line 1"},
		{name: "extra FROM words", kind: Run, in: "FROM a b c\n", wantErr: "want FROM <image> [AS <name>]"},
		{name: "ARG without name", kind: Run, in: "ARG =x\nFROM a\n", wantErr: "names no argument"},
		{name: "too large", kind: Run, in: "FROM a\n" + strings.Repeat("#", MaxSize), wantErr: "more than the 1048576 kiln reads"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.kind, []byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestChoose(t *testing.T) {
	const (
		keep    = "ARG base_image\nFROM ${base_image}\n"
		toA     = "ARG base_image\nFROM example.com/run-a\n"
		toB     = "FROM example.com/run-b\n"
		withRUN = "ARG base_image\nFROM ${base_image}\nRUN apt-get install -y curl\n"
		aAndRUN = "FROM example.com/run-a\nRUN true\n"
		buildOK = "ARG base_image\nFROM ${base_image}\n"
	)
	gen := func(ext, run, build string) Generated {
		g := Generated{Extension: ext}
		if run != "" {
			g.Run = []byte(run)
		}
		if build != "" {
			g.Build = []byte(build)
		}
		return g
	}
	tests := []struct {
		name     string
		in       []Generated
		want     Choice
		refusals []string // "ext file" of each refusal
		wantErr  string
	}{
		{name: "nothing generated", in: []Generated{gen("e@1", "", "")}, want: Choice{}},
		{name: "keep", in: []Generated{gen("e@1", keep, "")}, want: Choice{}},
		{name: "switch", in: []Generated{gen("e@1", toA, "")}, want: Choice{RunImage: "example.com/run-a", By: "e@1"}},
		{name: "the last switch wins", in: []Generated{gen("a@1", toA, ""), gen("b@1", toB, ""), gen("k@1", keep, "")},
			want: Choice{RunImage: "example.com/run-b", By: "b@1", Ignored: []string{"a@1"}}},
		{name: "a RUN before a later switch is moot", in: []Generated{gen("r@1", withRUN, ""), gen("b@1", toB, "")},
			want: Choice{RunImage: "example.com/run-b", By: "b@1", Ignored: []string{"r@1"}}},
		{name: "a build.Dockerfile that changes nothing", in: []Generated{gen("e@1", toA, buildOK)}, want: Choice{RunImage: "example.com/run-a", By: "e@1"}},
		{name: "RUN after the switch is refused", in: []Generated{gen("b@1", toB, ""), gen("r@1", withRUN, "")}, refusals: []string{"r@1 run.Dockerfile"}},
		{name: "switch with RUN is refused", in: []Generated{gen("a@1", aAndRUN, "")}, refusals: []string{"a@1 run.Dockerfile"}},
		{name: "build.Dockerfile with RUN is refused", in: []Generated{gen("e@1", "", withRUN), gen("f@1", withRUN, "")}, refusals: []string{"e@1 build.Dockerfile", "f@1 run.Dockerfile"}},
		{name: "a bad Dockerfile names its extension", in: []Generated{gen("e@1", "RUN x\n", "")}, wantErr: "extension e@1: run.Dockerfile: line 1: RUN before FROM"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Choose(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if tc.refusals != nil {
				var re *RefusedError
				if !errors.As(err, &re) {
					t.Fatalf("error = %v, want a *RefusedError", err)
				}
				var names []string
				for _, r := range re.Refusals {
					names = append(names, r.Extension+" "+r.File)
					if !strings.Contains(err.Error(), "extension "+r.Extension+": its "+r.File+" asks for") {
						t.Errorf("message does not name %s's %s:\n%s", r.Extension, r.File, err)
					}
				}
				if diff := cmp.Diff(tc.refusals, names); diff != "" {
					t.Errorf("refusals (-want +got):\n%s", diff)
				}
				if !strings.Contains(err.Error(), "kiln does not apply Dockerfile instructions") {
					t.Errorf("message does not say why:\n%s", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"ARG base_image\nFROM ${base_image}\nRUN x\n",
		"ARG a=b\nFROM ${a}:1 AS x\n",
		"# escape=`\nFROM a\nRUN x `\n  y\n",
		"FROM a\nRUN <<EOF\nhi\nEOF\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, k := range []Kind{Run, Build} {
			info, err := Parse(k, data)
			if err != nil {
				continue
			}
			if k == Build && info.From != "" {
				t.Fatalf("a build.Dockerfile switching to %q parsed", info.From)
			}
			for _, in := range info.Apply {
				if in.Name == "ARG" || in.Name == "FROM" {
					t.Fatalf("%s listed as an instruction to apply", in.Name)
				}
			}
		}
	})
}
