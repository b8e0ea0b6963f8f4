package failure

// Exit codes of the launcher (cmd/launcher), in the platform spec's launch
// band 80-89. LaunchError (82) covers failures of launch-time buildpack code
// (exec.d programs).
const (
	LaunchInput     = 80 // metadata.toml or a launch layer could not be read
	LaunchNoProcess = 81 // nothing to run: unknown or ineligible process type, no default, empty command
	LaunchExec      = 83 // the command or its working directory was not found, or exec failed
)
