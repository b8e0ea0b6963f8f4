package labels

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// A lifecycle metadata label as the CNB lifecycle writes it must decode and
// encode back to the same JSON keys.
func TestLifecycleShape(t *testing.T) {
	in := `{"app":[{"sha":"sha256:a"}],"sbom":{"sha":"sha256:s"},"config":{"sha":"sha256:c"},` +
		`"launcher":{"sha":"sha256:l"},"buildpacks":[{"key":"acme/go","version":"1.0",` +
		`"layers":{"bin":{"sha":"sha256:b","data":{"k":"v"},"build":false,"launch":true,"cache":true}},` +
		`"store":{"metadata":{"n":1}}}],` +
		`"runImage":{"image":"run:1","mirrors":["m/run:1"],"topLayer":"sha256:t","reference":"run@sha256:r"}}`
	var md Lifecycle
	cfg := &v1.ConfigFile{Config: v1.Config{Labels: map[string]string{LifecycleMetadata: in}}}
	ok, err := Decode(cfg, LifecycleMetadata, &md)
	if !ok || err != nil {
		t.Fatalf("Decode = %v, %v", ok, err)
	}
	out, err := Encode(md)
	if err != nil {
		t.Fatal(err)
	}
	var a, b any
	json.Unmarshal([]byte(in), &a)
	json.Unmarshal([]byte(out), &b)
	if d := cmp.Diff(a, b); d != "" {
		t.Errorf("round trip (-in +out):\n%s", d)
	}
}

func TestDecodeMissingAndBad(t *testing.T) {
	cfg := &v1.ConfigFile{Config: v1.Config{Labels: map[string]string{BuildMetadata: "{"}}}
	var b Build
	if ok, err := Decode(cfg, ProjectMetadata, &b); ok || err != nil {
		t.Errorf("missing label: %v, %v", ok, err)
	}
	if ok, err := Decode(cfg, BuildMetadata, &b); !ok || err == nil {
		t.Errorf("bad label: %v, %v", ok, err)
	}
}
