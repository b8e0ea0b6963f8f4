package descriptor

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"github.com/BurntSushi/toml"

	"github.com/kiln-build/kiln/internal/beneath"
)

// decodeTOML decodes data into v. name (usually the file path) starts every
// error, followed by the line when the decoder knows it.
func decodeTOML(name string, data []byte, v any) (toml.MetaData, error) {
	md, err := toml.Decode(string(data), v)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) && pe.Position.Line > 0 {
			line := pe.Position.Line
			if st := pe.Position.Start; st >= 0 && st <= len(data) {
				// the decoder counts a newline that ends the bad token
				// as the next line; the offset is exact
				line = 1 + bytes.Count(data[:st], []byte("\n"))
			}
			return md, fmt.Errorf("parsing %s: line %d: %s", name, line, pe.Message)
		}
		return md, fmt.Errorf("parsing %s: %w", name, err)
	}
	return md, nil
}

// DecodeTOML decodes data into v as ReadTOMLFile does, naming name in
// errors: for files read by other means (see internal/beneath).
func DecodeTOML(name string, data []byte, v any) (toml.MetaData, error) {
	return decodeTOML(name, data, v)
}

// ReadTOMLFile decodes the TOML file at path into v. Errors name path, and
// the line of a syntax error; a missing file is an error wrapping
// fs.ErrNotExist. The launch package reads its files with it too.
func ReadTOMLFile(path string, v any) (toml.MetaData, error) {
	data, err := readFile(path)
	if err != nil {
		return toml.MetaData{}, err
	}
	return decodeTOML(path, data, v)
}

// MaxTOMLSize bounds every TOML file kiln reads: many times what any real
// descriptor, plan or layer metadata holds.
const MaxTOMLSize = 4 << 20

// readFile reads the regular file path, naming it in the error. It does not
// block on a FIFO and refuses files over MaxTOMLSize.
func readFile(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("reading %s: %s, not a regular file", path, beneath.Kind(fi.Mode()))
	}
	if fi.Size() > MaxTOMLSize {
		return nil, fmt.Errorf("reading %s: %d bytes is more than the %d kiln reads of a TOML file", path, fi.Size(), MaxTOMLSize)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxTOMLSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if len(data) > MaxTOMLSize {
		return nil, fmt.Errorf("reading %s: more than the %d bytes kiln reads of a TOML file", path, MaxTOMLSize)
	}
	return data, nil
}

// encodeTOML encodes v as TOML.
func encodeTOML(v any) ([]byte, error) {
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// WriteTOMLFile encodes v and writes it to path through a temporary file in
// the same directory, so the file is either the old or the new content.
func WriteTOMLFile(path string, v any) error {
	data, err := encodeTOML(v)
	if err != nil {
		return fmt.Errorf("encoding %s: %w", path, err)
	}
	return writeFileAtomic(path, data)
}

func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName) // no-op after a successful rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmpName, path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
