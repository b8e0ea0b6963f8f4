// Command launcher starts an app image's processes. kiln copies it into every
// app image at /cnb/lifecycle/launcher and links each process type to it as
// /cnb/process/<type>; the image ENTRYPOINT is one of those links or the
// launcher itself.
//
// It follows the launcher of the CNB Platform API 0.15 (platform.md
// §launcher) for buildpacks of Buildpack API 0.7 to 0.12:
//
//	/cnb/process/<type> [<arg>...]      buildpack process; args replace its args
//	/cnb/lifecycle/launcher             CNB_PROCESS_TYPE (legacy), else the default process
//	/cnb/lifecycle/launcher -- cmd ...  user command, executed directly
//	/cnb/lifecycle/launcher cmd ...     user command, run by bash after profile.d
//
// Before it replaces itself with the process (syscall.Exec, so the app keeps
// the launcher's PID and receives signals itself) it builds the launch
// environment: the image environment, then every buildpack's launch layers
// (bin, lib, env/, env.launch/, env.launch/<type>/), then the exec.d
// programs' output; shell processes also source profile.d scripts and
// <app>/.profile.
//
// Exit codes when the launcher itself fails: 11 unsupported Platform API,
// 12 unsupported Buildpack API, 80 unreadable inputs, 81 no such process,
// 82 an exec.d program failed, 83 the command could not be started.
// Otherwise the exit code is the process's own. The codes live in
// lifecycle/failure (launcher_ext.go).
//
// It must stay small and static and must never import registry code. Build it
// with exactly:
//
//	CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -buildid=" -o launcher ./cmd/launcher
//
// (-buildid= keeps the bytes, and so the launcher layer of every app image,
// the same from build to build.)
package main
