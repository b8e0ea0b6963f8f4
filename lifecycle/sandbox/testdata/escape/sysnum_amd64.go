package main

import "syscall"

// System call numbers the syscall package lacks.
const (
	sysSetns          = 308
	sysBpf            = 321
	sysUserfaultfd    = 323
	sysOpenByHandleAt = 304
	sysNameToHandleAt = 303
	sysIoUringSetup   = 425
	sysOpenTree       = 428
	sysFsopen         = 430
	sysClone3         = 435
	sysIopl           = 172
	sysIoperm         = 173
)

func archAttempts(raw func(uintptr, ...uintptr) func() syscall.Errno) []attempt {
	return []attempt{
		{"iopl", raw(sysIopl, 0)},
		{"ioperm", raw(sysIoperm, 0x80, 1, 0)},
	}
}
