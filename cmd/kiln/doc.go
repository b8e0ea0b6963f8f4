// Command kiln builds OCI images from source with Cloud Native Buildpacks,
// without a Docker daemon.
//
//	kiln build NAME --builder REF [--path DIR] ...   build an app image
//	kiln images                                      list the local store
//	kiln run NAME [-- ARGS]                          run an image in runc
//
// Each command lives in a file of its own and turns its flags into options
// of the lifecycle packages. The hidden "phase" command is what kiln runs
// inside the build container to drive detect and build.
//
// The first ^C (SIGINT) or SIGTERM cancels the command's context: the build
// kills and deletes its containers, removes its work dir, releases the
// cache and writes nothing, and kiln exits 130 saying it was interrupted. A
// second one quits at once, leaving the containers' supervisors to kill
// them and the next build to clear the rest.
package main
