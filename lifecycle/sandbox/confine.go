package sandbox

import "context"

// confinement returns the spec mode of a run of container id: as root, the
// user namespace over cfg.IDs (or over a range reserved for this run alone,
// which the returned function releases) and the container's cgroup.
// Rootless, the runtime's own user namespace and, through cfg.Warn, the
// notice that no limits apply.
func confinement(ctx context.Context, cfg *Config, rootless bool, id string) (specMode, func(), error) {
	m := specMode{userNS: rootless || runningInUserNS()}
	noop := func() {}
	if rootless {
		if cfg.Warn != nil {
			cfg.Warn(rootlessLimitsNotice)
		}
		return m, noop, nil
	}
	ids, release := cfg.IDs, noop
	if ids == nil {
		r, err := ReserveIDs(ctx)
		if err != nil {
			return m, noop, err
		}
		ids, release = r, func() { _ = r.Release() }
	}
	if err := ids.check(cfg); err != nil {
		release()
		return m, noop, err
	}
	m.ids = ids
	m.cgroupsPath = cgroupParent + "/" + id
	m.swap = swapLimitable()
	return m, release, nil
}
