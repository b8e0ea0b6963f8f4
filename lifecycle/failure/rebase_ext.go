package failure

// Exit codes of kiln rebase, in the platform spec's rebase band 70-79.
// RebaseError (72) covers reading or writing the images.
const (
	RebaseRefused     = 71 // an unsafe rebase was refused; --force overrides it
	RebaseRunImage    = 73 // no run image could be read (neither --run-image nor the recorded one or a mirror)
	RebaseNotAppImage = 74 // the image lacks the CNB lifecycle label or its run image top layer
)
