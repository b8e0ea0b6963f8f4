package sandbox

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strings"
)

// runtimeErrors picks the error messages out of a runtime's log written with
// --log-format=json: one JSON object per line with "level" and "msg" (runc,
// crun). Entries at error, fatal or panic level count; lines that are not JSON
// objects are kept as they are, since some runtimes write plain text before
// their logger is set up.
func runtimeErrors(log []byte) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(log))
	sc.Buffer(make([]byte, 0, 64*1024), 4<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var e struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
		}
		if !strings.HasPrefix(line, "{") || json.Unmarshal([]byte(line), &e) != nil {
			out = append(out, line)
			continue
		}
		switch strings.ToLower(e.Level) {
		case "error", "fatal", "panic":
			if msg := strings.TrimSpace(e.Msg); msg != "" {
				out = append(out, msg)
			}
		}
	}
	return out
}
