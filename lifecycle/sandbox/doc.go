// Package sandbox runs one process in an OCI container started with a
// runc-compatible runtime (runc, crun, runsc).
//
// It is the isolation kiln puts around buildpack code: the build image's root
// file system is mounted read-only, only the caller's mounts and a fresh /tmp
// are writable, and the process has no capabilities and no new privileges.
// By default ([NetworkSlirp]) it gets its own network namespace with outbound
// access only, through slirp4netns: downloads work, but nothing the host
// serves, on its loopback or any of its addresses, is reachable.
// [NetworkNone] leaves it only loopback; [NetworkHost] shares the host's
// network. The host's certificate authorities are mounted in (see
// [CABundle]) so that TLS works on networks that intercept it. A seccomp
// filter (an allowlist, embedded as seccomp.json) refuses the system calls
// ordinary programs do not need: new namespaces, mounts, keyrings, BPF,
// io_uring and the like.
//
// As root, every container also gets a user namespace mapping container ids
// 0-65535 onto a block of host ids reserved for the build ([ReserveIDs],
// [IDRange], Config.IDs), so no container id is a real host id, and cgroup
// limits on pids, memory and CPU ([Limits]). Rootless runs have no cgroups
// to give; Run says so through Config.Warn.
//
// Run works both as root and rootless. Rootless, it creates a user namespace
// in which the host's effective uid and gid appear as the requested uid and
// gid, so files the process writes to its mounts belong to the calling user
// on the host. The runtime needs a root inside that namespace too, which an
// unprivileged user can only map through a subordinate id range in
// /etc/subuid and /etc/subgid and the setuid helpers newuidmap and newgidmap
// (package uidmap); see the README for why.
//
// Every Run is supervised by a short-lived copy of the calling executable
// (re-executed through /proc/self/exe). A program that calls Run must call
// [Supervise] first thing in main (tests: in TestMain): in that copy it
// runs the supervisor and exits; everywhere else it returns at once.
// Importing the package alone changes nothing in how a program starts.
package sandbox
