// Package archive writes reproducible tar layers and extracts untrusted tar
// streams safely.
//
// Writing: a [Tar] collects entries — synthetic ones ([Entry]), a whole host
// directory under a prefix ([Tar.AddDir]) or a chosen subset of one
// ([Tar.AddPaths]) — and [Tar.Write] emits them sorted by name with a fixed
// modification time, caller-given numeric owners, empty user and group names
// and no access or change times, so the same input always gives the same
// bytes. [NewLayer] turns any [Source] into a go-containerregistry v1.Layer
// backed by one temporary compressed file (no uncompressed copy is kept);
// [LayerFromTar] wraps an uncompressed tar whose diffID is already known.
//
// Reading: [Extract] unpacks a tar stream beneath a directory through an
// [os.Root], so no entry name, symlink or hardlink can reach outside it;
// [ExtractImage] applies an image's layers in order, honouring OCI whiteouts.
// [CopyDir] copies a source tree into a build workspace, leaving out symlinks
// that lead outside the tree and special files.
package archive
