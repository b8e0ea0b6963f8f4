package detect

import "time"

func sleepShort() { time.Sleep(10 * time.Millisecond) }
